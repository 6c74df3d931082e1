/* A bounded byte queue: process output waits here until a Read RPC takes
 * it, stdin waits here until the pipe accepts it. */
#ifndef JOEY_AGENT_BUF_H
#define JOEY_AGENT_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Per-stream bound: a process that writes more than this without anyone
 * reading blocks on its pipe instead of growing the agent. */
#define BUF_CAP (1u << 20)

struct buf {
	uint8_t *data;
	size_t head; /* first unread byte */
	size_t len;  /* bytes held */
	size_t cap;  /* allocated */
};

static inline size_t buf__space(const struct buf *b) { return BUF_CAP - b->len; }
/* Appends up to len bytes (bounded by BUF_CAP); returns the count taken or -ENOMEM. */
long buf__put(struct buf *b, const void *p, size_t len);
/* Removes up to len bytes into out; returns the count. */
size_t buf__take(struct buf *b, void *out, size_t len);
/* Reads once from fd into the free space; bytes read, 0 at EOF, -errno. */
long buf__fill(struct buf *b, int fd);
/* Writes once from the head to fd; bytes written or -errno. */
long buf__drain(struct buf *b, int fd);
void buf__free(struct buf *b);

#endif
