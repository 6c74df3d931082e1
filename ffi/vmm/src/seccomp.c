/* seccomp-BPF allowlists for vCPU and I/O loop threads (see seccomp.h).
 *
 * The program is generated from the tables below:
 *   1. a foreign architecture (i386/x32 entry points) kills the process: no
 *      legitimate VMM code makes such a call, and they would bypass the
 *      x86_64 numbers checked here;
 *   2. each allowed syscall is one JEQ on the number, followed either by
 *      RET ALLOW or by checks on one argument (ioctl request, socket domain);
 *   3. everything else returns SECCOMP_DENY_ERRNO.
 * Why each entry is there is said next to it; an entry is added only when a
 * code path on that thread needs it (the VMM and device suites run with the
 * filters on). */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp.h"

#define MAX_ARG_VALUES 8
#define MAX_PROG 256

struct sc_rule {
	long nr;
	int arg;       /* -1: any arguments; else the index whose low 32 bits must match */
	unsigned int nvals;
	unsigned int vals[MAX_ARG_VALUES];
};

#define ANY(n) { .nr = (n), .arg = -1 }

/* What every VMM thread needs whatever it runs: memory management for malloc
 * (and the sanitizer runtimes in test builds), locks, signals for the vCPU
 * kick, time, and its own exit. */
#define COMMON_RULES                                                                  \
	ANY(SYS_futex), ANY(SYS_read), ANY(SYS_write), ANY(SYS_readv), ANY(SYS_writev), \
	ANY(SYS_close), ANY(SYS_mmap), ANY(SYS_munmap), ANY(SYS_mprotect),            \
	ANY(SYS_madvise), ANY(SYS_mremap), ANY(SYS_brk), ANY(SYS_rt_sigreturn),      \
	ANY(SYS_rt_sigprocmask), ANY(SYS_sigaltstack), ANY(SYS_restart_syscall),     \
	ANY(SYS_clock_gettime), ANY(SYS_gettimeofday), ANY(SYS_nanosleep),            \
	ANY(SYS_clock_nanosleep), ANY(SYS_sched_yield), ANY(SYS_getpid),              \
	ANY(SYS_gettid), ANY(SYS_tgkill), ANY(SYS_getrandom), ANY(SYS_exit),          \
	/* kick eventfds, vhost-user vring setup (SCM_RIGHTS), loop registration */  \
	ANY(SYS_eventfd2), ANY(SYS_epoll_ctl), ANY(SYS_sendmsg), ANY(SYS_recvmsg),   \
	ANY(SYS_sendto), ANY(SYS_recvfrom)

/* vCPU threads: KVM_RUN and what exit handlers do (registers for fault
 * reports, interrupt lines for the UART, irqfd/ioeventfd when a virtio
 * device is activated from an MMIO write). No file opening, no sockets, no
 * thread or process creation, no exec. */
static const struct sc_rule vcpu_rules[] = {
	{ .nr = SYS_ioctl, .arg = 1, .nvals = 7,
	  .vals = { KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS, KVM_IRQ_LINE, KVM_IRQFD,
		    KVM_IOEVENTFD, KVM_SIGNAL_MSI } },
	COMMON_RULES,
};

/* The I/O loop: device back ends. Block I/O on an already open file, tap
 * reads and writes, vsock unix sockets (guest-initiated connections create
 * AF_UNIX sockets only), vhost-user messages. No open, no exec, no clone. */
static const struct sc_rule io_rules[] = {
	ANY(SYS_epoll_wait), ANY(SYS_epoll_pwait),
	COMMON_RULES,
	ANY(SYS_pread64), ANY(SYS_pwrite64), ANY(SYS_preadv), ANY(SYS_pwritev),
	ANY(SYS_preadv2), ANY(SYS_pwritev2), ANY(SYS_fsync), ANY(SYS_fdatasync),
	{ .nr = SYS_socket, .arg = 0, .nvals = 1, .vals = { AF_UNIX } },
	ANY(SYS_connect), ANY(SYS_accept4), ANY(SYS_shutdown), ANY(SYS_getsockopt),
	ANY(SYS_setsockopt), ANY(SYS_getsockname), ANY(SYS_getpeername), ANY(SYS_fcntl),
	{ .nr = SYS_ioctl, .arg = 1, .nvals = 6,
	  .vals = { KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_SIGNAL_MSI, FIONREAD,
		    FIONBIO } },
};

static void sc__rules(enum seccomp_role role, const struct sc_rule **r, size_t *n)
{
	if (role == SECCOMP_VCPU) {
		*r = vcpu_rules;
		*n = sizeof(vcpu_rules) / sizeof(vcpu_rules[0]);
	} else {
		*r = io_rules;
		*n = sizeof(io_rules) / sizeof(io_rules[0]);
	}
}

bool seccomp__allows(enum seccomp_role role, long nr)
{
	const struct sc_rule *rules;
	size_t n;

	sc__rules(role, &rules, &n);
	for (size_t i = 0; i < n; i++)
		if (rules[i].nr == nr)
			return true;
	return false;
}

#define EMIT(code, k_, jt_, jf_)                                                       \
	do {                                                                          \
		if (len >= MAX_PROG)                                                  \
			return -E2BIG;                                                \
		prog[len++] = (struct sock_filter){ (code), (jt_), (jf_), (k_) };     \
	} while (0)
#define RET_ALLOW SECCOMP_RET_ALLOW
#define RET_DENY (SECCOMP_RET_ERRNO | (SECCOMP_DENY_ERRNO & SECCOMP_RET_DATA))
#define X32_SYSCALL_BIT 0x40000000U

/* Builds the filter into prog; returns its length or a negative errno. */
static int sc__build(enum seccomp_role role, struct sock_filter *prog)
{
	const struct sc_rule *rules;
	size_t n;
	int len = 0;

	sc__rules(role, &rules, &n);
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	EMIT(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	EMIT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	/* x32 numbers share the arch value; refuse them before the table. */
	EMIT(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
	EMIT(BPF_RET | BPF_K, RET_DENY, 0, 0);
	for (size_t i = 0; i < n; i++) {
		const struct sc_rule *r = &rules[i];

		if (r->arg < 0) {
			EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)r->nr, 0, 1);
			EMIT(BPF_RET | BPF_K, RET_ALLOW, 0, 0);
			continue;
		}
		/* nr matches: load the argument's low word (little endian), allow
		 * on any listed value, else deny (A no longer holds nr, so the
		 * body must end in a return). Body: 1 load + nvals jumps + 2 rets. */
		EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)r->nr, 0,
		     (unsigned char)(r->nvals + 3));
		EMIT(BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, args) + 8 * (unsigned int)r->arg, 0, 0);
		for (unsigned int v = 0; v < r->nvals; v++)
			EMIT(BPF_JMP | BPF_JEQ | BPF_K, r->vals[v],
			     (unsigned char)(r->nvals - v), 0);
		EMIT(BPF_RET | BPF_K, RET_DENY, 0, 0);
		EMIT(BPF_RET | BPF_K, RET_ALLOW, 0, 0);
	}
	EMIT(BPF_RET | BPF_K, RET_DENY, 0, 0);
	return len;
}

int seccomp__install(enum seccomp_role role)
{
	struct sock_filter prog[MAX_PROG];
	struct sock_fprog fprog;
	int len = sc__build(role, prog);

	if (len < 0)
		return len;
	fprog = (struct sock_fprog){ .len = (unsigned short)len, .filter = prog };
	/* Per thread: needed without CAP_SYS_ADMIN, and harmless with it since
	 * these threads never exec. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog))
		return -errno;
	return 0;
}
