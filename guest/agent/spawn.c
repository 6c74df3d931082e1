/* The child side of a container's init process and of exec processes: runs
 * between clone/fork and execve, in the new (or joined) namespaces. Any
 * failure is reported on status_fd as 'E' + message, then _exit. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

static int status_fd = -1;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	int n;

	msg[0] = 'E';
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	(void)!write(status_fd, msg, n + 1);
	_exit(127);
}

static const char *const cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

static uint64_t cap_mask(char **names, size_t n)
{
	uint64_t m = 0;

	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		size_t j;

		if (!strncmp(s, "CAP_", 4))
			s += 4;
		for (j = 0; j < ARRAY_SIZE(cap_names); j++)
			if (!strcmp(s, cap_names[j]))
				break;
		if (j == ARRAY_SIZE(cap_names))
			die("unknown capability %s", names[i]);
		m |= 1ull << j;
	}
	return m;
}

static const struct {
	const char *name;
	int resource;
} rlimits[] = {
	{ "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static void apply_rlimits(const Grpc__Process *proc)
{
	for (size_t i = 0; i < proc->n_rlimits; i++) {
		const Grpc__POSIXRlimit *rl = proc->rlimits[i];
		struct rlimit lim = { rl->soft, rl->hard };
		size_t j;

		for (j = 0; j < ARRAY_SIZE(rlimits); j++)
			if (!strcmp(rl->type, rlimits[j].name))
				break;
		if (j == ARRAY_SIZE(rlimits))
			die("unknown rlimit %s", rl->type);
		if (setrlimit(rlimits[j].resource, &lim) < 0)
			die("setrlimit %s: %s", rl->type, strerror(errno));
	}
}

/* User, groups and capabilities, in the order that keeps the needed
 * privileges until the end: bounding set, keep-caps, ids, capset, ambient. */
static void apply_identity(const Grpc__Process *proc)
{
	const Grpc__LinuxCapabilities *caps = proc->capabilities;
	const Grpc__User *u = proc->user;
	uint32_t uid = u ? u->uid : 0, gid = u ? u->gid : 0;

	if (caps) {
		uint64_t bounding = cap_mask(caps->bounding, caps->n_bounding);
		for (unsigned i = 0; i <= CAP_LAST_CAP; i++)
			if (!(bounding & (1ull << i)) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
				die("dropping capability %u from the bounding set: %s", i, strerror(errno));
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		die("PR_SET_KEEPCAPS: %s", strerror(errno));
	if (setgroups(u ? u->n_additionalgids : 0, u ? (gid_t *)u->additionalgids : NULL) < 0)
		die("setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		die("setgid %u: %s", gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		die("setuid %u: %s", uid, strerror(errno));
	if (caps) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		uint64_t eff = cap_mask(caps->effective, caps->n_effective);
		uint64_t perm = cap_mask(caps->permitted, caps->n_permitted);
		uint64_t inh = cap_mask(caps->inheritable, caps->n_inheritable);
		uint64_t amb = cap_mask(caps->ambient, caps->n_ambient);

		for (int i = 0; i < 2; i++) {
			data[i].effective = eff >> (32 * i);
			data[i].permitted = perm >> (32 * i);
			data[i].inheritable = inh >> (32 * i);
		}
		if (syscall(SYS_capset, &hdr, data) < 0)
			die("capset: %s", strerror(errno));
		for (unsigned i = 0; i <= CAP_LAST_CAP; i++)
			if ((amb & (1ull << i)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
				die("raising ambient capability %u: %s", i, strerror(errno));
	}
	if (proc->nonewprivileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
}

/* Finds argv[0] on the container's PATH (not the agent's). */
static const char *find_program(const Grpc__Process *proc, char *out, size_t cap)
{
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	const char *prog = proc->args[0];

	if (strchr(prog, '/'))
		return prog;
	for (size_t i = 0; i < proc->n_env; i++)
		if (!strncmp(proc->env[i], "PATH=", 5))
			path = proc->env[i] + 5;
	while (*path) {
		size_t len = strcspn(path, ":");

		if (snprintf(out, cap, "%.*s/%s", (int)len, len ? path : ".", prog) < (int)cap &&
		    access(out, X_OK) == 0)
			return out;
		path += len;
		if (*path == ':')
			path++;
	}
	die("executable %s not found on PATH", prog);
}

/* Creates the mount point for a mount: a directory, or a file when a file
 * is bind-mounted. */
static void make_target(const char *target, const char *source, bool bind)
{
	struct stat st;

	if (bind && source && stat(source, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char parent[4096];
		char *slash;
		int fd;

		snprintf(parent, sizeof(parent), "%s", target);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = 0;
			util__mkdir_p(parent);
		}
		fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		return;
	}
	util__mkdir_p(target);
}

static void do_mount(const char *rootfs, const Grpc__Mount *m)
{
	unsigned long flags = 0, prop = 0;
	char data[1024], target[4096];
	const char *type = m->type && *m->type ? m->type : NULL;
	bool bind;

	if (m->destination[0] != '/' || util__path_climbs(m->destination))
		die("mount destination %s must be absolute without '..'", m->destination);
	if (util__path_join(target, sizeof(target), rootfs, m->destination))
		die("mount destination %s: path too long", m->destination);
	mount__parse_options(m->options, m->n_options, &flags, &prop, data, sizeof(data));
	if (type && !strcmp(type, "bind"))
		flags |= MS_BIND;
	bind = flags & MS_BIND;
	make_target(target, m->source, bind);
	if (bind ? mount(m->source, target, NULL, MS_BIND | (flags & MS_REC), NULL)
		 : mount(m->source, target, type, flags, data[0] ? data : NULL))
		die("mounting %s (%s) on %s: %s", m->source, type ? type : "bind", m->destination, strerror(errno));
	/* A bind mount ignores most flags on creation: apply them by remount. */
	if (bind && (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) &&
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)), NULL) < 0)
		die("remounting %s read-only: %s", m->destination, strerror(errno));
	if (prop && mount(NULL, target, NULL, prop, NULL) < 0)
		die("propagation of %s: %s", m->destination, strerror(errno));
}

/* When /dev is a fresh tmpfs, give it the standard nodes (bind-mounted from
 * the agent's /dev, which works in the VM and in host test mode alike) and
 * links. */
static void populate_dev(const char *rootfs)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	char path[4096];

	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		char src[64];
		int fd;

		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		snprintf(path, sizeof(path), "%s/dev/%s", rootfs, nodes[i]);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd >= 0)
			close(fd);
		if (mount(src, path, NULL, MS_BIND, NULL) < 0)
			die("binding %s into the container: %s", src, strerror(errno));
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		snprintf(path, sizeof(path), "%s/dev/%s", rootfs, links[i][1]);
		unlink(path);
		if (symlink(links[i][0], path) < 0 && errno != EEXIST)
			die("symlink %s: %s", path, strerror(errno));
	}
}

static void mask_paths(const Grpc__Linux *linux)
{
	for (size_t i = 0; i < linux->n_maskedpaths; i++) {
		const char *p = linux->maskedpaths[i];
		struct stat st;

		if (stat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0");
		else
			mount("/dev/null", p, NULL, MS_BIND, NULL);
	}
	for (size_t i = 0; i < linux->n_readonlypaths; i++) {
		const char *p = linux->readonlypaths[i];

		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) == 0)
			mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
	}
}

/* linux.sysctl, written through the container's /proc (its namespaces). */
static void apply_sysctls(const Grpc__Linux *linux)
{
	for (size_t i = 0; i < linux->n_sysctl; i++) {
		const char *key = linux->sysctl[i]->key;
		char path[512];
		int err;

		if (strchr(key, '/') || util__path_climbs(key) ||
		    snprintf(path, sizeof(path), "/proc/sys/%s", key) >= (int)sizeof(path))
			die("invalid sysctl %s", key);
		for (char *p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		err = util__write_file(path, linux->sysctl[i]->value);
		if (err)
			die("sysctl %s=%s: %s", key, linux->sysctl[i]->value, strerror(-err));
	}
}

/* The container's filesystem view: rootfs bind-mounted onto itself, the
 * spec's mounts, pivot_root into it, the old root detached. */
static void setup_rootfs(const Grpc__Spec *spec, const char *rootfs)
{
	bool dev_tmpfs = false;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making / private: %s", strerror(errno));
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		die("binding rootfs %s: %s", rootfs, strerror(errno));
	for (size_t i = 0; i < spec->n_mounts; i++) {
		do_mount(rootfs, spec->mounts[i]);
		if (!strcmp(spec->mounts[i]->destination, "/dev") && !strcmp(spec->mounts[i]->type, "tmpfs"))
			dev_tmpfs = true;
	}
	if (dev_tmpfs)
		populate_dev(rootfs);
	if (chdir(rootfs) < 0)
		die("chdir %s: %s", rootfs, strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root %s: %s", rootfs, strerror(errno));
	/* The old root is stacked under the new one at "/": detach it. */
	if (umount2(".", MNT_DETACH) < 0)
		die("detaching the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		die("chdir /: %s", strerror(errno));
	if (spec->linux) {
		/* Before masking: readonlyPaths usually holds /proc/sys. */
		apply_sysctls(spec->linux);
		mask_paths(spec->linux);
	}
	if (spec->root && spec->root->readonly &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		die("remounting the rootfs read-only: %s", strerror(errno));
}

/* Opens a pty in the container's devpts (after pivot_root) or, failing
 * that, from the agent's, sends the master to the agent and returns the
 * slave. */
static int open_console(const struct spawn_args *a, int fallback)
{
	char byte = 0, control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), s;

	if (m < 0)
		m = fallback;
	else if (fallback >= 0)
		close(fallback);
	if (m < 0)
		die("no /dev/ptmx for the terminal");
	if (unlockpt(m) < 0 || (s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY)) < 0)
		die("opening the terminal: %s", strerror(errno));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &m, sizeof(int));
	if (sendmsg(a->console_fd, &mh, 0) != 1)
		die("sending the terminal: %s", strerror(errno));
	close(m);
	close(a->console_fd);
	return s;
}

static void setup_stdio(const struct spawn_args *a, const int stdio[3])
{
	if (setsid() < 0)
		die("setsid: %s", strerror(errno));
	if (a->terminal && ioctl(stdio[0], TIOCSCTTY, 0) < 0)
		die("TIOCSCTTY: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		if (stdio[i] == i)
			fcntl(i, F_SETFD, 0); /* dup2 onto itself would keep CLOEXEC */
		else if (dup2(stdio[i], i) < 0)
			die("dup2 stdio: %s", strerror(errno));
	}
}

/* Drops the agent's descriptors (other processes' stdin pipes, sockets)
 * now rather than at exec: an init process may wait a long time for
 * StartContainer, and must not hold another process's stdin open. */
static void close_other_fds(const struct spawn_args *a)
{
	for (int fd = 3; fd < 4096; fd++) {
		bool keep = fd == a->sync_fd || fd == a->status_fd || fd == a->console_fd;

		for (int i = 0; i < 3; i++)
			keep |= fd == a->stdio[i];
		for (int i = 0; i < 5; i++)
			keep |= fd == a->ns_fds[i];
		if (!keep)
			close(fd);
	}
}

void spawn__child(const struct spawn_args *a)
{
	const Grpc__Process *proc = a->proc;
	char prog_buf[4096];
	const char *prog;
	char c = 0;

	status_fd = a->status_fd;
	/* The agent's signal mask (signalfd) must not leak into containers. */
	{
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (read(a->sync_fd, &c, 1) != 1 || c != 'g')
		_exit(127); /* the agent gave up on us */
	close_other_fds(a);
	for (int i = 0; i < 4; i++) {
		static const int types[] = { CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWNS };
		if (a->ns_fds[i] >= 0 && setns(a->ns_fds[i], types[i]) < 0)
			die("joining the container's namespaces: %s", strerror(errno));
	}
	{
		int stdio[3] = { a->stdio[0], a->stdio[1], a->stdio[2] };
		/* The agent's ptmx, opened while it is still reachable. */
		int fallback = a->console_fd >= 0 ? open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;

		if (a->spec) {
			setup_rootfs(a->spec, a->rootfs);
			if (a->spec->hostname && *a->spec->hostname &&
			    sethostname(a->spec->hostname, strlen(a->spec->hostname)) < 0)
				die("sethostname: %s", strerror(errno));
		}
		if (a->console_fd >= 0)
			stdio[0] = stdio[1] = stdio[2] = open_console(a, fallback);
		setup_stdio(a, stdio);
	}
	apply_rlimits(proc);
	if (proc->oomscoreadj) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)proc->oomscoreadj);
		util__write_file("/proc/self/oom_score_adj", v);
	}
	if (proc->cwd && *proc->cwd && chdir(proc->cwd) < 0) {
		if (util__mkdir_p(proc->cwd) < 0 || chdir(proc->cwd) < 0)
			die("cwd %s: %s", proc->cwd, strerror(errno));
	}
	prog = find_program(proc, prog_buf, sizeof(prog_buf));
	apply_identity(proc);
	(void)!write(status_fd, "R", 1);
	/* An init process waits here for StartContainer. */
	if (read(a->sync_fd, &c, 1) != 1 || c != 's')
		_exit(127);
	close(a->sync_fd);
	{
		char **argv = calloc(proc->n_args + 1, sizeof(char *));
		char **envp = calloc(proc->n_env + 1, sizeof(char *));

		if (!argv || !envp)
			die("out of memory");
		memcpy(argv, proc->args, proc->n_args * sizeof(char *));
		memcpy(envp, proc->env, proc->n_env * sizeof(char *));
		execve(prog, argv, envp);
		die("exec %s: %s", prog, strerror(errno));
	}
}
