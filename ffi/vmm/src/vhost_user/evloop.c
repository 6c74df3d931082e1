#include "evloop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct entry {
	int fd;
	evloop_fn fn;
	void *opaque;
	bool dead;
	struct entry *next_dead;
};

struct evloop {
	int epfd;
	struct entry **by_fd;
	int cap;
	/* Deleted while a batch of events was being handled: freed after it,
	 * so that a later event of the batch never reaches freed memory. */
	struct entry *dead;
	bool in_batch;
};

int evloop__new(struct evloop **out)
{
	struct evloop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

static void reap(struct evloop *l)
{
	while (l->dead) {
		struct entry *e = l->dead;
		l->dead = e->next_dead;
		free(e);
	}
}

void evloop__free(struct evloop *l)
{
	if (!l)
		return;
	for (int i = 0; i < l->cap; i++)
		free(l->by_fd[i]);
	reap(l);
	free(l->by_fd);
	close(l->epfd);
	free(l);
}

int evloop__add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	if (fd < 0)
		return -EBADF;
	if (fd >= l->cap) {
		int cap = fd + 64;
		struct entry **n = realloc(l->by_fd, sizeof(*n) * (size_t)cap);
		if (!n)
			return -ENOMEM;
		for (int i = l->cap; i < cap; i++)
			n[i] = NULL;
		l->by_fd = n;
		l->cap = cap;
	}
	if (l->by_fd[fd])
		return -EEXIST;
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fd;
	e->fn = fn;
	e->opaque = opaque;
	struct epoll_event ev = { .events = events, .data.ptr = e };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int r = -errno;
		free(e);
		return r;
	}
	l->by_fd[fd] = e;
	return 0;
}

int evloop__mod(struct evloop *l, int fd, uint32_t events)
{
	if (fd < 0 || fd >= l->cap || !l->by_fd[fd])
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = l->by_fd[fd] };
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

int evloop__del(struct evloop *l, int fd)
{
	if (fd < 0 || fd >= l->cap || !l->by_fd[fd])
		return -ENOENT;
	struct entry *e = l->by_fd[fd];
	l->by_fd[fd] = NULL;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	e->dead = true;
	e->next_dead = l->dead;
	l->dead = e;
	if (!l->in_batch)
		reap(l);
	return 0;
}

int evloop__run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->in_batch = true;
	for (int i = 0; i < n; i++) {
		struct entry *e = evs[i].data.ptr;
		if (!e->dead)
			e->fn(e->opaque, evs[i].events);
	}
	l->in_batch = false;
	reap(l);
	return n;
}
