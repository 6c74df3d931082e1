/* The agent API: one handler per RPC of grpc.AgentService and grpc.Health,
 * translating requests into container/process operations. Order checks
 * (which state allows which call) live here; errors carry google.rpc codes
 * as containerd's errdefs expect them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "health.pb-c.h"
#include "net.h"
#include "util.h"

#define REQ(type, var) const type *var = (const type *)msg

static int find(const char *id, struct container **c, struct rpc_reply *r)
{
	*c = container__find(id);
	if (!*c)
		return rpc_fail(r, RPC_NOT_FOUND, "container \"%s\" not found", id);
	return 0;
}

static int find_proc(const char *cid, const char *exec_id, struct proc **p, struct rpc_reply *r)
{
	struct container *c;

	if (find(cid, &c, r))
		return -1;
	*p = container__proc(c, exec_id);
	if (!*p)
		return rpc_fail(r, RPC_NOT_FOUND, "process \"%s\" not found in container \"%s\"", exec_id, cid);
	return 0;
}

static int create_sandbox(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__CreateSandboxRequest, req);
	(void)call;
	if (agent.sandbox_created)
		return rpc_fail(r, RPC_ALREADY_EXISTS, "the sandbox already exists");
	if (req->hostname[0] && agent.is_init && sethostname(req->hostname, strlen(req->hostname)) < 0)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "sethostname: %s", strerror(errno));
	for (size_t i = 0; i < req->n_storages; i++)
		if (mount__storage(req->storages[i], &agent.sandbox_mounts, r)) {
			mount__undo(&agent.sandbox_mounts);
			return -1;
		}
	agent.sandbox_created = true;
	return 0;
}

static int destroy_sandbox(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	(void)msg, (void)call, (void)r;
	container__remove_all();
	mount__undo(&agent.sandbox_mounts);
	oom__cancel_all();
	agent.sandbox_created = false;
	return 0;
}

/* A lifecycle RPC's failure, in the log with the container (and exec) it was about. */
static int failed(int rc, const char *what, const char *cid, const char *exec_id, const struct rpc_reply *r)
{
	if (rc)
		agent_log_for(cid, exec_id, "%s failed: %s", what, r->msg);
	return rc;
}

static int create_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__CreateContainerRequest, req);

	(void)call;
	return failed(container__create(req, r), "create", req->container_id, NULL, r);
}

static int start_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__StartContainerRequest, req);
	struct container *c;
	int rc;

	(void)call;
	rc = find(req->container_id, &c, r) ? -1 : container__start(c, r);
	return failed(rc, "start", req->container_id, NULL, r);
}

static int remove_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__RemoveContainerRequest, req);
	struct container *c;
	int rc;

	(void)call;
	rc = find(req->container_id, &c, r) ? -1 : container__remove(c, req->timeout, r);
	return failed(rc, "remove", req->container_id, NULL, r);
}

static int exec_process(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__ExecProcessRequest, req);
	struct container *c;
	int rc;

	(void)call;
	rc = find(req->container_id, &c, r) ? -1 : container__exec(c, req, r);
	return failed(rc, "exec", req->container_id, req->exec_id, r);
}

static int signal_process(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__SignalProcessRequest, req);
	struct proc *p;

	(void)call;
	if (find_proc(req->container_id, req->exec_id, &p, r))
		return -1;
	if (req->signal == 0 || req->signal >= 65)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "invalid signal %u", req->signal);
	if (p->state == PROC_EXITED || !p->pid)
		return rpc_fail(r, RPC_NOT_FOUND, "process \"%s\" already finished", req->exec_id);
	/* A created (not yet started) init would die in set-up: let it go
	 * only for signals that kill. */
	if (kill(p->pid, req->signal) < 0)
		return rpc_fail(r, errno == ESRCH ? RPC_NOT_FOUND : RPC_INTERNAL, "kill: %s", strerror(errno));
	return 0;
}

static int wait_process(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__WaitProcessRequest, req);
	struct proc *p;

	if (find_proc(req->container_id, req->exec_id, &p, r))
		return -1;
	proc__wait(p, call);
	return 0;
}

static int read_stream(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r, bool err)
{
	REQ(Grpc__ReadStreamRequest, req);
	struct proc *p;

	if (find_proc(req->container_id, req->exec_id, &p, r))
		return -1;
	if (req->len > TTRPC_MAX_DATA - 1024)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "read length %u exceeds the message limit", req->len);
	proc__read(p, err ? &p->err : &p->out, req->len, call);
	return 0;
}

static int read_stdout(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	return read_stream(msg, call, r, false);
}

static int read_stderr(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	return read_stream(msg, call, r, true);
}

static int write_stdin(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__WriteStreamRequest, req);
	Grpc__WriteStreamResponse resp = GRPC__WRITE_STREAM_RESPONSE__INIT;
	struct proc *p;
	long n;

	if (find_proc(req->container_id, req->exec_id, &p, r))
		return -1;
	n = proc__write_stdin(p, req->data.data, req->data.len);
	if (n == -EPIPE)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "stdin of \"%s\" is closed", req->exec_id);
	if (n < 0)
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "stdin: %s", strerror(-n));
	/* n < len when the bounded buffer is full: the client sends the rest later. */
	resp.len = n;
	ttrpc__answer(call, &resp.base);
	return 0;
}

static int close_stdin(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__CloseStdinRequest, req);
	struct proc *p;

	(void)call;
	if (find_proc(req->container_id, req->exec_id, &p, r))
		return -1;
	proc__close_stdin(p);
	return 0;
}

static int tty_win_resize(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__TtyWinResizeRequest, req);
	struct winsize ws = { .ws_row = req->row, .ws_col = req->column };
	struct proc *p;

	(void)call;
	if (find_proc(req->container_id, req->exec_id, &p, r))
		return -1;
	if (p->pty < 0)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "process \"%s\" has no terminal", req->exec_id);
	if (p->state == PROC_EXITED)
		return rpc_fail(r, RPC_NOT_FOUND, "process \"%s\" already finished", req->exec_id);
	if (ioctl(p->pty, TIOCSWINSZ, &ws) < 0)
		return rpc_fail(r, RPC_INTERNAL, "TIOCSWINSZ: %s", strerror(errno));
	return 0;
}

static int pause_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__PauseContainerRequest, req);
	struct container *c;

	(void)call;
	if (find(req->container_id, &c, r))
		return -1;
	if (c->state != C_RUNNING)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s is not running", c->id);
	if (cgroup__freeze(c, true, r))
		return -1;
	c->state = C_PAUSED;
	return 0;
}

static int resume_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__ResumeContainerRequest, req);
	struct container *c;

	(void)call;
	if (find(req->container_id, &c, r))
		return -1;
	if (c->state != C_PAUSED)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "container %s is not paused", c->id);
	if (cgroup__freeze(c, false, r))
		return -1;
	c->state = c->init && c->init->state == PROC_EXITED ? C_STOPPED : C_RUNNING;
	return 0;
}

static int update_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__UpdateContainerRequest, req);
	struct container *c;

	(void)call;
	if (find(req->container_id, &c, r))
		return -1;
	if (!req->resources || (!req->resources->memory && !req->resources->cpu && !req->resources->pids &&
				!req->resources->blockio))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "update of %s without resources", c->id);
	return cgroup__update(c, req->resources, r);
}

static int stats_container(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__StatsContainerRequest, req);
	Grpc__StatsContainerResponse resp = GRPC__STATS_CONTAINER_RESPONSE__INIT;
	Grpc__CgroupStats st = GRPC__CGROUP_STATS__INIT;
	struct container *c;
	int err;

	if (find(req->container_id, &c, r))
		return -1;
	err = cgroup__stats(c, &st);
	if (!err) {
		resp.cgroup_stats = &st;
		ttrpc__answer(call, &resp.base);
	}
	cgroup__stats_free(&st);
	return err ? rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory") : 0;
}

static int guest_details(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	REQ(Grpc__GuestDetailsRequest, req);
	static char *storage[] = { "virtio-fs", "local", "bind", "tmpfs" };
	Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
	Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
	char buf[64];

	(void)r;
	if (req->mem_block_size &&
	    util__read_file("/sys/devices/system/memory/block_size_bytes", buf, sizeof(buf)) > 0)
		resp.mem_block_size_bytes = strtoull(buf, NULL, 16);
	if (req->mem_hotplug_probe)
		resp.support_mem_hotplug_probe = access("/sys/devices/system/memory/probe", F_OK) == 0;
	details.version = AGENT_VERSION;
	details.init_daemon = agent.is_init;
	details.n_storage_handlers = ARRAY_SIZE(storage);
	details.storage_handlers = storage;
	resp.agent_details = &details;
	ttrpc__answer(call, &resp.base);
	return 0;
}

/* A long poll: answered when a container's cgroup counts an OOM kill. */
static int get_oom_event(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	(void)msg;
	return oom__get_event(call, r);
}

static int health_check(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;

	(void)msg, (void)r;
	resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	ttrpc__answer(call, &resp.base);
	return 0;
}

static int health_version(const ProtobufCMessage *msg, struct call *call, struct rpc_reply *r)
{
	Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;

	(void)msg, (void)r;
	resp.grpc_version = "ttrpc";
	resp.agent_version = AGENT_VERSION;
	ttrpc__answer(call, &resp.base);
	return 0;
}

#define AGENT_RPC(name, type, fn) { "grpc.AgentService", name, &type##__descriptor, fn }

const struct rpc_method agent_methods[] = {
	AGENT_RPC("CreateSandbox", grpc__create_sandbox_request, create_sandbox),
	AGENT_RPC("DestroySandbox", grpc__destroy_sandbox_request, destroy_sandbox),
	AGENT_RPC("CreateContainer", grpc__create_container_request, create_container),
	AGENT_RPC("StartContainer", grpc__start_container_request, start_container),
	AGENT_RPC("RemoveContainer", grpc__remove_container_request, remove_container),
	AGENT_RPC("ExecProcess", grpc__exec_process_request, exec_process),
	AGENT_RPC("SignalProcess", grpc__signal_process_request, signal_process),
	AGENT_RPC("WaitProcess", grpc__wait_process_request, wait_process),
	AGENT_RPC("ReadStdout", grpc__read_stream_request, read_stdout),
	AGENT_RPC("ReadStderr", grpc__read_stream_request, read_stderr),
	AGENT_RPC("WriteStdin", grpc__write_stream_request, write_stdin),
	AGENT_RPC("CloseStdin", grpc__close_stdin_request, close_stdin),
	AGENT_RPC("TtyWinResize", grpc__tty_win_resize_request, tty_win_resize),
	AGENT_RPC("PauseContainer", grpc__pause_container_request, pause_container),
	AGENT_RPC("ResumeContainer", grpc__resume_container_request, resume_container),
	AGENT_RPC("UpdateContainer", grpc__update_container_request, update_container),
	AGENT_RPC("StatsContainer", grpc__stats_container_request, stats_container),
	AGENT_RPC("GetGuestDetails", grpc__guest_details_request, guest_details),
	AGENT_RPC("UpdateInterface", grpc__update_interface_request, net__update_interface),
	AGENT_RPC("UpdateRoutes", grpc__update_routes_request, net__update_routes),
	AGENT_RPC("ListInterfaces", grpc__list_interfaces_request, net__list_interfaces),
	AGENT_RPC("ListRoutes", grpc__list_routes_request, net__list_routes),
	AGENT_RPC("GetOOMEvent", grpc__get_oomevent_request, get_oom_event),
	{ "grpc.Health", "Check", &grpc__check_request__descriptor, health_check },
	{ "grpc.Health", "Version", &grpc__check_request__descriptor, health_version },
};
const size_t agent_methods_n = ARRAY_SIZE(agent_methods);
