/* joey-vhost-vsock: joey's hybrid vsock device as a standalone vhost-user
 * back end for QEMU.
 *
 *   joey-vhost-vsock --socket <vhost-user socket> --uds <hybrid socket> [--cid 3]
 *
 * Listens on --socket for one front end, serves hybrid vsock on --uds, and
 * exits 0 when the front end disconnects or on SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../src/vhost_user/vsock_backend.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: joey-vhost-vsock --socket <vhost-user socket> --uds <hybrid vsock socket> "
		   "[--cid <guest cid, default 3>]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "uds", required_argument, NULL, 'u' },
		{ "cid", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *uds = NULL;
	unsigned long long cid = 3;
	int o;
	while ((o = getopt_long(argc, argv, "s:u:c:h", opts, NULL)) != -1) {
		char *end;
		switch (o) {
		case 's': sock = optarg; break;
		case 'u': uds = optarg; break;
		case 'c':
			errno = 0;
			cid = strtoull(optarg, &end, 0);
			if (errno || *end || cid < 3 || cid >= 0xffffffffull) {
				fprintf(stderr, "joey-vhost-vsock: bad --cid '%s' (3..2^32-2)\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock || !uds || optind != argc) {
		usage(stderr);
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("joey-vhost-vsock: signalfd");
		return 1;
	}
	char err[256] = "";
	int r = vhost_vsock__serve(sock, uds, cid, sfd, err, sizeof(err));
	close(sfd);
	if (r) {
		fprintf(stderr, "joey-vhost-vsock: %s\n", err[0] ? err : strerror(-r));
		return 1;
	}
	if (err[0])
		fprintf(stderr, "joey-vhost-vsock: guest error: %s\n", err);
	return 0;
}
