/* MMIO and port-I/O dispatch: a small sorted table per address space mapping
 * [base, base+len) to a handler. Registration happens before start (devices
 * init) while vCPUs dispatch concurrently, so lookups take a read lock. */
#include <errno.h>
#include <string.h>

#include "vm.h"

int bus__add(struct bus *bus, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	unsigned int pos;

	if (!len || !fn || base + len - 1 < base)
		return -EINVAL;
	if (bus->nr >= MAX_IO_RANGES)
		return -ENOSPC;
	for (pos = 0; pos < bus->nr; pos++) {
		const struct io_range *r = &bus->ranges[pos];

		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
		if (base < r->base)
			break;
	}
	for (unsigned int i = pos; i < bus->nr; i++)
		if (base < bus->ranges[i].base + bus->ranges[i].len &&
		    bus->ranges[i].base < base + len)
			return -EEXIST;
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nr - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct io_range){ .base = base, .len = len, .fn = fn, .opaque = opaque };
	bus->nr++;
	return 0;
}

/* Returns false when nothing is registered for the whole access. */
bool bus__dispatch(struct vm *vm, struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write)
{
	const struct io_range *hit = NULL;
	unsigned int lo = 0, hi;
	struct io_range r;

	pthread_rwlock_rdlock(&vm->bus_lock);
	hi = bus->nr;
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		const struct io_range *m = &bus->ranges[mid];

		if (addr < m->base) {
			hi = mid;
		} else if (addr - m->base >= m->len) {
			lo = mid + 1;
		} else {
			hit = m;
			break;
		}
	}
	if (hit && len <= hit->len - (addr - hit->base))
		r = *hit;
	else
		hit = NULL;
	pthread_rwlock_unlock(&vm->bus_lock);
	if (!hit)
		return false;
	r.fn(r.opaque, addr - r.base, data, len, is_write);
	return true;
}

int vm__register_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	int rc;

	pthread_rwlock_wrlock(&vm->bus_lock);
	rc = bus__add(&vm->mmio, base, len, fn, opaque);
	pthread_rwlock_unlock(&vm->bus_lock);
	return rc;
}

int vm__register_pio(struct vm *vm, uint16_t base, uint16_t len, io_handler_fn fn, void *opaque)
{
	int rc;

	if ((uint32_t)base + len > 0x10000)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->bus_lock);
	rc = bus__add(&vm->pio, base, len, fn, opaque);
	pthread_rwlock_unlock(&vm->bus_lock);
	return rc;
}
