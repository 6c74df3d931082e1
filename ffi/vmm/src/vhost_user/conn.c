#include "conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void vhu_msg__close_fds(struct vhu_msg *m)
{
	for (unsigned int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

static int read_full(int sock, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = recv(sock, p, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int vhu_conn__recv(int sock, struct vhu_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m->hdr, VHU_HDR_SIZE };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	ssize_t r;
	int err;
	m->nfds = 0;
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VHU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		err = -EMSGSIZE;
		goto err;
	}
	if (r < VHU_HDR_SIZE) {
		err = read_full(sock, (uint8_t *)&m->hdr + r, VHU_HDR_SIZE - (size_t)r);
		if (err)
			goto err;
	}
	if (m->hdr.size > VHU_MAX_PAYLOAD) {
		err = -EMSGSIZE;
		goto err;
	}
	memset(&m->p, 0, sizeof(m->p));
	err = read_full(sock, &m->p, m->hdr.size);
	if (err)
		goto err;
	return 0;
err:
	vhu_msg__close_fds(m);
	return err;
}

int vhu_conn__send(int sock, const struct vhu_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = { { (void *)&m->hdr, VHU_HDR_SIZE }, { (void *)&m->p, m->hdr.size } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	if (m->hdr.size > VHU_MAX_PAYLOAD || m->nfds > VHU_MAX_FDS)
		return -EINVAL;
	if (m->nfds) {
		memset(ctl.buf, 0, sizeof(ctl.buf));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
	}
	size_t total = VHU_HDR_SIZE + m->hdr.size;
	ssize_t r;
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* Unix stream sockets send small messages whole; a short write means
	 * the peer is gone. */
	return (size_t)r == total ? 0 : -EPIPE;
}
