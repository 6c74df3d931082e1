/* Density (issue 9): VMs created concurrently from many threads share the
 * process-wide KVM fd safely and leave nothing behind; host limits are
 * checked before a VM is created and the error names the limit and the
 * numbers (each limit lowered in a forked child, never in this process). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)
#define THREADS 8
#define PER_THREAD 25

/* Resolved once: guest_path() is not thread-safe. */
static const char *idle_guest;

struct worker {
	joey_vm *vms[PER_THREAD];
	int failed;
	char err[JOEY_ERR_MAX];
};

static void *create_many(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		if (vmt_create(&w->vms[i], idle_guest, 1, 8 * MIB, NULL, w->err,
			       sizeof(w->err)) ||
		    joey_vm_start(w->vms[i])) {
			w->failed++;
			w->vms[i] = NULL;
		}
	}
	return NULL;
}

static int test_concurrent_create(void)
{
	static struct worker workers[THREADS];
	pthread_t threads[THREADS];
	char out[256];
	int fds0 = count_fds(), failed = 0, ready = 0;

	memset(workers, 0, sizeof(workers));
	idle_guest = guest_path("idle");
	for (int t = 0; t < THREADS; t++)
		CHECK(pthread_create(&threads[t], NULL, create_many, &workers[t]) == 0, "thread");
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	for (int t = 0; t < THREADS; t++) {
		failed += workers[t].failed;
		if (workers[t].failed)
			printf("    thread %d: %s\n", t, workers[t].err);
	}
	/* Read each console ring directly: the harness's pump helpers drop
	 * the other VMs' events. */
	static char seen[THREADS][PER_THREAD];
	/* A read may end inside "ready": each VM's recent output is kept so the
	 * word is found across reads. */
	static char tail[THREADS][PER_THREAD][64];
	memset(seen, 0, sizeof(seen));
	memset(tail, 0, sizeof(tail));
	for (double end = now_ms() + 20000; ready < THREADS * PER_THREAD && now_ms() < end;) {
		for (int t = 0; t < THREADS; t++)
			for (int i = 0; i < PER_THREAD; i++) {
				int n;

				if (seen[t][i] || !workers[t].vms[i])
					continue;
				n = joey_vm_console_read(workers[t].vms[i], (uint8_t *)out,
							 sizeof(out) - 1);
				out[n > 0 ? n : 0] = '\0';
				char both[sizeof(tail[0][0]) + sizeof(out)];
				size_t tl = strnlen(tail[t][i], sizeof(tail[0][0]) - 1);
				size_t ol = n > 0 ? (size_t)n : 0;
				size_t keep = sizeof(tail[0][0]) - 1, blen = tl + ol;

				memcpy(both, tail[t][i], tl);
				memcpy(both + tl, out, ol);
				both[blen] = '\0';
				size_t from = blen > keep ? blen - keep : 0;
				memcpy(tail[t][i], both + from, blen - from + 1);
				if (strstr(both, "ready")) {
					seen[t][i] = 1;
					ready++;
				}
			}
		usleep(10000);
	}
	/* 200 live VMs hold 3 fds each (VM, RAM, vCPU) plus one shared /dev/kvm. */
	int fds_live = count_fds();
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			joey_vm_destroy(workers[t].vms[i]);
	printf("    %d VMs from %d threads, %d ready; fds %d → %d live → %d\n",
	       THREADS * PER_THREAD, THREADS, ready, fds0, fds_live, count_fds());
	CHECK(failed == 0, "%d creates failed", failed);
	CHECK(ready == THREADS * PER_THREAD, "only %d guests said ready", ready);
	CHECK(fds_live - fds0 == 3 * THREADS * PER_THREAD + 1, "fds per VM: %d live for %d VMs",
	      fds_live - fds0, THREADS * PER_THREAD);
	CHECK(count_fds() == fds0, "fds %d → %d", fds0, count_fds());
	return PASS;
}

/* Runs fn in a forked child; its text comes back in out. */
static int in_child(void (*fn)(int fd), char *out, size_t len)
{
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(pipefd[0]);
		fn(pipefd[1]);
		close(pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], out, len - 1);
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	out[n > 0 ? n : 0] = '\0';
	printf("    child: %s\n", out);
	return 0;
}

/* RLIMIT_NOFILE lowered so that exactly 5 VMs fit beside the 32 reserved
 * fds: the 6th is refused by name, and one destroyed makes room again. */
static void nofile_child(int fd)
{
	joey_vm *vms[6] = { NULL };
	char err[JOEY_ERR_MAX] = "";
	int open = count_fds() + 1; /* + the shared /dev/kvm fd */
	struct rlimit rl = { .rlim_cur = (rlim_t)(open + 32 + 3 * 5), .rlim_max = 65536 };
	int made = 0, rc = 0, again;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)(open + 32 + 3 * 5);
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		dprintf(fd, "setrlimit failed");
		return;
	}
	for (; made < 6; made++) {
		rc = vmt_create(&vms[made], guest_path("hello"), 1, 8 * MIB, NULL, err,
				sizeof(err));
		if (rc)
			break;
	}
	joey_vm_destroy(vms[0]);
	again = vmt_create(&vms[0], guest_path("hello"), 1, 8 * MIB, NULL, NULL, 0);
	dprintf(fd, "made=%d rc=%d again=%d|%s", made, rc, again, err);
}

static int test_nofile_limit(void)
{
	char out[1024];

	CHECK(in_child(nofile_child, out, sizeof(out)) == 0, "fork");
	CHECK(!strncmp(out, "made=5 rc=-24 again=0|", 22), "got '%s'", out);
	CHECK(strstr(out, "RLIMIT_NOFILE (open files) soft limit"), "limit named: %s", out);
	CHECK(strstr(out, "a VM needs 3 more"), "numbers given: %s", out);
	CHECK(strstr(out, "ulimit -n"), "how to raise it: %s", out);
	return PASS;
}

static void as_child(int fd)
{
	char err[JOEY_ERR_MAX] = "", line[256];
	unsigned long long vm_kib = 0;
	struct rlimit rl;
	joey_vm *vm = NULL;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmSize:", 7))
			vm_kib = strtoull(line + 7, NULL, 10);
	if (f)
		fclose(f);
	getrlimit(RLIMIT_AS, &rl);
	rl.rlim_cur = (rlim_t)(vm_kib * 1024 + 64 * MIB);
	if (setrlimit(RLIMIT_AS, &rl)) {
		dprintf(fd, "setrlimit failed");
		return;
	}
	int rc = vmt_create(&vm, guest_path("hello"), 1, 256 * MIB, NULL, err, sizeof(err));

	joey_vm_destroy(vm);
	dprintf(fd, "rc=%d|%s", rc, err);
}

static int test_address_space_limit(void)
{
	char out[1024];

#if defined(__SANITIZE_ADDRESS__)
	return harness_skip("RLIMIT_AS and AddressSanitizer's shadow memory do not mix");
#endif
	CHECK(in_child(as_child, out, sizeof(out)) == 0, "fork");
	CHECK(!strncmp(out, "rc=-12|", 7), "got '%s'", out);
	CHECK(strstr(out, "RLIMIT_AS (address space)"), "limit named: %s", out);
	CHECK(strstr(out, "guest RAM 256 MiB"), "numbers given: %s", out);
	return PASS;
}

/* Kernel threads named kvm-pit/<our pid>: KVM starts one per VM with a PIT. */
static int pit_threads(void)
{
	char want[32], path[300], comm[64];
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	snprintf(want, sizeof(want), "kvm-pit/%d\n", (int)getpid());
	while (d && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, want))
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static int test_no_pit(void)
{
	struct joey_vm_config cfg = { .vcpus = 1, .mem_bytes = 8 * MIB,
				      .kernel = guest_path("hello"), .console_fd = -1 };
	joey_vm *with = NULL, *without = NULL;
	struct joey_event ev;
	char err[JOEY_ERR_MAX], out[512] = "";
	int base, n_with, n_without;

	/* The kvm-pit threads of VMs destroyed by earlier tests may still be
	 * exiting: start from a settled count. */
	for (int i = 0; i < 200 && pit_threads() > 0; i++)
		usleep(10000);
	base = pit_threads();
	CHECK(joey_vm_create(&cfg, &with, err, sizeof(err)) == 0, "%s", err);
	n_with = pit_threads();
	cfg.flags = JOEY_VM_F_NO_PIT;
	CHECK(joey_vm_create(&cfg, &without, err, sizeof(err)) == 0, "%s", err);
	n_without = pit_threads();
	joey_vm_destroy(with);
	CHECK(joey_vm_start(without) == 0, "start");
	bool ended = vmt_wait_end(without, 5000, &ev, out, sizeof(out));
	joey_vm_destroy(without);
	printf("    kvm-pit threads: %d before, %d with a PIT VM, %d after a NO_PIT VM too\n",
	       base, n_with, n_without);
	CHECK(n_with == base + 1, "a default VM has its kvm-pit thread");
	CHECK(n_without == n_with, "a NO_PIT VM starts none");
	CHECK(ended && ev.type == JOEY_EVENT_SHUTDOWN && ev.code == 42,
	      "the test guest runs to its exit without a PIT (type %u code %d)", ev.type, ev.code);
	return PASS;
}

int main(void)
{
	if (joey_vmm_check(NULL, 0)) {
		harness_skip("no usable /dev/kvm");
		return harness_finish();
	}
	harness_run("200 VMs created from 8 threads at once, 3 fds each, none left", test_concurrent_create);
	harness_run("RLIMIT_NOFILE: the VM beyond the budget is refused by name", test_nofile_limit);
	harness_run("RLIMIT_AS: a VM that would not fit is refused by name", test_address_space_limit);
	harness_run("JOEY_VM_F_NO_PIT: no kvm-pit kernel thread, the guest still runs", test_no_pit);
	return harness_finish();
}
