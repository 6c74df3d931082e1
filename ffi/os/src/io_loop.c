// SPDX-License-Identifier: Apache-2.0
/*
 * The I/O loop: one thread, one epoll set, copying between any number of
 * fd pairs (container pipes or pty ↔ containerd's FIFOs) and watching
 * eventfds (OOM notification). Deno learns what finished through ONE
 * blocking call, joey_io__next, so no Deno worker thread is ever parked on
 * a stream: Deno keeps only a few of them and a thread per stream would
 * exhaust them with a handful of containers.
 *
 * Each copy owns dups of the fds it was given and closes them when it ends,
 * so the caller closes its own and the last close of a pipe's write side
 * is the copy's (that is how EOF reaches the process).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "joey_os.h"

#define IO_BUF_SIZE (64 * 1024)
#define IO_EVENTS_MAX 256

enum io_kind { IO_COPY, IO_WATCH };

struct io_entry {
	int id;
	enum io_kind kind;
	int src, dst;
	uint8_t *buf;
	size_t len, off;
	bool sink_dead;   /* dst failed: keep draining src, drop the data */
	bool waiting_out; /* data pending: src muted, dst polled for EPOLLOUT */
	bool done;
	struct io_entry *next;
};

struct io_event {
	int32_t id, status;
};

struct joey_io {
	int epfd, wakefd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: work handed to the loop, and results handed back. */
	struct io_entry *adds;
	int cancels[IO_EVENTS_MAX];
	int ncancels;
	struct io_event events[IO_EVENTS_MAX];
	int nevents;
	bool stop, woken;
	int next_id;
	/* Loop thread only. */
	struct io_entry *entries;
};

/* epoll data: the entry pointer, low bit set for its dst fd. */
#define IO_WAKE_TAG 1ULL

static void io__push_event(struct joey_io *io, int id, int status)
{
	pthread_mutex_lock(&io->lock);
	/* Results are drained quickly; should the queue be full, wait for room. */
	while (io->nevents == IO_EVENTS_MAX && !io->stop)
		pthread_cond_wait(&io->cond, &io->lock);
	if (io->nevents < IO_EVENTS_MAX) {
		io->events[io->nevents].id = id;
		io->events[io->nevents].status = status;
		io->nevents++;
	}
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
}

static void io__finish(struct joey_io *io, struct io_entry *e, int status)
{
	if (e->done)
		return;
	e->done = true;
	epoll_ctl(io->epfd, EPOLL_CTL_DEL, e->src, NULL);
	close(e->src);
	if (e->dst >= 0) {
		epoll_ctl(io->epfd, EPOLL_CTL_DEL, e->dst, NULL);
		close(e->dst);
	}
	io__push_event(io, e->id, status);
}

/* Writes what is buffered; returns true when the buffer is empty. */
static bool io__flush(struct io_entry *e)
{
	while (e->off < e->len && !e->sink_dead) {
		ssize_t n = write(e->dst, e->buf + e->off, e->len - e->off);

		if (n > 0) {
			e->off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		/* The reader went away (EPIPE) or the sink broke: drop from now on. */
		e->sink_dead = true;
	}
	e->len = e->off = 0;
	return true;
}

/*
 * While data waits for dst, src leaves the epoll set: muting it by mask would
 * still report its HUP on every wait and spin the loop.
 */
static void io__mute_src(struct joey_io *io, struct io_entry *e, bool mute)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uintptr_t)e };

	if (mute)
		epoll_ctl(io->epfd, EPOLL_CTL_DEL, e->src, NULL);
	else
		epoll_ctl(io->epfd, EPOLL_CTL_ADD, e->src, &ev);
}

static void io__want_out(struct joey_io *io, struct io_entry *e, bool want)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uintptr_t)e | 1 };

	if (want == e->waiting_out)
		return;
	e->waiting_out = want;
	if (want)
		epoll_ctl(io->epfd, EPOLL_CTL_ADD, e->dst, &ev);
	else
		epoll_ctl(io->epfd, EPOLL_CTL_DEL, e->dst, NULL);
	io__mute_src(io, e, want);
}

static void io__on_src(struct joey_io *io, struct io_entry *e)
{
	if (e->kind == IO_WATCH) {
		uint64_t count;
		ssize_t n = read(e->src, &count, sizeof(count));

		if (n == sizeof(count))
			io__push_event(io, e->id, count > 0x7fffffff ? 0x7fffffff : (int)count);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			io__finish(io, e, -errno);
		return;
	}
	if (e->waiting_out)
		return;
	for (;;) {
		ssize_t n = read(e->src, e->buf, IO_BUF_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* A pty master reports EIO once every slave fd is closed: its EOF. */
		if (n == 0 || (n < 0 && errno == EIO)) {
			io__finish(io, e, 0);
			return;
		}
		if (n < 0) {
			io__finish(io, e, -errno);
			return;
		}
		e->len = (size_t)n;
		e->off = 0;
		if (!io__flush(e)) {
			io__want_out(io, e, true);
			return;
		}
	}
}

static void io__on_dst(struct joey_io *io, struct io_entry *e)
{
	if (io__flush(e))
		io__want_out(io, e, false);
}

static struct io_entry *io__find(struct joey_io *io, int id)
{
	struct io_entry *e;

	for (e = io->entries; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

/* Takes the callers' work; returns false when the loop must stop. */
static bool io__take_commands(struct joey_io *io)
{
	struct io_entry *adds, *e, *next;
	int cancels[IO_EVENTS_MAX], n, i;
	uint64_t v;
	bool stop;

	if (read(io->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return true;
	pthread_mutex_lock(&io->lock);
	adds = io->adds;
	io->adds = NULL;
	n = io->ncancels;
	memcpy(cancels, io->cancels, (size_t)n * sizeof(int));
	io->ncancels = 0;
	stop = io->stop;
	pthread_mutex_unlock(&io->lock);
	for (e = adds; e; e = next) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uintptr_t)e };

		next = e->next;
		e->next = io->entries;
		io->entries = e;
		if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, e->src, &ev) < 0)
			io__finish(io, e, -errno);
	}
	for (i = 0; i < n; i++) {
		e = io__find(io, cancels[i]);
		if (e)
			io__finish(io, e, -ECANCELED);
	}
	return !stop;
}

/* Frees entries finished in the last batch (none can be referenced now). */
static void io__reap_done(struct joey_io *io)
{
	struct io_entry **p = &io->entries;

	while (*p) {
		struct io_entry *e = *p;

		if (e->done) {
			*p = e->next;
			free(e->buf);
			free(e);
		} else {
			p = &e->next;
		}
	}
}

static void *io__run(void *arg)
{
	struct joey_io *io = arg;
	struct epoll_event evs[64];
	bool running = true;

	while (running) {
		int n = epoll_wait(io->epfd, evs, 64, -1), i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (i = 0; i < n; i++) {
			uint64_t data = evs[i].data.u64;
			struct io_entry *e = (struct io_entry *)(uintptr_t)(data & ~1ULL);

			if (data == IO_WAKE_TAG) {
				running = io__take_commands(io);
				continue;
			}
			if (e->done)
				continue;
			if (data & 1)
				io__on_dst(io, e);
			else
				io__on_src(io, e);
		}
		io__reap_done(io);
	}
	return NULL;
}

int joey_io__new(struct joey_io **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = IO_WAKE_TAG };
	struct joey_io *io;
	int rc;

	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->next_id = 1;
	pthread_mutex_init(&io->lock, NULL);
	pthread_cond_init(&io->cond, NULL);
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (io->epfd < 0) {
		rc = -errno;
		goto err_free;
	}
	io->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->wakefd < 0) {
		rc = -errno;
		goto err_epoll;
	}
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->wakefd, &ev) < 0) {
		rc = -errno;
		goto err_wake;
	}
	rc = -pthread_create(&io->thread, NULL, io__run, io);
	if (rc)
		goto err_wake;
	*out = io;
	return 0;

err_wake:
	close(io->wakefd);
err_epoll:
	close(io->epfd);
err_free:
	pthread_cond_destroy(&io->cond);
	pthread_mutex_destroy(&io->lock);
	free(io);
	return rc;
}

static int io__add(struct joey_io *io, enum io_kind kind, int src, int dst)
{
	struct io_entry *e;
	int id;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->kind = kind;
	e->src = fcntl(src, F_DUPFD_CLOEXEC, 3);
	e->dst = -1;
	if (e->src < 0)
		goto err;
	if (kind == IO_COPY) {
		e->dst = fcntl(dst, F_DUPFD_CLOEXEC, 3);
		e->buf = malloc(IO_BUF_SIZE);
		if (e->dst < 0 || !e->buf)
			goto err;
	}
	pthread_mutex_lock(&io->lock);
	id = e->id = io->next_id++;
	e->next = io->adds;
	io->adds = e;
	pthread_mutex_unlock(&io->lock);
	joey_os__eventfd_signal(io->wakefd);
	return id;

err:
	if (e->src >= 0)
		close(e->src);
	if (e->dst >= 0)
		close(e->dst);
	free(e->buf);
	free(e);
	return -ENOMEM;
}

/*
 * Copies src to dst until src ends (status 0), fails (-errno) or is
 * cancelled (-ECANCELED). Both must be non-blocking. Returns the copy's id.
 */
int joey_io__copy(struct joey_io *io, int src, int dst)
{
	return io__add(io, IO_COPY, src, dst);
}

/* Reports each read of the eventfd efd (status = its count) until cancelled. */
int joey_io__watch(struct joey_io *io, int efd)
{
	return io__add(io, IO_WATCH, efd, -1);
}

int joey_io__cancel(struct joey_io *io, int id)
{
	pthread_mutex_lock(&io->lock);
	if (io->ncancels == IO_EVENTS_MAX) {
		pthread_mutex_unlock(&io->lock);
		return -EAGAIN;
	}
	io->cancels[io->ncancels++] = id;
	pthread_mutex_unlock(&io->lock);
	return joey_os__eventfd_signal(io->wakefd);
}

/*
 * Blocks until something happened: fills out with (id, status) pairs and
 * returns how many; 0 after joey_io__wake.
 */
int joey_io__next(struct joey_io *io, int32_t *out, int max)
{
	int n;

	if (max <= 0)
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	while (io->nevents == 0 && !io->woken)
		pthread_cond_wait(&io->cond, &io->lock);
	io->woken = false;
	n = io->nevents < max ? io->nevents : max;
	memcpy(out, io->events, (size_t)n * sizeof(struct io_event));
	memmove(io->events, io->events + n, (size_t)(io->nevents - n) * sizeof(struct io_event));
	io->nevents -= n;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
	return n;
}

int joey_io__wake(struct joey_io *io)
{
	pthread_mutex_lock(&io->lock);
	io->woken = true;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
	return 0;
}

/* Stops the thread; copies still running are abandoned with their fds closed. */
void joey_io__free(struct joey_io *io)
{
	struct io_entry *e, *next;

	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	io->stop = true;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
	joey_os__eventfd_signal(io->wakefd);
	pthread_join(io->thread, NULL);
	for (e = io->entries; e; e = next) {
		next = e->next;
		if (!e->done) {
			close(e->src);
			if (e->dst >= 0)
				close(e->dst);
		}
		free(e->buf);
		free(e);
	}
	for (e = io->adds; e; e = next) {
		next = e->next;
		close(e->src);
		if (e->dst >= 0)
			close(e->dst);
		free(e->buf);
		free(e);
	}
	close(io->wakefd);
	close(io->epfd);
	pthread_cond_destroy(&io->cond);
	pthread_mutex_destroy(&io->lock);
	free(io);
}
