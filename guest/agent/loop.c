/* A minimal epoll loop (see loop.h). */
#include "loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

static int epfd = -1;

int loop__init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

int loop__add(struct watch *w, int fd, uint32_t events, watch_fn fn)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->fn = fn;
	w->events = events;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop__mod(struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	w->events = events;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop__del(struct watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fn = NULL;
}

int loop__run_once(int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(epfd, evs, 32, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct watch *w = evs[i].data.ptr;
		/* A handler earlier in this batch may have unregistered w. */
		if (w->fn)
			w->fn(w, evs[i].events);
	}
	return 0;
}
