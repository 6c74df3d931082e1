/* A fake guest for the fuzzers: two RAM regions with a hole between them,
 * so that region crossing and out-of-range addresses are reachable. */
#ifndef JOEY_FUZZ_MEM_H
#define JOEY_FUZZ_MEM_H

#include <stdint.h>
#include <string.h>

#include "guest_mem.h"

#define FZ_LOW_GPA 0x0ull
#define FZ_LOW_SIZE 0x10000ull
#define FZ_HIGH_GPA 0x10000ull /* adjacent: ranges may cross regions */
#define FZ_HIGH_SIZE 0x8000ull
#define FZ_FAR_GPA 0x100000ull /* after a hole */
#define FZ_FAR_SIZE 0x1000ull

static uint8_t fz_low[FZ_LOW_SIZE], fz_high[FZ_HIGH_SIZE], fz_far[FZ_FAR_SIZE];

static inline void fz_mem_init(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
	struct gm_region a = { FZ_LOW_GPA, FZ_LOW_SIZE, fz_low, -1, 0, 0 };
	struct gm_region b = { FZ_HIGH_GPA, FZ_HIGH_SIZE, fz_high, -1, 0, 0 };
	struct gm_region c = { FZ_FAR_GPA, FZ_FAR_SIZE, fz_far, -1, 0, 0 };
	gm__add_region(gm, &a);
	gm__add_region(gm, &b);
	gm__add_region(gm, &c);
}

/* Fills guest RAM from the input, repeating it. */
static inline void fz_mem_fill(const uint8_t *data, size_t size)
{
	uint8_t *areas[] = { fz_low, fz_high, fz_far };
	size_t lens[] = { FZ_LOW_SIZE, FZ_HIGH_SIZE, FZ_FAR_SIZE };
	for (int a = 0; a < 3; a++) {
		if (!size) {
			memset(areas[a], 0, lens[a]);
			continue;
		}
		for (size_t i = 0; i < lens[a]; i += size)
			memcpy(areas[a] + i, data, lens[a] - i < size ? lens[a] - i : size);
	}
}

#endif
