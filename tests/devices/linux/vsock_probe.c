/* Runs inside the real Linux guest (QEMU + joey-vhost-vsock): exchanges
 * data with the host over AF_VSOCK in both directions and prints one line
 * per direction, which the host-side test looks for on the console.
 *   guest → host: connect to CID 2 port 5000, send pattern 1, read pattern 2
 *   host → guest: listen on port 6000, read pattern 3, send pattern 4
 * Usage: vsock_probe <bytes> */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

static int send_pattern(int fd, uint64_t seed, size_t total)
{
	return pattern_write_fd(fd, seed, total);
}

static int recv_pattern(int fd, uint64_t seed, size_t total)
{
	size_t at;
	if (!pattern_read_fd(fd, seed, total, &at))
		return 0;
	printf("probe: stream %llu wrong or short at byte %zu of %zu\n", (unsigned long long)seed,
	       at, total);
	return -1;
}

static int host_to_guest(size_t total)
{
	int l = socket(AF_VSOCK, SOCK_STREAM, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = 6000 };
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1)) {
		printf("probe: listen: %s\n", strerror(errno));
		return 1;
	}
	printf("probe: listening on vsock port 6000\n");
	fflush(stdout);
	int c = accept(l, NULL, NULL);
	if (c < 0 || recv_pattern(c, 3, total) || send_pattern(c, 4, total)) {
		printf("probe: host->guest FAILED\n");
		return 1;
	}
	shutdown(c, SHUT_WR);
	char x;
	while (read(c, &x, 1) > 0)
		;
	close(c);
	printf("probe: host->guest OK %zu bytes each way\n", total);
	return 0;
}

static int guest_to_host(size_t total)
{
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = 5000 };
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
		printf("probe: connect to host port 5000: %s\n", strerror(errno));
		return 1;
	}
	if (send_pattern(s, 1, total) || recv_pattern(s, 2, total)) {
		printf("probe: guest->host FAILED\n");
		return 1;
	}
	close(s);
	printf("probe: guest->host OK %zu bytes each way\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	size_t total = argc > 1 ? strtoul(argv[1], NULL, 0) : (1u << 20);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t child = fork();
	if (child == 0)
		_exit(host_to_guest(total));
	int rc = guest_to_host(total);
	int st = 0;
	waitpid(child, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		rc = 1;
	printf("probe: %s\n", rc ? "FAILED" : "ALL OK");
	return rc;
}
