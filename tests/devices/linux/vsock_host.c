/* Host end of the hybrid-vsock tests and benchmarks (the guest end is
 * vsock_probe for Linux, or a test guest):
 *   guest → host: listens on <uds>_<g2h>, reads pattern 1, sends pattern 2
 *   host → guest: connects to <uds>, "CONNECT <h2g>\n", expects "OK <n>\n"
 *                 (retrying until the guest listens), sends 3, reads 4
 * Prints one line per direction with MB/s; exits 0 only if both matched.
 * Usage: vsock_host <uds> <bytes> <timeout_s> [g2h_port h2g_port] */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

static const char *uds;
static size_t total;
static unsigned int g2h_port = 5000, h2g_port = 6000;
static int listen_fd = -1;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int xfer_send(int fd, uint64_t seed)
{
	return pattern_write_fd(fd, seed, total);
}

static int xfer_recv(int fd, uint64_t seed)
{
	size_t at;
	if (!pattern_read_fd(fd, seed, total, &at))
		return 0;
	fprintf(stderr, "vsock_host: stream %llu %s at byte %zu of %zu\n", (unsigned long long)seed,
		errno == EBADMSG ? "has a wrong byte" : errno ? strerror(errno) : "ends early", at,
		total);
	return -1;
}

static void *guest_to_host(void *arg)
{
	(void)arg;
	int c = accept(listen_fd, NULL, NULL);
	if (c < 0)
		return (void *)1;
	double t0 = now_s();
	if (xfer_recv(c, 1))
		return (void *)1;
	double t1 = now_s();
	if (xfer_send(c, 2))
		return (void *)1;
	shutdown(c, SHUT_WR);
	char x;
	while (read(c, &x, 1) > 0)
		;
	double t2 = now_s();
	close(c);
	printf("vsock_host: guest->host OK %zu bytes, guest->host %.3f MB/s, host->guest %.3f MB/s\n",
	       total, total / 1e6 / (t1 - t0), total / 1e6 / (t2 - t1));
	return NULL;
}

static int dial(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", uds);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "connect %u\n", h2g_port);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	size_t len = 0;
	while (len + 1 < sizeof(line)) {
		ssize_t r = read(fd, line + len, 1);
		if (r <= 0)
			break;
		if (line[len++] == '\n')
			break;
	}
	line[len] = 0;
	if (strncmp(line, "OK ", 3)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *host_to_guest(void *arg)
{
	(void)arg;
	int fd;
	/* The guest listens only after it booted: retry the handshake. */
	while ((fd = dial()) < 0)
		usleep(200 * 1000);
	double t0 = now_s();
	if (xfer_send(fd, 3))
		return (void *)1;
	double t1 = now_s();
	if (xfer_recv(fd, 4))
		return (void *)1;
	double t2 = now_s();
	close(fd);
	printf("vsock_host: host->guest OK %zu bytes, host->guest %.3f MB/s, guest->host %.3f MB/s\n",
	       total, total / 1e6 / (t1 - t0), total / 1e6 / (t2 - t1));
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: vsock_host <uds> <bytes> <timeout_s> [g2h_port h2g_port]\n");
		return 2;
	}
	uds = argv[1];
	total = strtoul(argv[2], NULL, 0);
	alarm((unsigned int)atoi(argv[3]));
	if (argc == 6) {
		g2h_port = (unsigned int)atoi(argv[4]);
		h2g_port = (unsigned int)atoi(argv[5]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", uds, g2h_port);
	unlink(a.sun_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(listen_fd, 4)) {
		perror("vsock_host: listen");
		return 1;
	}
	printf("vsock_host: listening on %s\n", a.sun_path);
	pthread_t t1, t2;
	void *r1, *r2;
	pthread_create(&t1, NULL, guest_to_host, NULL);
	pthread_create(&t2, NULL, host_to_guest, NULL);
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	unlink(a.sun_path);
	if (r1 || r2) {
		printf("vsock_host: FAILED (guest->host %s, host->guest %s)\n", r1 ? "failed" : "ok",
		       r2 ? "failed" : "ok");
		return 1;
	}
	printf("vsock_host: ALL OK\n");
	return 0;
}
