/* Containers from the agent's side: CreateContainer clones the init process
 * into new namespaces and lets it set itself up (spawn.c) up to the exec,
 * StartContainer releases it, ExecProcess joins its namespaces, and
 * RemoveContainer kills, reaps and cleans up. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

/* How long a child may take to set itself up before the RPC fails. */
#define SETUP_TIMEOUT_MS 10000

struct container *container__find(const char *id)
{
	for (struct container *c = agent.containers; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

struct proc *container__proc(struct container *c, const char *exec_id)
{
	if (!exec_id[0] || (c->init && !strcmp(exec_id, c->init->exec_id)))
		return c->init;
	for (struct proc *p = c->execs; p; p = p->next)
		if (!strcmp(p->exec_id, exec_id))
			return p;
	return NULL;
}

static struct proc *proc__new(struct container *c, const char *exec_id)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->c = c;
	snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	p->start_fd = p->status_fd = -1;
	p->pty = p->in_fd = p->out.w.fd = p->err.w.fd = -1;
	return p;
}

/* Waits for the child's verdict on status_fd: 'R' = ready, 'E'... = failed,
 * EOF = exec'd (for exec processes, whose 'R' is followed by the exec). */
static int wait_status(int fd, char *msg, size_t cap)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	uint64_t deadline = util__now_ms() + SETUP_TIMEOUT_MS;
	size_t len = 0;

	msg[0] = 0;
	for (;;) {
		int left = deadline - util__now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			snprintf(msg, cap, "set-up timed out");
			return -ETIMEDOUT;
		}
		n = read(fd, msg + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		msg[len] = 0;
		if (msg[0] == 'R')
			return 0;
		if (len == cap - 1)
			break;
	}
	if (len && msg[0] == 'E') {
		memmove(msg, msg + 1, len);
		return -EINVAL;
	}
	snprintf(msg, cap, "the process died during set-up");
	return -ECHILD;
}

/* Namespace clone flags from the spec: a listed type without a path is
 * new; a mount namespace is always new (pivot_root needs it). */
static int ns_flags(const Grpc__Spec *spec, struct rpc_reply *r)
{
	int flags = CLONE_NEWNS;

	if (!spec->linux || !spec->linux->n_namespaces)
		return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	for (size_t i = 0; i < spec->linux->n_namespaces; i++) {
		const Grpc__LinuxNamespace *ns = spec->linux->namespaces[i];
		static const struct { const char *name; int flag; } types[] = {
			{ "pid", CLONE_NEWPID }, { "mount", CLONE_NEWNS }, { "uts", CLONE_NEWUTS },
			{ "ipc", CLONE_NEWIPC }, { "network", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP },
			{ "user", 0 },
		};
		size_t j;

		for (j = 0; j < ARRAY_SIZE(types); j++)
			if (!strcmp(ns->type, types[j].name))
				break;
		if (j == ARRAY_SIZE(types))
			return rpc_fail(r, RPC_INVALID_ARGUMENT, "unknown namespace type \"%s\"", ns->type);
		if (!types[j].flag)
			return rpc_fail(r, RPC_UNIMPLEMENTED, "user namespaces are not supported");
		/* A path names a host namespace, meaningless in the guest: the
		 * sandbox's own namespace (the agent's) is used instead. */
		if (!ns->path || !*ns->path)
			flags |= types[j].flag;
	}
	return flags;
}

static int resolve_rootfs(struct container *c, const Grpc__Spec *spec, struct rpc_reply *r)
{
	const char *path = spec->root && spec->root->path ? spec->root->path : "";
	char dir[4096 + MAX_ID + 2];

	if (path[0] == '/') {
		if (snprintf(c->rootfs, sizeof(c->rootfs), "%s", path) >= (int)sizeof(c->rootfs))
			return rpc_fail(r, RPC_INVALID_ARGUMENT, "rootfs path too long");
	} else {
		if (snprintf(dir, sizeof(dir), "%s/%s", agent.share_dir, c->id) >= (int)sizeof(dir))
			return rpc_fail(r, RPC_INVALID_ARGUMENT, "rootfs path too long");
		if (util__path_join(c->rootfs, sizeof(c->rootfs), dir, path[0] ? path : "rootfs"))
			return rpc_fail(r, RPC_INVALID_ARGUMENT, "rootfs path too long");
	}
	if (util__path_climbs(c->rootfs))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "rootfs %s has a '..' component", c->rootfs);
	if (access(c->rootfs, F_OK) < 0)
		return rpc_fail(r, RPC_NOT_FOUND, "rootfs %s: %s", c->rootfs, strerror(errno));
	return 0;
}

/* Receives one descriptor sent with SCM_RIGHTS; the fd or -errno. */
static int recv_fd(int sock)
{
	char byte, control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) <= 0)
		return -EPROTO;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void set_winsize(struct proc *p, uint32_t rows, uint32_t cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	if (p->pty >= 0 && rows && cols)
		ioctl(p->pty, TIOCSWINSZ, &ws);
}

/* Forks (or clones) a child that runs spawn__child, places it in the
 * container's cgroup, lets it set up and waits for its verdict. For an
 * init process the exec waits for StartContainer. */
static int spawn(struct container *c, struct proc *p, struct spawn_args *a, int clone_flags,
		 bool wait_start, struct rpc_reply *r)
{
	int sync[2] = { -1, -1 }, status[2] = { -1, -1 }, console[2] = { -1, -1 };
	char msg[600];
	pid_t pid = 0;
	int err;

	err = proc__setup_stdio(p, a->stdio, a->terminal, a->ptmx);
	if (err)
		return rpc_fail(r, RPC_INTERNAL, "stdio: %s", strerror(-err));
	/* Before the child exists, so its first look at the terminal sees it. */
	if (a->proc->consolesize)
		set_winsize(p, a->proc->consolesize->height, a->proc->consolesize->width);
	/* An init's terminal is opened by the child in the container's devpts. */
	if (a->terminal && !a->ptmx && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0) {
		rpc_fail(r, RPC_INTERNAL, "socketpair: %s", strerror(errno));
		goto fail_pipes;
	}
	a->console_fd = console[1];
	if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		err = errno;
		rpc_fail(r, RPC_INTERNAL, "pipe: %s", strerror(err));
		goto fail_pipes;
	}
	a->sync_fd = sync[0];
	a->status_fd = status[1];
	pid = syscall(SYS_clone, clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		/* ENOMEM here means the target pid namespace has lost its init:
		 * the container stopped and is not reaped yet. */
		if (errno == ENOMEM && !clone_flags)
			rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s is not running", c->id);
		else
			rpc_fail(r, RPC_INTERNAL, "clone: %s", strerror(errno));
		goto fail_pipes;
	}
	if (pid == 0)
		spawn__child(a);
	/* The parent's copies of the child's ends. */
	close(sync[0]);
	close(status[1]);
	sync[0] = status[1] = -1;
	if (console[1] >= 0)
		close(console[1]);
	console[1] = -1;
	for (int i = 0; i < 3; i++)
		if (a->stdio[i] >= 0)
			close(a->stdio[i]);
	a->stdio[0] = a->stdio[1] = a->stdio[2] = -1;
	p->pid = pid;
	err = cgroup__add(c, pid);
	if (err && err != -ENOENT) {
		rpc_fail(r, RPC_INTERNAL, "joining cgroup %s: %s", c->cgroup, strerror(-err));
		goto fail_child;
	}
	if (write(sync[1], "g", 1) != 1 || wait_status(status[0], msg, sizeof(msg)) < 0) {
		rpc_fail(r, RPC_INTERNAL, "%s: %s", p->exec_id[0] ? p->exec_id : c->id, msg);
		goto fail_child;
	}
	if (console[0] >= 0) {
		int m = recv_fd(console[0]);

		close(console[0]);
		console[0] = -1;
		if (m < 0 || (err = proc__attach_pty(p, m)) < 0) {
			rpc_fail(r, RPC_INTERNAL, "%s: receiving its terminal: %s", c->id,
				 strerror(m < 0 ? -m : -err));
			goto fail_child;
		}
		if (a->proc->consolesize)
			set_winsize(p, a->proc->consolesize->height, a->proc->consolesize->width);
	}
	if (wait_start) {
		/* Kept for StartContainer, which learns from status whether the exec worked. */
		p->start_fd = sync[1];
		p->status_fd = status[0];
		p->state = PROC_CREATED;
		return 0;
	}
	/* Release the exec and learn whether it worked: EOF = exec'd. */
	if (write(sync[1], "s", 1) != 1 || wait_status(status[0], msg, sizeof(msg)) != -ECHILD) {
		rpc_fail(r, RPC_INTERNAL, "%s: %s", p->exec_id, msg);
		goto fail_child;
	}
	close(sync[1]);
	close(status[0]);
	p->state = PROC_RUNNING;
	return 0;

fail_child:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	p->pid = 0;
fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (sync[i] >= 0) close(sync[i]);
		if (status[i] >= 0) close(status[i]);
		if (console[i] >= 0) close(console[i]);
	}
	for (int i = 0; i < 3; i++)
		if (a->stdio[i] >= 0)
			close(a->stdio[i]);
	proc__release_stdio(p);
	return -1;
}

static void container__free(struct container *c)
{
	struct container **pp;

	for (pp = &agent.containers; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	while (c->execs) {
		struct proc *p = c->execs;
		c->execs = p->next;
		proc__free(p);
	}
	if (c->init)
		proc__free(c->init);
	cgroup__destroy(c);
	mount__undo(&c->mounts);
	if (c->spec)
		grpc__spec__free_unpacked(c->spec, NULL);
	free(c);
}

int container__create(const Grpc__CreateContainerRequest *req, struct rpc_reply *r)
{
	const Grpc__Spec *spec = req->oci;
	struct spawn_args a = { 0 };
	struct container *c;
	uint8_t *packed;
	size_t len;
	int flags, err;

	if (!req->container_id[0] || strlen(req->container_id) >= MAX_ID || strchr(req->container_id, '/') ||
	    !strcmp(req->container_id, ".") || !strcmp(req->container_id, ".."))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "invalid container id \"%s\"", req->container_id);
	if (container__find(req->container_id))
		return rpc_fail(r, RPC_ALREADY_EXISTS, "container %s already exists", req->container_id);
	if (!spec || !spec->process || !spec->process->n_args)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "container %s: the OCI spec needs process.args",
				req->container_id);
	flags = ns_flags(spec, r);
	if (flags < 0)
		return -1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
	snprintf(c->id, sizeof(c->id), "%s", req->container_id);
	/* Keep a private copy of the spec: execs inherit from it. */
	len = grpc__spec__get_packed_size(spec);
	packed = malloc(len ? len : 1);
	if (packed) {
		grpc__spec__pack(spec, packed);
		c->spec = grpc__spec__unpack(NULL, len, packed);
		free(packed);
	}
	c->next = agent.containers;
	agent.containers = c;
	if (!c->spec) {
		rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < req->n_storages; i++)
		if (mount__storage(req->storages[i], &c->mounts, r))
			goto fail;
	if (resolve_rootfs(c, spec, r))
		goto fail;
	err = cgroup__create(c);
	if (err) {
		rpc_fail(r, RPC_INTERNAL, "cgroup for %s: %s", c->id, strerror(-err));
		goto fail;
	}
	if (spec->linux && cgroup__update(c, spec->linux->resources, r))
		goto fail;
	c->init = proc__new(c, req->exec_id);
	if (!c->init) {
		rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
		goto fail;
	}
	a.spec = c->spec;
	a.proc = c->spec->process;
	a.rootfs = c->rootfs;
	a.terminal = spec->process->terminal;
	for (int i = 0; i < 5; i++)
		a.ns_fds[i] = -1;
	if (spawn(c, c->init, &a, flags, true, r))
		goto fail;
	c->state = C_CREATED;
	agent_log_for(c->id, NULL, "created, init pid %d", (int)c->init->pid);
	return 0;
fail:
	container__free(c);
	return -1;
}

int container__start(struct container *c, struct rpc_reply *r)
{
	struct proc *p = c->init;
	char msg[600];
	int status_err;

	if (c->state != C_CREATED || !p || p->start_fd < 0)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s is not in the created state", c->id);
	if (write(p->start_fd, "s", 1) != 1) {
		close(p->start_fd);
		p->start_fd = -1;
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s: init process is gone", c->id);
	}
	close(p->start_fd);
	p->start_fd = -1;
	status_err = wait_status(p->status_fd, msg, sizeof(msg));
	close(p->status_fd);
	p->status_fd = -1;
	if (status_err != -ECHILD)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s: %s", c->id, msg);
	p->state = PROC_RUNNING;
	c->state = C_RUNNING;
	agent_log_for(c->id, NULL, "started");
	return 0;
}

int container__exec(struct container *c, const Grpc__ExecProcessRequest *req, struct rpc_reply *r)
{
	static const char *const ns_names[] = { "ipc", "uts", "net", "mnt" };
	struct spawn_args a = { 0 };
	struct proc *p;
	char path[64], ptmx[64];
	int pidns, rc = -1;

	if (!req->exec_id[0] || strlen(req->exec_id) >= MAX_ID)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "invalid exec id \"%s\"", req->exec_id);
	if (!req->process || !req->process->n_args)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "exec %s: process.args is empty", req->exec_id);
	proc__reap(); /* an init that just exited must count as stopped */
	if (c->state != C_RUNNING)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s is not running", c->id);
	if (container__proc(c, req->exec_id))
		return rpc_fail(r, RPC_ALREADY_EXISTS, "exec %s already exists in %s", req->exec_id, c->id);
	p = proc__new(c, req->exec_id);
	if (!p)
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
	for (int i = 0; i < 5; i++)
		a.ns_fds[i] = -1;
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", c->init->pid, ns_names[i]);
		a.ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (a.ns_fds[i] < 0) {
			rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s: %s: %s", c->id, path, strerror(errno));
			goto out;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", c->init->pid);
	pidns = open(path, O_RDONLY | O_CLOEXEC);
	/* Children of the agent are born in the container's pid namespace
	 * while pid_for_children points there; restored right after. */
	if (pidns < 0 || setns(pidns, CLONE_NEWPID) < 0) {
		rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s: joining its pid namespace: %s", c->id,
			 strerror(errno));
		if (pidns >= 0)
			close(pidns);
		goto out;
	}
	close(pidns);
	a.proc = req->process;
	a.terminal = req->process->terminal;
	snprintf(ptmx, sizeof(ptmx), "/proc/%d/root/dev/ptmx", c->init->pid);
	a.ptmx = ptmx;
	rc = spawn(c, p, &a, 0, false, r);
	if (setns(agent.own_pidns, CLONE_NEWPID) < 0)
		agent_log("restoring the agent's pid namespace: %s", strerror(errno));
	if (rc == 0) {
		agent_log_for(c->id, req->exec_id, "exec started, pid %d", (int)p->pid);
		p->next = c->execs;
		c->execs = p;
		p = NULL;
	}
out:
	for (int i = 0; i < 5; i++)
		if (a.ns_fds[i] >= 0)
			close(a.ns_fds[i]);
	if (p)
		proc__free(p);
	return rc;
}

static bool any_alive(struct container *c)
{
	if (c->init && c->init->pid && c->init->state != PROC_EXITED)
		return true;
	for (struct proc *p = c->execs; p; p = p->next)
		if (p->pid && p->state != PROC_EXITED)
			return true;
	return false;
}

int container__remove(struct container *c, unsigned timeout_s, struct rpc_reply *r)
{
	uint64_t deadline = util__now_ms() + (timeout_s ? timeout_s * 1000ull : 60000ull);

	if (c->state == C_PAUSED)
		cgroup__freeze(c, false, r);
	/* cgroup.kill reaches every process, including ones that left the pid
	 * namespace's tree; killing init tears the pid namespace down too. */
	cgroup__kill(c);
	if (c->init && c->init->pid && c->init->state != PROC_EXITED)
		kill(c->init->pid, SIGKILL);
	for (struct proc *p = c->execs; p; p = p->next)
		if (p->pid && p->state != PROC_EXITED)
			kill(p->pid, SIGKILL);
	while (any_alive(c)) {
		if (util__now_ms() > deadline)
			return rpc_fail(r, RPC_DEADLINE_EXCEEDED, "container %s: processes still alive after %u s",
					c->id, timeout_s);
		proc__reap();
		if (any_alive(c))
			usleep(2000);
	}
	agent_log_for(c->id, NULL, "removed");
	container__free(c);
	return 0;
}

void container__remove_all(void)
{
	struct rpc_reply r;

	while (agent.containers)
		if (container__remove(agent.containers, 5, &r) < 0) {
			agent_log_for(agent.containers->id, NULL, "%s", r.msg);
			container__free(agent.containers);
		}
}
