/* The per-VM vsock buffer bound (docs/security.md G5) under a hostile guest
 * (tests/security/guests/vsock_flood.c) on the built-in VMM's vsock device:
 * it opens the device's cap of 512 connections to <uds>_7000, where this
 * test accepts and never reads, fills each one's full credit, and asks for
 * 16 more. Checked:
 *   - the host sees exactly 512 connections; the 16 beyond the cap get RST
 *     and never reach the host; none within the cap is reset;
 *   - every CREDIT_REQUEST the guest sends is answered, also on the conns
 *     whose credit update fell due while the device's control queue was
 *     full (it once dropped those, and the conns never answered again);
 *   - bytes the device holds (what the guest got the device to take, less
 *     what the host sockets hold, FIONREAD) reach but never pass
 *     512 x 256 KiB = 128 MiB;
 *   - the process's anonymous RSS (guest RAM is a memfd, so not in it) and
 *     malloc's in-use bytes grow by no more than that bound plus 16 MiB;
 *   - a bystander VM in the same process keeps running, and so does the
 *     flooding one;
 *   - destroy closes every host connection, removes the hybrid socket, and
 *     gives the memory and fds back.
 * Bounded: 60 s for the flood (test-guest code may be emulated here). */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)
#define MAILBOX 0x30000
#define CAP 512
#define EXTRA 16
#define CREDIT (256u << 10)
#define BOUND ((uint64_t)CAP * CREDIT)
#define SLACK (16 * MIB)
#define FLOOD_MS 60000

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif
/* What RSS may grow by: the bound, plus under ASan its shadow (1/8) and
 * redzones, plus fixed per-VM costs (threads, queues, 512 small structs). */
#define RSS_LIMIT (BOUND + (UNDER_ASAN ? BOUND / 8 : 0) + SLACK)

enum { M_BEAT, M_RESP, M_RST_IN, M_RST_OUT, M_BYTES, M_PHASE, M_OTHER, M_FULL, M_LIVE,
       M_UNANSWERED, M_WORDS };

static struct {
	int listen_fd;
	int fds[CAP + EXTRA + 16];
	atomic_int n;
	atomic_bool stop;
} host = { .listen_fd = -1 };

/* Accepts every connection and never reads one. */
static void *acceptor(void *arg)
{
	(void)arg;
	while (!atomic_load(&host.stop)) {
		struct pollfd p = { .fd = host.listen_fd, .events = POLLIN };

		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept4(host.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		int n = atomic_load(&host.n);

		if (fd < 0)
			continue;
		if (n == (int)(sizeof(host.fds) / sizeof(host.fds[0]))) {
			close(fd);
			continue;
		}
		host.fds[n] = fd;
		atomic_store(&host.n, n + 1);
	}
	return NULL;
}

/* kB of a line of /proc/self/status, or 0. */
static uint64_t status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(key);

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static uint64_t rss_anon(void)
{
	return status_kib("RssAnon") * 1024;
}

/* malloc's bytes in use (arenas and direct mappings); 0 under ASan, whose
 * allocator glibc does not see. */
static uint64_t heap_in_use(void)
{
	if (UNDER_ASAN)
		return 0;
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static bool mailbox(joey_vm *vm, uint64_t m[M_WORDS])
{
	return joey_vm_read_mem(vm, MAILBOX, m, sizeof(uint64_t) * M_WORDS) == 0;
}

static uint64_t counter(joey_vm *vm)
{
	uint64_t v = 0;

	joey_vm_read_mem(vm, MAILBOX, &v, sizeof(v));
	return v;
}

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(a.sun_path)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sums FIONREAD over the accepted sockets: what the kernel holds for us. */
static uint64_t host_unread(void)
{
	uint64_t sum = 0;

	for (int i = 0; i < atomic_load(&host.n); i++) {
		int q = 0;

		if (ioctl(host.fds[i], FIONREAD, &q) == 0)
			sum += (uint64_t)q;
	}
	return sum;
}

/* Accepted sockets whose peer (the VMM) has closed. */
static int host_hung_up(void)
{
	int n = 0;

	for (int i = 0; i < atomic_load(&host.n); i++) {
		struct pollfd p = { .fd = host.fds[i], .events = POLLRDHUP };

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP)))
			n++;
	}
	return n;
}

static void host_close_all(void)
{
	for (int i = 0; i < atomic_load(&host.n); i++)
		close(host.fds[i]);
	atomic_store(&host.n, 0);
}

struct flood {
	char dir[64], uds[128], port_path[160];
	pthread_t thread;
	bool thread_started;
	joey_vm *bystander, *vm;
};

static void flood__cleanup(struct flood *f)
{
	if (f->vm)
		joey_vm_destroy(f->vm);
	if (f->bystander)
		joey_vm_destroy(f->bystander);
	if (f->thread_started) {
		atomic_store(&host.stop, true);
		pthread_join(f->thread, NULL);
	}
	host_close_all();
	if (host.listen_fd >= 0)
		close(host.listen_fd);
	host.listen_fd = -1;
	unlink(f->port_path);
	unlink(f->uds);
	rmdir(f->dir);
}

/* Both VMs still run: the flooding one's heartbeat and the bystander's
 * counter move. */
static int still_running(struct flood *f, uint64_t by0)
{
	uint64_t beat0 = counter(f->vm), beat1, by1;

	usleep(100000);
	beat1 = counter(f->vm);
	by1 = counter(f->bystander);
	CHECK(beat1 > beat0 && joey_vm_state(f->vm) == JOEY_VM_RUNNING,
	      "the flooding VM stopped (state %d)", joey_vm_state(f->vm));
	CHECK(by1 > by0 && joey_vm_state(f->bystander) == JOEY_VM_RUNNING,
	      "the bystander stalled: %llu -> %llu, state %d", (unsigned long long)by0,
	      (unsigned long long)by1, joey_vm_state(f->bystander));
	return PASS;
}

/* Destroying the flooding VM closes every host connection and its socket. */
static int destroy_closes_all(struct flood *f)
{
	int hung, n = atomic_load(&host.n);

	joey_vm_stop(f->vm);
	joey_vm_destroy(f->vm);
	f->vm = NULL;
	hung = host_hung_up();
	CHECK(hung == n, "after destroy %d of %d host connections saw the VMM close", hung, n);
	CHECK(access(f->uds, F_OK) != 0, "%s left behind after destroy", f->uds);
	return PASS;
}

/* With rx buffers posted the device polls each host socket with its event
 * loop, whose 1024 fds per VM (ffi/vmm/src/loop.c) hold the vsock device
 * at its cap (512 conns, its listener and kick eventfd) with room to spare
 * for the queue eventfds. The guest opens its conns one at a time and
 * nothing closes one, so the outcome is fixed: the first 512 open and
 * stay open, the 16 past the cap are reset, and the host holds exactly
 * the 512. */
static int polite_checks(struct flood *f, const uint64_t m[M_WORDS], uint64_t by0)
{
	int n = atomic_load(&host.n), open = n - host_hung_up();

	printf("    host accepted %d connections, %d still open\n", n, open);
	CHECK(m[M_RESP] == CAP && m[M_LIVE] == CAP, "%llu RESPONSEs, %llu conns open, want %d",
	      (unsigned long long)m[M_RESP], (unsigned long long)m[M_LIVE], CAP);
	CHECK(m[M_RST_IN] == 0, "%llu conns within the cap reset", (unsigned long long)m[M_RST_IN]);
	CHECK(m[M_RST_OUT] == EXTRA, "%llu of %d conns beyond the cap got RST",
	      (unsigned long long)m[M_RST_OUT], EXTRA);
	CHECK(n == CAP && open == CAP, "the host accepted %d connections, %d open, want %d", n,
	      open, CAP);
	CHECK(still_running(f, by0) == PASS && destroy_closes_all(f) == PASS, "see above");
	return PASS;
}

static int run_flood(struct flood *f, bool polite)
{
	char err[JOEY_ERR_MAX] = "", out[8192], spec[200], cmdline[64];
	uint64_t m[M_WORDS] = { 0 }, by0;
	uint64_t rss0, heap0, rss1, heap1, rss2, heap2, unread, held;
	double t0;

	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	snprintf(f->port_path, sizeof(f->port_path), "%s_7000", f->uds);
	host.listen_fd = listen_at(f->port_path);
	CHECK(host.listen_fd >= 0, "listen on %s: %s", f->port_path, strerror(errno));
	CHECK(pthread_create(&f->thread, NULL, acceptor, NULL) == 0, "acceptor thread");
	f->thread_started = true;

	CHECK(vmt_create(&f->bystander, guest_path("loop"), 1, 8 * MIB, "", err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(joey_vm_start(f->bystander) == 0, "bystander start");
	CHECK(vmt_wait_output(f->bystander, 10000, "loop started", out, sizeof(out)),
	      "bystander did not start");

	malloc_trim(0);
	rss0 = rss_anon();
	heap0 = heap_in_use();
	snprintf(cmdline, sizeof(cmdline), "conns=%d extra=%d port=7000%s", CAP, EXTRA,
		 polite ? " polite=1" : "");
	CHECK(vmt_create(&f->vm, SEC_GUEST_DIR "/vsock_flood.elf", 1, 64 * MIB, cmdline, err,
			 sizeof(err)) == 0, "%s", err);
	snprintf(spec, sizeof(spec), "cid=3,uds=%s", f->uds);
	if (joey_vm_add_device(f->vm, "vsock", spec)) {
		joey_vm_last_error(f->vm, err, sizeof(err));
		CHECK(0, "add vsock: %s", err);
	}
	by0 = counter(f->bystander);
	t0 = now_ms();
	CHECK(joey_vm_start(f->vm) == 0, "flood start");
	bool done = vmt_wait_output(f->vm, FLOOD_MS,
				    polite ? "every conn answered" : "holds its full credit", out,
				    sizeof(out));
	double ms = now_ms() - t0;
	mailbox(f->vm, m);
	printf("%s%s", out, out[0] && out[strlen(out) - 1] != '\n' ? "\n" : "");
	printf("    %.0f ms: %llu RESPONSE, %llu open, %llu RST within the cap, %llu beyond, %llu "
	       "conns fully credited, %llu bytes taken, phase %llu, %llu other packets, %llu "
	       "CREDIT_REQUESTs unanswered\n",
	       ms, (unsigned long long)m[M_RESP], (unsigned long long)m[M_LIVE],
	       (unsigned long long)m[M_RST_IN],
	       (unsigned long long)m[M_RST_OUT], (unsigned long long)m[M_FULL],
	       (unsigned long long)m[M_BYTES], (unsigned long long)m[M_PHASE],
	       (unsigned long long)m[M_OTHER], (unsigned long long)m[M_UNANSWERED]);
	CHECK(done, "the flood did not finish within %d ms (state %d)", FLOOD_MS,
	      joey_vm_state(f->vm));
	/* Let the I/O thread finish the last kick before counting. */
	usleep(300000);
	CHECK(mailbox(f->vm, m), "read the mailbox");
	if (polite)
		return polite_checks(f, m, by0);
	unread = host_unread();
	held = m[M_BYTES] - unread;
	rss1 = rss_anon();
	heap1 = heap_in_use();
	printf("    host accepted %d connections; device holds %llu bytes (%.1f MiB, bound %llu "
	       "MiB), host sockets %llu bytes\n",
	       atomic_load(&host.n), (unsigned long long)held, held / (double)MIB,
	       (unsigned long long)(BOUND / MIB), (unsigned long long)unread);
	printf("    anonymous RSS %+.1f MiB, malloc in use %+.1f MiB%s\n",
	       ((double)rss1 - (double)rss0) / MIB, ((double)heap1 - (double)heap0) / MIB,
	       UNDER_ASAN ? " (not measured under ASan)" : "");
	CHECK(atomic_load(&host.n) == CAP, "the host saw %d connections, want the cap %d",
	      atomic_load(&host.n), CAP);
	CHECK(m[M_RESP] == CAP && m[M_FULL] == CAP, "%llu accepted, %llu credited",
	      (unsigned long long)m[M_RESP], (unsigned long long)m[M_FULL]);
	CHECK(m[M_RST_IN] == 0, "%llu conns within the cap reset", (unsigned long long)m[M_RST_IN]);
	CHECK(m[M_RST_OUT] == EXTRA, "%llu of %d conns beyond the cap got RST",
	      (unsigned long long)m[M_RST_OUT], EXTRA);
	CHECK(m[M_UNANSWERED] == 0, "%llu CREDIT_REQUESTs never answered",
	      (unsigned long long)m[M_UNANSWERED]);
	CHECK(held <= BOUND, "the device holds %llu bytes, over the bound", (unsigned long long)held);
	/* The flood must have reached the bound, or the test shows nothing. */
	CHECK(held >= BOUND - BOUND / 100, "the device holds only %llu bytes",
	      (unsigned long long)held);
	CHECK(rss1 <= rss0 + RSS_LIMIT, "anonymous RSS grew %llu MiB",
	      (unsigned long long)((rss1 - rss0) / MIB));
	CHECK(heap1 <= heap0 + BOUND + SLACK, "malloc in use grew %llu MiB",
	      (unsigned long long)((heap1 - heap0) / MIB));

	CHECK(still_running(f, by0) == PASS && destroy_closes_all(f) == PASS, "see above");
	host_close_all();
	malloc_trim(0);
	rss2 = rss_anon();
	heap2 = heap_in_use();
	printf("    after destroy: anonymous RSS %+.1f MiB, malloc in use %+.1f MiB from the start\n",
	       ((double)rss2 - (double)rss0) / MIB, ((double)heap2 - (double)heap0) / MIB);
	if (!UNDER_ASAN) {
		/* ASan's quarantine keeps freed memory; LeakSanitizer checks it. */
		CHECK(rss2 <= rss0 + SLACK, "anonymous RSS still %+.1f MiB after destroy",
		      ((double)rss2 - (double)rss0) / MIB);
		CHECK(heap2 <= heap0 + 4 * MIB, "malloc in use still %+.1f MiB after destroy",
		      ((double)heap2 - (double)heap0) / MIB);
	}
	return PASS;
}

static int test_flood_mode(bool polite)
{
	struct flood f = { .dir = "/tmp/joey-vflood.XXXXXX" };
	int fds0, fds1, rc;

	if (access("/dev/kvm", R_OK | W_OK))
		return harness_skip("no /dev/kvm");
	CHECK(mkdtemp(f.dir), "mkdtemp");
	atomic_store(&host.stop, false);
	{
		/* Warm-up: process-wide VMM state (the event pump) is created on
		 * first use and stays; count fds after it. */
		char err[JOEY_ERR_MAX], out[256];
		joey_vm *vm;

		CHECK(vmt_create(&vm, guest_path("loop"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s",
		      err);
		joey_vm_start(vm);
		vmt_wait_output(vm, 10000, "loop started", out, sizeof(out));
		joey_vm_destroy(vm);
	}
	fds0 = count_fds();
	rc = run_flood(&f, polite);
	flood__cleanup(&f);
	fds1 = count_fds();
	if (rc == PASS && fds1 > fds0) {
		printf("    FAIL fds %d -> %d\n", fds0, fds1);
		rc = FAIL;
	}
	return rc;
}

static int test_flood(void)
{
	return test_flood_mode(false);
}

static int test_polite(void)
{
	return test_flood_mode(true);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	harness_run("vsock flood: 512 unread connections at full credit stay within 128 MiB, "
		    "the 16 beyond the cap get RST, a bystander VM runs, destroy frees all",
		    test_flood);
	harness_run("vsock with rx buffers posted: the 512 conns within the cap open and stay "
		    "open, the 16 beyond get RST, the host holds the 512",
		    test_polite);
	return harness_finish();
}
