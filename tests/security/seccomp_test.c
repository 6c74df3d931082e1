/* The VMM's per-thread seccomp filters (ffi/vmm/src/seccomp.c):
 *  - a running VM's joey-vcpuN and joey-io threads report "Seccomp: 2"
 *    while the test's own thread does not (the filter is per thread);
 *  - a syscall the vCPU filter forbids, made from a PIO handler on the vCPU
 *    thread while a guest runs, fails with EPERM and does not happen, while
 *    allowed calls (eventfd write) still work;
 *  - the same from an I/O loop callback;
 *  - each filter on a fresh thread: forbidden calls (openat, execve, clone,
 *    socket(AF_INET), ioctl with a non-KVM request, ptrace) fail with EPERM,
 *    allowed ones succeed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "device_host.h"
#include "harness.h"
#include "seccomp.h"

#define MIB (1ULL << 20)
#define TEST_PORT 0x510
#define TEST_MMIO 0xd0000000ULL
#define MARKER "/tmp/joey-seccomp-marker"

/* Attempts from inside a confined thread; filled by the probes below. */
struct probe {
	int open_errno;   /* openat(MARKER, O_CREAT) */
	int socket_errno; /* socket(AF_INET) */
	int clone_errno;  /* raw clone(SIGCHLD) = fork */
	int efd_ok;       /* write to an eventfd (allowed) */
	int ran;
	uint32_t last;
};

static int efd_global = -1;
static int vcpu_stage; /* 0, 1: vCPU in the handler, 2: released */

static int errno_of(long rc)
{
	return rc < 0 ? errno : 0;
}

static void probe_forbidden(struct probe *p)
{
	uint64_t one = 1;
	long rc;

	rc = syscall(SYS_openat, AT_FDCWD, MARKER, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	p->open_errno = errno_of(rc);
	if (rc >= 0)
		close((int)rc);
	rc = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	p->socket_errno = errno_of(rc);
	if (rc >= 0)
		close((int)rc);
	/* A raw clone without CLONE_VM: if it were allowed the child exits at once. */
	rc = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (rc == 0)
		syscall(SYS_exit_group, 0);
	p->clone_errno = errno_of(rc);
	if (rc > 0)
		waitpid((pid_t)rc, NULL, 0);
	p->efd_ok = write(efd_global, &one, sizeof(one)) == sizeof(one);
	p->ran++;
}

/* PIO handler: runs on the vCPU thread (device_host.h). Echoes value + 1 as
 * the devhost guest expects, after probing. */
static void pio_probe(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct probe *p = opaque;
	uint32_t v = 0;

	(void)offset;
	if (is_write) {
		struct timespec ts = { 0, 1000000 };

		memcpy(&v, data, len < 4 ? len : 4);
		p->last = v;
		probe_forbidden(p);
		/* Hold the guest here until the test has looked at this thread
		 * (a fast guest would otherwise be gone first); nanosleep is
		 * allowed, and the wait is bounded (5 s). */
		__atomic_store_n(&vcpu_stage, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < 5000 && __atomic_load_n(&vcpu_stage, __ATOMIC_ACQUIRE) != 2; i++)
			nanosleep(&ts, NULL);
	} else {
		v = p->last + 1;
		memset(data, 0, len);
		memcpy(data, &v, len < 4 ? len : 4);
	}
}

static void mmio_echo(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t *last = opaque, v;

	(void)offset;
	if (is_write) {
		memcpy(last, data, len < 4 ? len : 4);
	} else {
		v = *last + 1;
		memset(data, 0, len);
		memcpy(data, &v, len < 4 ? len : 4);
	}
}

static struct probe io_probe;
static int io_trigger = -1;

static void io_cb(void *opaque, uint32_t events)
{
	uint64_t v;

	(void)opaque;
	(void)events;
	if (read(io_trigger, &v, sizeof(v)) == sizeof(v))
		probe_forbidden(&io_probe);
}

/* "Seccomp:" mode of every thread whose name starts with prefix: returns
 * how many matched, and sets *all_filtered when each is in mode 2. */
static int threads_seccomp(const char *prefix, bool *all_filtered)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	*all_filtered = true;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], buf[4096], *s;
		int fd;
		ssize_t r;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = 0;
		if (strncmp(buf, "Name:\t", 6) || strncmp(buf + 6, prefix, strlen(prefix)))
			continue;
		n++;
		s = strstr(buf, "\nSeccomp:\t");
		if (!s || s[10] != '2')
			*all_filtered = false;
	}
	closedir(d);
	return n;
}

static bool self_filtered(void)
{
	char buf[4096], *s;
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return false;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = 0;
	s = strstr(buf, "\nSeccomp:\t");
	return s && s[10] == '2';
}

static bool marker_exists(void)
{
	return access(MARKER, F_OK) == 0;
}

static int test_running_vm_threads_confined(void)
{
	char err[JOEY_ERR_MAX], out[512];
	struct probe vp = { 0 };
	struct joey_event ev;
	uint32_t mlast = 0;
	uint64_t base = 0, cnt = 0;
	joey_vm *vm;
	bool filtered;
	int n, rc = FAIL;

	unlink(MARKER);
	vcpu_stage = 0;
	memset(&io_probe, 0, sizeof(io_probe));
	efd_global = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	io_trigger = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(efd_global >= 0 && io_trigger >= 0, "eventfd: %s", strerror(errno));
	if (vmt_create(&vm, guest_path("devhost"), 1, 8 * MIB, "console=ttyS0", err,
		       sizeof(err))) {
		printf("    vmt_create: %s\n", err);
		goto out_fds;
	}
	if (vm__alloc_mmio(vm, 0x200, &base) || base != TEST_MMIO ||
	    vm__register_pio(vm, TEST_PORT, 8, pio_probe, &vp) ||
	    vm__register_mmio(vm, base, 0x200, mmio_echo, &mlast) ||
	    vm__loop_add(vm, io_trigger, EPOLLIN, io_cb, NULL)) {
		printf("    device-host registration failed\n");
		goto out_vm;
	}
	/* Before the guest runs the I/O thread exists (created by loop_add). */
	if (joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    start: %s\n", err);
		goto out_vm;
	}
	{
		uint64_t one = 1;

		if (write(io_trigger, &one, sizeof(one)) != sizeof(one))
			goto out_vm;
	}
	for (int i = 0; i < 1000 && (!io_probe.ran || !__atomic_load_n(&vcpu_stage, __ATOMIC_ACQUIRE)); i++)
		usleep(5000);
	n = threads_seccomp("joey-vcpu", &filtered);
	if (n < 1 || !filtered) {
		printf("    FAIL: %d joey-vcpu threads, all filtered: %d\n", n, filtered);
		goto out_stop;
	}
	n = threads_seccomp("joey-io", &filtered);
	if (n < 1 || !filtered) {
		printf("    FAIL: %d joey-io threads, all filtered: %d\n", n, filtered);
		goto out_stop;
	}
	if (self_filtered()) {
		printf("    FAIL: the caller's thread is filtered (filter leaked beyond VMM threads)\n");
		goto out_stop;
	}
	__atomic_store_n(&vcpu_stage, 2, __ATOMIC_RELEASE);
	if (!vmt_wait_end(vm, 5000, &ev, out, sizeof(out)) || ev.type != JOEY_EVENT_SHUTDOWN ||
	    ev.code != 7) {
		printf("    FAIL: guest did not exit 7 (type %u code %d): %s\n", ev.type, ev.code,
		       out);
		goto out_vm;
	}
	printf("    vCPU probe: open %s, socket(AF_INET) %s, fork %s, eventfd write %s\n",
	       strerror(vp.open_errno), strerror(vp.socket_errno), strerror(vp.clone_errno),
	       vp.efd_ok ? "ok" : "failed");
	printf("    I/O probe:  open %s, socket(AF_INET) %s, fork %s, eventfd write %s\n",
	       strerror(io_probe.open_errno), strerror(io_probe.socket_errno),
	       strerror(io_probe.clone_errno), io_probe.efd_ok ? "ok" : "failed");
	if (vp.ran < 1 || vp.open_errno != EPERM || vp.socket_errno != EPERM ||
	    vp.clone_errno != EPERM || !vp.efd_ok)
		goto out_vm;
	if (io_probe.ran < 1 || io_probe.open_errno != EPERM || io_probe.socket_errno != EPERM ||
	    io_probe.clone_errno != EPERM || !io_probe.efd_ok)
		goto out_vm;
	if (marker_exists()) {
		printf("    FAIL: %s was created by a confined thread\n", MARKER);
		goto out_vm;
	}
	if (read(efd_global, &cnt, sizeof(cnt)) != sizeof(cnt) || cnt < 2)
		goto out_vm;
	rc = PASS;
	goto out_vm;
out_stop:
	__atomic_store_n(&vcpu_stage, 2, __ATOMIC_RELEASE);
	joey_vm_stop(vm);
out_vm:
	joey_vm_destroy(vm);
out_fds:
	close(efd_global);
	close(io_trigger);
	unlink(MARKER);
	return rc;
}

/* A filter installed on a fresh thread, then a list of checks. */
struct role_case {
	enum seccomp_role role;
	int install_rc;
	int open_e, exec_e, clone_e, inet_e, unix_e, tty_ioctl_e, ptrace_e, kvm_ioctl_e;
	bool write_ok, filtered;
};

static void *role_thread(void *arg)
{
	struct role_case *c = arg;
	char *const argv[] = { "/bin/true", NULL };
	struct termios t;
	long rc;
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return NULL;
	c->install_rc = seccomp__install(c->role);
	c->filtered = self_filtered(); /* opens /proc: allowed only before */
	if (c->install_rc)
		goto out;
	rc = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
	c->open_e = errno_of(rc);
	if (rc >= 0)
		close((int)rc);
	/* execve in a thread would replace the whole test: only reached if the
	 * filter is missing, which the install_rc check above already fails. */
	rc = syscall(SYS_execve, "/nonexistent/joey", argv, NULL);
	c->exec_e = errno_of(rc);
	rc = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (rc == 0)
		syscall(SYS_exit_group, 0);
	c->clone_e = errno_of(rc);
	if (rc > 0)
		waitpid((pid_t)rc, NULL, 0);
	rc = syscall(SYS_socket, AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	c->inet_e = errno_of(rc);
	if (rc >= 0)
		close((int)rc);
	rc = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->unix_e = errno_of(rc);
	if (rc >= 0)
		close((int)rc);
	rc = syscall(SYS_ioctl, p[0], TCGETS, &t);
	c->tty_ioctl_e = errno_of(rc);
	/* KVM_RUN on a pipe: allowed by the vCPU filter (then ENOTTY), denied by the I/O one. */
	rc = syscall(SYS_ioctl, p[0], KVM_RUN, 0);
	c->kvm_ioctl_e = errno_of(rc);
	rc = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	c->ptrace_e = errno_of(rc);
	c->write_ok = write(p[1], "x", 1) == 1;
out:
	close(p[0]);
	close(p[1]);
	return NULL;
}

static int run_role(struct role_case *c)
{
	pthread_t t;

	CHECK(pthread_create(&t, NULL, role_thread, c) == 0, "pthread_create");
	pthread_join(t, NULL);
	return PASS;
}

static int test_vcpu_filter_blocks(void)
{
	struct role_case c = { .role = SECCOMP_VCPU };

	CHECK(run_role(&c) == PASS, "thread");
	CHECK(c.install_rc == 0, "install: %s", strerror(-c.install_rc));
	CHECK(c.open_e == EPERM, "openat: %s", strerror(c.open_e));
	CHECK(c.exec_e == EPERM, "execve: %s", strerror(c.exec_e));
	CHECK(c.clone_e == EPERM, "clone: %s", strerror(c.clone_e));
	CHECK(c.inet_e == EPERM, "socket(AF_INET6): %s", strerror(c.inet_e));
	CHECK(c.unix_e == EPERM, "vCPU socket(AF_UNIX): %s", strerror(c.unix_e));
	CHECK(c.tty_ioctl_e == EPERM, "ioctl TCGETS: %s", strerror(c.tty_ioctl_e));
	CHECK(c.kvm_ioctl_e == ENOTTY, "ioctl KVM_RUN on a pipe: %s", strerror(c.kvm_ioctl_e));
	CHECK(c.ptrace_e == EPERM, "ptrace: %s", strerror(c.ptrace_e));
	CHECK(c.write_ok, "write must stay allowed");
	CHECK(!self_filtered(), "filter leaked to the creating thread");
	return PASS;
}

static int test_io_filter_blocks(void)
{
	struct role_case c = { .role = SECCOMP_IO };

	CHECK(run_role(&c) == PASS, "thread");
	CHECK(c.install_rc == 0, "install: %s", strerror(-c.install_rc));
	CHECK(c.open_e == EPERM, "openat: %s", strerror(c.open_e));
	CHECK(c.exec_e == EPERM, "execve: %s", strerror(c.exec_e));
	CHECK(c.clone_e == EPERM, "clone: %s", strerror(c.clone_e));
	CHECK(c.inet_e == EPERM, "socket(AF_INET6): %s", strerror(c.inet_e));
	CHECK(c.unix_e == 0, "I/O socket(AF_UNIX) must work (vsock): %s", strerror(c.unix_e));
	CHECK(c.tty_ioctl_e == EPERM, "ioctl TCGETS: %s", strerror(c.tty_ioctl_e));
	CHECK(c.kvm_ioctl_e == EPERM, "ioctl KVM_RUN: %s", strerror(c.kvm_ioctl_e));
	CHECK(c.ptrace_e == EPERM, "ptrace: %s", strerror(c.ptrace_e));
	CHECK(c.write_ok, "write must stay allowed");
	return PASS;
}

static int test_tables(void)
{
	CHECK(seccomp__allows(SECCOMP_VCPU, SYS_ioctl), "vCPU needs ioctl");
	CHECK(!seccomp__allows(SECCOMP_VCPU, SYS_openat), "vCPU must not open");
	CHECK(!seccomp__allows(SECCOMP_IO, SYS_execve), "I/O must not exec");
	CHECK(!seccomp__allows(SECCOMP_IO, SYS_clone3), "I/O must not clone");
	CHECK(seccomp__allows(SECCOMP_IO, SYS_epoll_wait), "I/O needs epoll_wait");
	return PASS;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	harness_run("seccomp tables", test_tables);
	harness_run("vCPU filter blocks open/exec/clone/inet/ptrace/tty ioctl", test_vcpu_filter_blocks);
	harness_run("I/O filter blocks open/exec/clone/inet/ptrace/KVM_RUN", test_io_filter_blocks);
	harness_run("running VM: vCPU and I/O threads confined, forbidden calls EPERM",
		    test_running_vm_threads_confined);
	return harness_finish();
}
