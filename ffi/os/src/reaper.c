// SPDX-License-Identifier: Apache-2.0
/*
 * The reaper: one epoll set of pidfds, one waiting thread for all watched
 * processes. Only watched pids are reaped (waitid(P_PIDFD)), so processes
 * Deno spawned are never taken from it. A pidfd turns readable when its
 * process exits; waitid then collects the status if the process is our
 * child (the shim is the child subreaper, so orphaned container processes
 * are).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "joey_os.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct joey_reaper {
	int epfd;
	int wakefd;
};

/* Marks the wake eventfd in epoll data; pids are positive. */
#define REAPER_WAKE 0

int joey_reaper__new(struct joey_reaper **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = REAPER_WAKE };
	struct joey_reaper *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		rc = -errno;
		goto err_free;
	}
	r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wakefd < 0) {
		rc = -errno;
		goto err_epoll;
	}
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev) < 0) {
		rc = -errno;
		goto err_wake;
	}
	*out = r;
	return 0;

err_wake:
	close(r->wakefd);
err_epoll:
	close(r->epfd);
err_free:
	free(r);
	return rc;
}

/* Adds pid to the set; -ESRCH if it is already gone (reaped). */
int joey_reaper__watch(struct joey_reaper *r, int pid)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	if (pid <= 0)
		return -EINVAL;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	ev.data.u64 = ((uint64_t)(uint32_t)pid << 32) | (uint32_t)fd;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return 0;
}

/* A shell-style status: the exit code, or 128 + the signal that killed it. */
static int32_t status__encode(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return si->si_status;
	return 128 + si->si_status;
}

/*
 * Blocks until at least one watched process exits or the reaper is woken.
 * Fills out with (pid, status) pairs and returns how many; 0 means woken.
 * A process that is not our child cannot be waited for: status -1.
 */
int joey_reaper__wait(struct joey_reaper *r, int32_t *out, int max)
{
	struct epoll_event evs[16];
	int n, i, filled = 0;

	if (max <= 0)
		return -EINVAL;
	if (max > 16)
		max = 16;
	do {
		n = epoll_wait(r->epfd, evs, max, -1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		uint64_t data = evs[i].data.u64;
		int fd = (int)(uint32_t)data;
		siginfo_t si = { 0 };

		if (data == REAPER_WAKE) {
			uint64_t v;

			if (read(r->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return -errno;
			continue;
		}
		out[2 * filled] = (int32_t)(data >> 32);
		if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED) < 0)
			out[2 * filled + 1] = -1;
		else
			out[2 * filled + 1] = status__encode(&si);
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
		close(fd);
		filled++;
	}
	return filled;
}

int joey_reaper__wake(struct joey_reaper *r)
{
	return joey_os__eventfd_signal(r->wakefd);
}

/* Closes the set; call it only once nothing is watched (pidfds would leak). */
void joey_reaper__free(struct joey_reaper *r)
{
	if (!r)
		return;
	close(r->wakefd);
	close(r->epfd);
	free(r);
}
