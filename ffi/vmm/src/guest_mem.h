/* Guest memory: the ONLY way device and loader code reaches guest-physical
 * addresses. Every access is checked for start, length, overflow and region
 * crossing, because the addresses come from an untrusted guest.
 * The same type describes the built-in VMM's memfd-backed RAM and the regions
 * a vhost-user front end (QEMU) hands to joey's back end. */
#ifndef JOEY_GUEST_MEM_H
#define JOEY_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MAX_REGIONS 8

struct gm_region {
	uint64_t gpa;       /* guest-physical start */
	uint64_t size;      /* bytes */
	uint8_t *host;      /* where it is mapped in this process */
	int fd;             /* backing fd (memfd) or -1 */
	uint64_t fd_offset; /* offset of gpa within fd */
	uint64_t user_addr; /* front-end virtual address (vhost-user), else 0 */
};

struct guest_mem {
	unsigned int nr_regions;
	struct gm_region regions[GM_MAX_REGIONS];
};

/* Adds a region; regions must not overlap. Returns 0 or -EINVAL/-ENOSPC. */
int gm__add_region(struct guest_mem *gm, const struct gm_region *region);

/* Host pointer for [gpa, gpa+len) iff the whole range lies inside one region
 * (len 0 allowed); NULL otherwise. Callers must not keep it past teardown. */
void *gm__ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copies across region boundaries; -EFAULT if any byte is outside RAM. */
int gm__read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len);
int gm__write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/* True iff every byte of [gpa, gpa+len) is guest RAM (possibly over several
 * contiguous regions). */
bool gm__range_ok(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* vhost-user rings are given as front-end virtual addresses: translate one
 * to a guest-physical address. Returns 0 and sets *gpa, or -EFAULT. */
int gm__gpa_from_user_addr(const struct guest_mem *gm, uint64_t uaddr, uint64_t len,
			   uint64_t *gpa);

#endif
