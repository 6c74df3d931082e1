/* Writing split-ring descriptors by hand, for the unit tests and fuzzers
 * that play the driver without a VM. */
#ifndef JOEY_RING_UTIL_H
#define JOEY_RING_UTIL_H

#include <stdint.h>
#include <string.h>

#include "guest_mem.h"

static inline void ring_put_desc(const struct guest_mem *gm, uint64_t table, unsigned int i,
				 uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	gm__write(gm, table + 16ull * i, d, 16);
}

#endif
