/* Runs inside a guest container: connects to AF_VSOCK CID:PORT, sends a
 * ttrpc grpc.Health/Check request and prints "answered" if a response
 * frame comes back, "closed" if the peer closes, "refused: <error>" if the
 * connection fails. Static: the container rootfs has no libc.
 *   vsock_dial CID PORT */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	/* ttrpc frame: length 30, stream 1, type 1, flags 0; Request{service
	 * "grpc.Health", method "Check"} (hand-encoded protobuf). */
	static const unsigned char req[] = {
		0, 0, 0, 22, 0, 0, 0, 1, 1, 0,
		0x0a, 11, 'g', 'r', 'p', 'c', '.', 'H', 'e', 'a', 'l', 't', 'h',
		0x12, 5, 'C', 'h', 'e', 'c', 'k',
	};
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK };
	struct timeval tv = { 5, 0 };
	unsigned char buf[64];
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: vsock_dial CID PORT\n");
		return 2;
	}
	addr.svm_cid = strtoul(argv[1], NULL, 10);
	addr.svm_port = strtoul(argv[2], NULL, 10);
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		printf("refused: %s\n", strerror(errno));
		return 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req)) {
		printf("closed\n");
		return 0;
	}
	printf(read(fd, buf, sizeof(buf)) > 0 ? "answered\n" : "closed\n");
	return 0;
}
