/* A bounded byte queue (see buf.h). Kept contiguous: data moves to the front
 * when the tail runs out, which is cheap at these sizes. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int buf__reserve(struct buf *b, size_t need)
{
	if (b->head && b->head + b->len + need > b->cap) {
		memmove(b->data, b->data + b->head, b->len);
		b->head = 0;
	}
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *p;

		while (cap < b->len + need)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	return 0;
}

long buf__put(struct buf *b, const void *p, size_t len)
{
	if (len > buf__space(b))
		len = buf__space(b);
	if (!len)
		return 0;
	if (buf__reserve(b, len))
		return -ENOMEM;
	memcpy(b->data + b->head + b->len, p, len);
	b->len += len;
	return len;
}

size_t buf__take(struct buf *b, void *out, size_t len)
{
	if (len > b->len)
		len = b->len;
	memcpy(out, b->data + b->head, len);
	b->head += len;
	b->len -= len;
	if (!b->len)
		b->head = 0;
	return len;
}

long buf__fill(struct buf *b, int fd)
{
	size_t want = buf__space(b);
	ssize_t n;

	if (want > 65536)
		want = 65536;
	if (!want)
		return -ENOBUFS;
	if (buf__reserve(b, want))
		return -ENOMEM;
	n = read(fd, b->data + b->head + b->len, want);
	if (n < 0)
		return -errno;
	b->len += n;
	return n;
}

long buf__drain(struct buf *b, int fd)
{
	ssize_t n;

	if (!b->len)
		return 0;
	n = write(fd, b->data + b->head, b->len);
	if (n < 0)
		return -errno;
	b->head += n;
	b->len -= n;
	if (!b->len)
		b->head = 0;
	return n;
}

void buf__free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->head = b->len = b->cap = 0;
}
