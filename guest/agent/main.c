/* joey-agent: PID 1 of the sandbox VM, serving the agent API over ttrpc on
 * AF_VSOCK port 1024. Host test mode (--unix PATH) serves the same API on a
 * unix socket, meant to run inside `unshare --mount --pid --fork
 * --mount-proc`, so container logic is tested without a VM.
 *
 *   joey-agent [--vsock PORT] [--unix PATH] [--cgroup-root DIR] [--share-dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "net.h"
#include "util.h"

struct agent agent;

/* pivot_root(2) refuses to move the initramfs (rootfs has no parent
 * mount), so containers could not pivot. Like switch_root, put a tmpfs over
 * "/" and chroot into it: the root is then a real mount. */
static void init__leave_initramfs(void)
{
	if (mkdir("/root.tmpfs", 0755) < 0 && errno != EEXIST)
		goto fail;
	if (mount("tmpfs", "/root.tmpfs", "tmpfs", 0, "mode=0755") < 0 || chdir("/root.tmpfs") < 0 ||
	    mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		goto fail;
	return;
fail:
	agent_log("leaving the initramfs: %s (containers cannot pivot_root)", strerror(errno));
}

/* What the kernel does not mount for an initramfs /init. */
static void init__mount_basics(void)
{
	static const struct {
		const char *src, *dst, *type;
		unsigned long flags;
		const char *data;
	} m[] = {
		{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
		{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
		{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
		{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666" },
		{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
		{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
		{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		util__mkdir_p(m[i].dst);
		if (mount(m[i].src, m[i].dst, m[i].type, m[i].flags, m[i].data) < 0 && errno != EBUSY)
			agent_log("mount %s on %s: %s", m[i].type, m[i].dst, strerror(errno));
	}
	/* An initramfs without /dev/console starts init with no stdio. */
	if (fcntl(STDERR_FILENO, F_GETFD) < 0) {
		int fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd >= 0) {
			dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	sethostname("joey", 4);
}

/* Loads the modules listed in /etc/modules (one path per line, in
 * dependency order): only for a guest kernel without vsock built in, such
 * as the distribution kernel the boot benchmark compares against. */
static void init__load_modules(void)
{
	char list[4096], cmdline[4096], *line, *save = NULL;

	if (util__read_file("/etc/modules", list, sizeof(list)) <= 0)
		return;
	/* Boot parameters of modules ("virtio_mmio.device=...") reach a module
	 * only if its loader passes them, as modprobe does. */
	util__mkdir_p("/proc");
	mount("proc", "/proc", "proc", 0, NULL);
	if (util__read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		cmdline[0] = 0;
	umount2("/proc", MNT_DETACH);
	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], params[1024] = "", args[4096], *p, *tok, *tsave = NULL;
		const char *base = strrchr(line, '/') ? strrchr(line, '/') + 1 : line;
		size_t used = 0, nlen;
		int fd;

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "."), base);
		for (p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		nlen = strlen(name);
		snprintf(args, sizeof(args), "%s", cmdline);
		for (tok = strtok_r(args, " \n", &tsave); tok; tok = strtok_r(NULL, " \n", &tsave)) {
			if (strncmp(tok, name, nlen) || tok[nlen] != '.' || used + strlen(tok) + 2 > sizeof(params))
				continue;
			used += snprintf(params + used, sizeof(params) - used, "%s%s", used ? " " : "", tok + nlen + 1);
		}
		fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, params, 0) < 0)
			agent_log("loading module %s: %s", line, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
}

static int listen_vsock(unsigned port)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A field of a /proc/self file in KiB, or -1. */
static long proc_kib(const char *file, const char *field)
{
	char text[4096], path[64], *p;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	if (util__read_file(path, text, sizeof(text)) < 0 || !(p = strstr(text, field)))
		return -1;
	return strtol(p + strlen(field), NULL, 10);
}

/* Resident KiB. smaps_rollup walks the page tables; status can lag by up
 * to 64 faults per task on kernels that batch RSS counters (6.1). */
static long rss_kib(void)
{
	long kib = proc_kib("smaps_rollup", "\nRss:");

	return kib >= 0 ? kib : proc_kib("status", "VmRSS:");
}

static struct watch sig_w;
static volatile int stopping;

static void on_signal(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			proc__reap();
		else if (!agent.is_init)
			stopping = 1; /* PID 1 of the VM does not stop on signals */
	}
	/* Coalesced SIGCHLDs: reap whatever else has exited. */
	proc__reap();
}

static void on_async_signal(int sig)
{
	(void)sig;
}

static void usage(void)
{
	fprintf(stderr, "usage: joey-agent [--vsock PORT] [--unix PATH] [--cgroup-root DIR] [--share-dir DIR]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vsock", required_argument, NULL, 'v' }, { "unix", required_argument, NULL, 'u' },
		{ "cgroup-root", required_argument, NULL, 'c' }, { "share-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *unix_path = NULL;
	unsigned port = AGENT_VSOCK_PORT;
	sigset_t mask;
	int lfd, sfd, opt, err;

	snprintf(agent.cgroup_root, sizeof(agent.cgroup_root), "/sys/fs/cgroup");
	snprintf(agent.share_dir, sizeof(agent.share_dir), "%s", AGENT_SHARE_DIR);
	/* The kernel passes unknown command-line words to init: ignore them. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'v': port = strtoul(optarg, NULL, 10); break;
		case 'u': unix_path = optarg; break;
		case 'c': snprintf(agent.cgroup_root, sizeof(agent.cgroup_root), "%s", optarg); break;
		case 's': snprintf(agent.share_dir, sizeof(agent.share_dir), "%s", optarg); break;
		case 'h': usage(); return 0;
		default: break;
		}
	}
	agent.is_init = getpid() == 1 && !unix_path;
	if (agent.is_init) {
		init__load_modules();
		init__leave_initramfs();
		init__mount_basics();
	}
	/* Orphans of containers come back to the agent to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	/* Handlers that do nothing: the signals are taken from the signalfd,
	 * but as init of a pid namespace (host test mode) a signal with the
	 * default action would never even be queued. */
	{
		struct sigaction sa = { .sa_handler = on_async_signal };
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	agent.own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (agent.own_pidns < 0) {
		agent_log("opening /proc/self/ns/pid: %s", strerror(errno));
		return 1;
	}
	net__init();
	err = cgroup__init(agent.cgroup_root);
	if (err)
		agent_log("cgroup root %s: %s (containers run without cgroup limits)", agent.cgroup_root,
			  strerror(-err));
	if ((err = loop__init()) < 0) {
		agent_log("epoll: %s", strerror(-err));
		return 1;
	}
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0 || loop__add(&sig_w, sfd, EPOLLIN, on_signal) < 0) {
		agent_log("signalfd: %s", strerror(errno));
		return 1;
	}
	lfd = unix_path ? listen_unix(unix_path) : listen_vsock(port);
	if (lfd < 0 || ttrpc__serve(lfd, agent_methods, agent_methods_n) < 0) {
		agent_log("listening on %s %s: %s", unix_path ? "unix" : "vsock port", unix_path ? unix_path : "",
			  strerror(lfd < 0 ? -lfd : errno));
		return 1;
	}
	{
		char up[64] = "?";
		util__read_file("/proc/uptime", up, sizeof(up));
		up[strcspn(up, " ")] = 0;
		if (unix_path)
			agent_log("ready on unix %s, rss %ld KiB", unix_path, rss_kib());
		else
			agent_log("ready on vsock port %u, uptime %s s, rss %ld KiB", port, up, rss_kib());
	}
	while (!stopping) {
		err = loop__run_once(-1);
		if (err < 0) {
			agent_log("event loop: %s", strerror(-err));
			break;
		}
	}
	/* Host test mode: leave nothing behind. */
	ttrpc__shutdown();
	container__remove_all();
	mount__undo(&agent.sandbox_mounts);
	if (unix_path)
		unlink(unix_path);
	{
		char path[4200];
		snprintf(path, sizeof(path), "%s/joey", agent.cgroup_root);
		rmdir(path);
	}
	return 0;
}
