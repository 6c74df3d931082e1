/* The byte stream both ends of the vsock tests send and check: xorshift
 * bytes from a seed, so that a lost, repeated or reordered byte fails. */
#ifndef JOEY_TEST_PATTERN_H
#define JOEY_TEST_PATTERN_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

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

#define PATTERN_CHUNK 65536

/* Writes total bytes of the seed's stream to fd; 0 or -1. (Callers that
 * may meet a closed peer ignore SIGPIPE.) */
static inline int pattern_write_fd(int fd, uint64_t seed, size_t total)
{
	static __thread uint8_t buf[PATTERN_CHUNK];
	struct pattern p;
	pattern_init(&p, seed);
	while (total) {
		size_t n = total < PATTERN_CHUNK ? total : PATTERN_CHUNK;
		pattern_fill(&p, buf, n);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			off += (size_t)w;
		}
		total -= n;
	}
	return 0;
}

/* Reads and checks total bytes of the seed's stream; 0, or -1 with *at
 * set to where it went wrong (short read or wrong byte). */
static inline int pattern_read_fd(int fd, uint64_t seed, size_t total, size_t *at)
{
	static __thread uint8_t buf[PATTERN_CHUNK];
	struct pattern p;
	size_t got = 0;
	pattern_init(&p, seed);
	while (got < total) {
		size_t want = total - got < PATTERN_CHUNK ? total - got : PATTERN_CHUNK;
		ssize_t r = read(fd, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		size_t ok = r > 0 ? pattern_check(&p, buf, (size_t)r) : 0;
		if (r <= 0 || ok != (size_t)r) {
			*at = got + ok;
			/* Which: end of stream (0), an error (-1) or a wrong byte (1). */
			errno = r < 0 ? errno : r == 0 ? 0 : EBADMSG;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

#endif
