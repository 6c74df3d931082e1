// SPDX-License-Identifier: Apache-2.0
/* C tests of ffi/os, built with ASan/UBSan. Last line: "N passed, N failed". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "joey_os.h"

static int passed, failed;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			return -1;                                                   \
		}                                                                    \
	} while (0)

static void run(const char *name, int (*fn)(void))
{
	int rc = fn();

	printf("%s %s\n", rc ? "FAIL" : "ok  ", name);
	if (rc)
		failed++;
	else
		passed++;
}

/* Exit codes and signals come back shell-style, for the right pids. */
static int test_reaper_statuses(void)
{
	struct joey_reaper *r;
	int32_t out[8];
	pid_t a, b;
	int got = 0, n, i;

	CHECK(joey_reaper__new(&r) == 0);
	a = fork();
	if (a == 0)
		_exit(7);
	b = fork();
	if (b == 0) {
		pause();
		_exit(0);
	}
	CHECK(joey_reaper__watch(r, a) == 0);
	CHECK(joey_reaper__watch(r, b) == 0);
	CHECK(kill(b, SIGKILL) == 0);
	while (got < 2) {
		n = joey_reaper__wait(r, out, 4);
		CHECK(n > 0);
		for (i = 0; i < n; i++, got++) {
			if (out[2 * i] == a)
				CHECK(out[2 * i + 1] == 7);
			else
				CHECK(out[2 * i] == b && out[2 * i + 1] == 128 + SIGKILL);
		}
	}
	/* Reaped: the pid is gone, so watching it again fails. */
	CHECK(joey_reaper__watch(r, a) == -ESRCH);
	joey_reaper__free(r);
	return 0;
}

static void *wake_later(void *arg)
{
	usleep(20000);
	joey_reaper__wake(arg);
	return NULL;
}

/* A waiting reaper can be woken with nothing to report. */
static int test_reaper_wake(void)
{
	struct joey_reaper *r;
	pthread_t t;
	int32_t out[2];

	CHECK(joey_reaper__new(&r) == 0);
	CHECK(pthread_create(&t, NULL, wake_later, r) == 0);
	CHECK(joey_reaper__wait(r, out, 1) == 0);
	pthread_join(t, NULL);
	joey_reaper__free(r);
	return 0;
}

static void *cancel_later(void *arg)
{
	usleep(20000);
	joey_os__eventfd_signal(*(int *)arg);
	return NULL;
}

/* A read blocked on an empty pipe returns -ECANCELED once cancelled. */
static int test_read_cancel(void)
{
	int32_t p[2];
	uint8_t buf[4];
	int efd;
	pthread_t t;

	CHECK(joey_os__pipe(p) == 0);
	efd = joey_os__eventfd();
	CHECK(efd >= 0);
	CHECK(joey_os__write(p[1], efd, (const uint8_t *)"hi", 2) == 2);
	CHECK(joey_os__read(p[0], efd, buf, sizeof(buf)) == 2 && !memcmp(buf, "hi", 2));
	CHECK(pthread_create(&t, NULL, cancel_later, &efd) == 0);
	CHECK(joey_os__read(p[0], efd, buf, sizeof(buf)) == -ECANCELED);
	pthread_join(t, NULL);
	joey_os__close(p[1]);
	joey_os__close(efd);
	/* Writer closed: end of file. */
	CHECK(joey_os__read(p[0], -1, buf, sizeof(buf)) == 0);
	joey_os__close(p[0]);
	return 0;
}

/* spawn hands the child our pipe as stdout and its status comes back. */
static int test_spawn_stdio(void)
{
	struct joey_reaper *r;
	int32_t p[2], out[2];
	uint8_t buf[64];
	int pid, n, len = 0;

	CHECK(joey_reaper__new(&r) == 0);
	CHECK(joey_os__pipe(p) == 0);
	pid = joey_os__spawn("sh\0-c\0echo hello; exit 3\0", "PATH=/usr/bin:/bin\0", -1, p[1], -1);
	CHECK(pid > 0);
	joey_os__close(p[1]);
	while ((n = joey_os__read(p[0], -1, buf + len, sizeof(buf) - len)) > 0)
		len += n;
	CHECK(len == 6 && !memcmp(buf, "hello\n", 6));
	CHECK(joey_reaper__watch(r, pid) == 0);
	CHECK(joey_reaper__wait(r, out, 1) == 1 && out[0] == pid && out[1] == 3);
	CHECK(joey_os__spawn("", "", -1, -1, -1) == -EINVAL);
	CHECK(joey_os__spawn("/nonexistent/x\0", "\0", -1, -1, -1) == -ENOENT);
	joey_os__close(p[0]);
	joey_reaper__free(r);
	return 0;
}

/* A pty master sent over the console socket arrives and can be resized. */
static int test_console_recv(void)
{
	char path[] = "/tmp/joey-os-test-XXXXXX";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct winsize ws;
	struct cmsghdr *c;
	int lfd, cfd, master, got;

	CHECK(mkdtemp(path));
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/s", path);
	lfd = joey_os__console_listen(addr.sun_path);
	CHECK(lfd >= 0);
	master = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(master >= 0);
	cfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(connect(cfd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	CHECK(sendmsg(cfd, &msg, 0) == 1);
	got = joey_os__console_recv(lfd, -1);
	CHECK(got >= 0);
	CHECK(joey_os__pty_resize(got, 33, 101) == 0);
	CHECK(ioctl(master, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 33 && ws.ws_col == 101);
	CHECK(joey_os__pty_resize(got, -1, 5) == -EINVAL);
	close(got);
	close(master);
	close(cfd);
	close(lfd);
	unlink(addr.sun_path);
	rmdir(path);
	return 0;
}

/* Waits for the next event of the loop; returns its status for id. */
static int io_wait_for(struct joey_io *io, int id)
{
	int32_t ev[2];

	for (;;) {
		if (joey_io__next(io, ev, 1) != 1)
			return -1000;
		if (ev[0] == id)
			return ev[1];
	}
}

static int nonblocking_pipe(int32_t p[2])
{
	if (joey_os__pipe(p) < 0)
		return -1;
	joey_os__set_nonblock(p[0]);
	joey_os__set_nonblock(p[1]);
	return 0;
}

static uint8_t big[300 * 1024], got[300 * 1024];

/* Writes big into the pipe, then closes it (EOF for the copy). */
static void *write_big(void *arg)
{
	int fd = *(int32_t *)arg;

	joey_os__write(fd, -1, big, sizeof(big));
	close(fd);
	return NULL;
}

/* A copy moves everything, then EOF reaches the far end once it ends. */
static int test_io_copy_eof(void)
{
	struct joey_io *io;
	int32_t a[2], b[2];
	pthread_t t;
	size_t total = 0;
	int id, n, i;

	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	CHECK(joey_io__new(&io) == 0);
	CHECK(nonblocking_pipe(a) == 0 && nonblocking_pipe(b) == 0);
	id = joey_io__copy(io, a[0], b[1]);
	CHECK(id > 0);
	/* The loop holds its own dups: ours can go now. */
	close(a[0]);
	close(b[1]);
	/* More than a pipe holds: the copy must wait for room on the far side. */
	CHECK(pthread_create(&t, NULL, write_big, &a[1]) == 0);
	while ((n = joey_os__read(b[0], -1, got + total, sizeof(got) - total)) > 0)
		total += (size_t)n;
	pthread_join(t, NULL);
	CHECK(total == sizeof(big) && !memcmp(big, got, sizeof(big)));
	CHECK(io_wait_for(io, id) == 0);
	close(b[0]);
	joey_io__free(io);
	return 0;
}

/* A copy whose reader went away keeps draining; cancel ends it. */
static int test_io_dead_sink_and_cancel(void)
{
	struct joey_io *io;
	int32_t a[2], b[2];
	int id, efd, wid;
	uint8_t buf[4096] = { 0 };

	CHECK(joey_io__new(&io) == 0);
	CHECK(nonblocking_pipe(a) == 0 && nonblocking_pipe(b) == 0);
	id = joey_io__copy(io, a[0], b[1]);
	close(a[0]);
	close(b[1]);
	close(b[0]); /* no reader: writes fail with EPIPE */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 64; i++)
		CHECK(joey_os__write(a[1], -1, buf, sizeof(buf)) == (int)sizeof(buf));
	CHECK(joey_io__cancel(io, id) == 0);
	CHECK(io_wait_for(io, id) == -ECANCELED);
	close(a[1]);
	/* A watched eventfd reports its counter. */
	efd = joey_os__eventfd();
	wid = joey_io__watch(io, efd);
	CHECK(wid > 0);
	CHECK(joey_os__eventfd_signal(efd) == 0);
	CHECK(io_wait_for(io, wid) == 1);
	CHECK(joey_io__cancel(io, wid) == 0);
	CHECK(io_wait_for(io, wid) == -ECANCELED);
	close(efd);
	joey_io__free(io);
	return 0;
}

int main(void)
{
	/* Children must be reaped by pidfd, not by a default SIGCHLD discard. */
	signal(SIGCHLD, SIG_DFL);
	run("reaper reports exit codes and 128+signal per pid", test_reaper_statuses);
	run("reaper wakes without events", test_reaper_wake);
	run("read is cancellable and sees EOF", test_read_cancel);
	run("spawn passes stdio and reaps the status", test_spawn_stdio);
	run("console socket receives a pty master; resize applies", test_console_recv);
	run("io loop copies past a full pipe and passes EOF on", test_io_copy_eof);
	run("io loop drains into a dead sink; cancel and eventfd watch", test_io_dead_sink_and_cancel);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
