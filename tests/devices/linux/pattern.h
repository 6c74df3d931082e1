/* The byte stream both ends of the vsock tests send and check: xorshift
 * bytes from a seed, so that a lost, repeated or reordered byte fails. */
#ifndef JOEY_TEST_PATTERN_H
#define JOEY_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

struct pattern {
	uint64_t s;
};

static inline void pattern_init(struct pattern *p, uint64_t seed)
{
	p->s = seed * 0x9e3779b97f4a7c15ull + 1;
}

static inline void pattern_fill(struct pattern *p, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		p->s ^= p->s << 13;
		p->s ^= p->s >> 7;
		p->s ^= p->s << 17;
		buf[i] = (uint8_t)(p->s >> 24);
	}
}

/* Returns the index of the first wrong byte, or len if all match. */
static inline size_t pattern_check(struct pattern *p, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		p->s ^= p->s << 13;
		p->s ^= p->s >> 7;
		p->s ^= p->s << 17;
		if (buf[i] != (uint8_t)(p->s >> 24))
			return i;
	}
	return len;
}

#endif
