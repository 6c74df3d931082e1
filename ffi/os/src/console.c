// SPDX-License-Identifier: Apache-2.0
/*
 * Terminals. For a process with a terminal the OCI runtime opens the pty
 * itself, connects to a unix socket we name with --console-socket and sends
 * the master as SCM_RIGHTS ancillary data; Deno's sockets cannot receive
 * fds, hence this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "joey_os.h"
#include "fd.h"

int joey_os__console_listen(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Receives one fd from a connected socket; -EPROTO if none came. */
static int console__recv_fd(int conn)
{
	char data[256];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do {
		n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	/* Deno drives the master through joey_os__read/write, which poll first. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* Accepts the runtime's connection and returns the pty master it sends. */
int joey_os__console_recv(int listen_fd, int cancel_fd)
{
	int conn, fd, rc;

	for (;;) {
		rc = os_fd__wait(listen_fd, POLLIN, cancel_fd);
		if (rc < 0)
			return rc;
		conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	/* The peer sends right after connecting; a blocking receive is short. */
	fd = console__recv_fd(conn);
	close(conn);
	return fd;
}

int joey_os__pty_resize(int fd, int rows, int cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	if (rows < 0 || cols < 0 || rows > 0xffff || cols > 0xffff)
		return -EINVAL;
	return ioctl(fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}
