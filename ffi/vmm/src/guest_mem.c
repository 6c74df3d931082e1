#include "guest_mem.h"

#include <errno.h>
#include <string.h>

static bool range_overflows(uint64_t start, uint64_t len)
{
	return len && start + len - 1 < start;
}

static const struct gm_region *region_of(const struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

int gm__add_region(struct guest_mem *gm, const struct gm_region *region)
{
	if (!region->size || range_overflows(region->gpa, region->size) || !region->host)
		return -EINVAL;
	if (gm->nr_regions >= GM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (region->gpa < r->gpa + r->size && r->gpa < region->gpa + region->size)
			return -EINVAL;
	}
	gm->regions[gm->nr_regions++] = *region;
	return 0;
}

void *gm__ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (range_overflows(gpa, len))
		return NULL;
	const struct gm_region *r = region_of(gm, gpa);
	if (!r)
		return NULL;
	uint64_t off = gpa - r->gpa;
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}

bool gm__range_ok(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (range_overflows(gpa, len))
		return false;
	while (len) {
		const struct gm_region *r = region_of(gm, gpa);
		if (!r)
			return false;
		uint64_t avail = r->size - (gpa - r->gpa);
		uint64_t step = len < avail ? len : avail;
		gpa += step;
		len -= step;
	}
	return true;
}

static int copy(const struct guest_mem *gm, uint64_t gpa, void *buf, uint64_t len, bool to_guest)
{
	if (!gm__range_ok(gm, gpa, len))
		return -EFAULT;
	uint8_t *p = buf;
	while (len) {
		const struct gm_region *r = region_of(gm, gpa);
		uint64_t off = gpa - r->gpa;
		uint64_t avail = r->size - off;
		uint64_t step = len < avail ? len : avail;
		/* SAFETY: [off, off+step) is inside the region, checked above. */
		if (to_guest)
			memcpy(r->host + off, p, step);
		else
			memcpy(p, r->host + off, step);
		gpa += step;
		p += step;
		len -= step;
	}
	return 0;
}

int gm__read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len)
{
	return copy(gm, gpa, dst, len, false);
}

int gm__write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	return copy(gm, gpa, (void *)src, len, true);
}

int gm__gpa_from_user_addr(const struct guest_mem *gm, uint64_t uaddr, uint64_t len,
			   uint64_t *gpa)
{
	if (range_overflows(uaddr, len))
		return -EFAULT;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (!r->user_addr || uaddr < r->user_addr)
			continue;
		uint64_t off = uaddr - r->user_addr;
		if (off < r->size && len <= r->size - off) {
			*gpa = r->gpa + off;
			return 0;
		}
	}
	return -EFAULT;
}
