// SPDX-License-Identifier: Apache-2.0
/*
 * File descriptor I/O for the Deno side. Reads and writes wait in poll(2)
 * on the fd and a cancel eventfd together, so a worker thread blocked here
 * can always be released by signalling the eventfd (a plain close would
 * not wake it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "joey_os.h"
#include "fd.h"

int joey_os__close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

int joey_os__eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int joey_os__eventfd_signal(int efd)
{
	uint64_t one = 1;

	return write(efd, &one, sizeof(one)) < 0 ? -errno : 0;
}

int joey_os__pipe(int32_t *fds)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fds[0] = p[0];
	fds[1] = p[1];
	return 0;
}

/* For the shim's own pipe ends, so a write never blocks past poll(2). */
int joey_os__set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Always O_CLOEXEC: fds this library opens must never leak into children. */
int joey_os__open(const char *path, int flags, int mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	return fd < 0 ? -errno : fd;
}

int os_fd__wait(int fd, short events, int cancel_fd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = events },
		{ .fd = cancel_fd, .events = POLLIN },
	};

	for (;;) {
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -ECANCELED;
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		/* HUP/ERR: let read/write report what happened. */
		return 0;
	}
}

int joey_os__read(int fd, int cancel_fd, uint8_t *buf, size_t len)
{
	for (;;) {
		int rc = os_fd__wait(fd, POLLIN, cancel_fd);
		ssize_t n;

		if (rc < 0)
			return rc;
		n = read(fd, buf, len);
		if (n >= 0)
			return (int)n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/* Writes all of buf unless cancelled or failed; returns the bytes written. */
int joey_os__write(int fd, int cancel_fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		int rc = os_fd__wait(fd, POLLOUT, cancel_fd);
		ssize_t n;

		if (rc < 0)
			return done ? (int)done : rc;
		n = write(fd, buf + done, len - done);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return done ? (int)done : -errno;
	}
	return (int)done;
}
