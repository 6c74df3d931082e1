/* The per-VM I/O event loop: one epoll thread, started on first use, that
 * runs device callbacks (never on a vCPU thread). A VM without devices never
 * pays for it. An eventfd wakes the thread for teardown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "seccomp.h"
#include "virtio/vsock_model.h"
#include "vm.h"

/* fds one VM's loop can watch. The big user is vsock: one host socket per
 * stream, up to VSOCK_MAX_CONNS, plus its listener and kick eventfd; the
 * rest (queue kick/call eventfds, tap, vhost-user) is a few dozen. Sized so
 * that a vsock device at its cap still leaves room for everything else;
 * past the limit vm__loop_add says -ENOSPC and the device refuses that one
 * stream (RST), never the VM. Entries are 32 bytes: 32 KiB per VM, and only
 * for VMs with devices. */
#define LOOP_MAX_FDS 1024
_Static_assert(LOOP_MAX_FDS >= VSOCK_MAX_CONNS + 2 + 256,
	       "the event loop must hold a vsock device at its connection cap");
#define LOOP_BATCH 32

struct loop_entry {
	int fd;
	loop_fn fn;
	void *opaque;
	bool live;
};

struct loop {
	int epfd;
	int wake_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	struct loop_entry entries[LOOP_MAX_FDS];
	/* fd -> slot + 1 (0: not watched), grown on demand: O(1) lookups for
	 * the frequent EPOLL_CTL_MOD calls of busy streams. */
	uint16_t *slot_of;
	int slot_of_len;
	int free_hint;
};

static void *loop__thread(void *arg)
{
	struct loop *loop = arg;
	struct epoll_event evs[LOOP_BATCH];

	pthread_setname_np(pthread_self(), "joey-io");
	/* Confined before any device callback runs; fail closed: without the
	 * filter no callback runs at all (docs/security.md). */
	if (seccomp__install(SECCOMP_IO))
		return NULL;
	for (;;) {
		int n = epoll_wait(loop->epfd, evs, LOOP_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct loop_entry e;

			if (evs[i].data.u32 == LOOP_MAX_FDS)
				return NULL; /* wake_fd: teardown */
			pthread_mutex_lock(&loop->lock);
			e = loop->entries[evs[i].data.u32];
			pthread_mutex_unlock(&loop->lock);
			/* Deleted after epoll_wait returned: skip. */
			if (e.live)
				e.fn(e.opaque, evs[i].events);
		}
	}
	return NULL;
}

static int loop__get(struct vm *vm, struct loop **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LOOP_MAX_FDS };
	struct loop *loop = NULL;
	int rc;

	if (vm->loop) {
		*out = vm->loop;
		return 0;
	}
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	pthread_mutex_init(&loop->lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		rc = -errno;
		goto err_free;
	}
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0) {
		rc = -errno;
		goto err_epoll;
	}
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
		rc = -errno;
		goto err_wake;
	}
	rc = -pthread_create(&loop->thread, NULL, loop__thread, loop);
	if (rc)
		goto err_wake;
	vm->loop = loop;
	*out = loop;
	return 0;

err_wake:
	close(loop->wake_fd);
err_epoll:
	close(loop->epfd);
err_free:
	pthread_mutex_destroy(&loop->lock);
	free(loop);
	return rc;
}

static int loop__slot(struct loop *loop, int fd)
{
	return fd < loop->slot_of_len ? (int)loop->slot_of[fd] - 1 : -1;
}

/* Makes room for fd in slot_of; 0 or -ENOMEM. */
static int loop__index_fd(struct loop *loop, int fd)
{
	int len = loop->slot_of_len;
	uint16_t *g;

	if (fd < len)
		return 0;
	while (len <= fd)
		len = len ? len * 2 : 256;
	g = realloc(loop->slot_of, sizeof(*g) * (size_t)len);
	if (!g)
		return -ENOMEM;
	memset(g + loop->slot_of_len, 0, sizeof(*g) * (size_t)(len - loop->slot_of_len));
	loop->slot_of = g;
	loop->slot_of_len = len;
	return 0;
}

int vm__loop_add(struct vm *vm, int fd, uint32_t events, loop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct loop *loop = NULL;
	int rc, slot = -1;

	if (fd < 0 || !fn)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	rc = loop__get(vm, &loop);
	pthread_mutex_unlock(&vm->lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&loop->lock);
	if (loop__slot(loop, fd) >= 0) {
		rc = -EEXIST;
		goto out;
	}
	rc = loop__index_fd(loop, fd);
	if (rc)
		goto out;
	for (int n = 0; n < LOOP_MAX_FDS && slot < 0; n++) {
		int i = (loop->free_hint + n) % LOOP_MAX_FDS;

		if (!loop->entries[i].live)
			slot = i;
	}
	if (slot < 0) {
		rc = -ENOSPC;
		goto out;
	}
	ev.data.u32 = (uint32_t)slot;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
		goto out;
	}
	loop->entries[slot] = (struct loop_entry){ .fd = fd, .fn = fn, .opaque = opaque,
						   .live = true };
	loop->slot_of[fd] = (uint16_t)(slot + 1);
	loop->free_hint = (slot + 1) % LOOP_MAX_FDS;
out:
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

/* EPOLL_CTL_MOD (events) or EPOLL_CTL_DEL on a registered fd. */
static int loop__change(struct vm *vm, int fd, int op, uint32_t events)
{
	struct loop *loop = vm->loop;
	struct epoll_event ev = { .events = events };
	int slot, rc = 0;

	if (!loop)
		return -ENOENT;
	pthread_mutex_lock(&loop->lock);
	slot = loop__slot(loop, fd);
	ev.data.u32 = (uint32_t)slot;
	if (slot < 0)
		rc = -ENOENT;
	else if (epoll_ctl(loop->epfd, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		rc = -errno;
	else if (op == EPOLL_CTL_DEL) {
		loop->entries[slot].live = false;
		loop->slot_of[fd] = 0;
	}
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

int vm__loop_mod(struct vm *vm, int fd, uint32_t events)
{
	return loop__change(vm, fd, EPOLL_CTL_MOD, events);
}

/* A closed fd has already left the epoll set; its slot is freed anyway. */
int vm__loop_del(struct vm *vm, int fd)
{
	return loop__change(vm, fd, EPOLL_CTL_DEL, 0);
}

/* Joins the thread before devices are torn down, so no callback can run on
 * freed device state. */
void loop__destroy(struct vm *vm)
{
	struct loop *loop = vm->loop;
	uint64_t one = 1;

	if (!loop)
		return;
	if (write(loop->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd write cannot fail with a counter this small */
	}
	pthread_join(loop->thread, NULL);
	close(loop->wake_fd);
	close(loop->epfd);
	pthread_mutex_destroy(&loop->lock);
	free(loop->slot_of);
	free(loop);
	vm->loop = NULL;
}
