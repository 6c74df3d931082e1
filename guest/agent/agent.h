/* The agent's state: containers, their processes and stdio streams.
 *
 * Guest paths (the contract with the virt-container runtime):
 *   AGENT_SHARE_DIR            the virtiofs share (Storage driver "virtio-fs",
 *                              source = the mount tag) is mounted here by
 *                              CreateSandbox/CreateContainer storages
 *   AGENT_SHARE_DIR/<cid>/rootfs  a container's rootfs when Spec.Root.Path is
 *                              empty or relative ("rootfs" → this path)
 *   <cgroup root>/joey/<cid>   a container's cgroup (cgroup v2)
 * See guest/README.md. */
#ifndef JOEY_AGENT_AGENT_H
#define JOEY_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.pb-c.h"
#include "buf.h"
#include "loop.h"
#include "ttrpc.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_SHARE_DIR "/run/joey/shared/containers"
#define AGENT_VSOCK_PORT 1024
#define MAX_ID 128

struct proc;

/* One output stream (stdout or stderr; a terminal has only stdout). */
struct ostream {
	struct watch w;
	struct proc *proc;
	struct buf buf;
	bool eof;      /* the pipe or pty reached EOF */
	bool paused;   /* EPOLLIN off while the buffer is full */
	bool eof_delivered; /* a Read was answered with EOF */
};

/* A Read RPC waiting for data or EOF. */
struct read_wait {
	struct read_wait *next;
	struct call call;
	struct ostream *s;
	size_t len;
};

/* A WaitProcess RPC waiting for an exit. */
struct exit_wait {
	struct exit_wait *next;
	struct call call;
};

enum proc_state { PROC_CREATED, PROC_RUNNING, PROC_EXITED };

struct proc {
	struct proc *next;
	struct container *c;
	char exec_id[MAX_ID];
	pid_t pid;
	enum proc_state state;
	int status;      /* exit code, or 128 + signal */
	bool waited;     /* a WaitProcess got the status (exec processes go then) */
	bool terminal;
	int pty;         /* master, or -1 */
	int start_fd;    /* init only: written by StartContainer to let it exec */
	int status_fd;   /* init only: the child's verdict on that exec */
	struct watch in_w;
	int in_fd;       /* stdin write end (a dup of the master for a terminal) */
	struct buf in;
	bool in_close;   /* CloseStdin asked; close once drained */
	struct ostream out, err;
	struct read_wait *reads;
	struct exit_wait *waits;
};

enum container_state { C_CREATED, C_RUNNING, C_PAUSED, C_STOPPED };

struct mounted {
	struct mounted *next;
	char path[];
};

struct container {
	struct container *next;
	char id[MAX_ID];
	enum container_state state;
	char rootfs[4096];
	char cgroup[4096];
	Grpc__Spec *spec;      /* kept: exec inherits namespaces, cwd, env… */
	struct proc *init;
	struct proc *execs;
	struct mounted *mounts; /* storages mounted for this container */
	int oom_wd;            /* inotify watch on memory.events (oom.c), 0 = none */
	uint64_t oom_kills;    /* memory.events oom_kill already reported */
};

/* Global agent state. */
struct agent {
	struct container *containers;
	struct mounted *sandbox_mounts;
	char cgroup_root[4096];
	char share_dir[4096];
	int own_pidns;          /* fd of the agent's pid namespace */
	bool sandbox_created;
	bool is_init;
};

extern struct agent agent;

/* container.c */
struct container *container__find(const char *id);
int container__create(const Grpc__CreateContainerRequest *req, struct rpc_reply *r);
int container__start(struct container *c, struct rpc_reply *r);
int container__exec(struct container *c, const Grpc__ExecProcessRequest *req, struct rpc_reply *r);
int container__remove(struct container *c, unsigned timeout_s, struct rpc_reply *r);
struct proc *container__proc(struct container *c, const char *exec_id);
void container__remove_all(void);

/* process.c: stdio, exits, waiters */
int proc__setup_stdio(struct proc *p, int child_fds[3], bool terminal, const char *ptmx);
int proc__attach_pty(struct proc *p, int master);
void proc__release_stdio(struct proc *p);
void proc__exited(struct proc *p, int wstatus);
void proc__read(struct proc *p, struct ostream *s, size_t len, struct call *call);
void proc__wait(struct proc *p, struct call *call);
long proc__write_stdin(struct proc *p, const void *data, size_t len);
void proc__close_stdin(struct proc *p);
void proc__free(struct proc *p);
void proc__reap(void);

/* spawn.c: the child side of container and exec processes */
struct spawn_args {
	const Grpc__Spec *spec;     /* NULL for exec */
	const Grpc__Process *proc;
	const char *rootfs;
	int stdio[3];
	bool terminal;
	int sync_fd;   /* read: 'g' to set up, 's' to exec */
	int status_fd; /* write: 'R' ready, 'E'+message on failure; CLOEXEC */
	int ns_fds[5]; /* exec: ipc, uts, net, mnt (or -1) */
	const char *ptmx; /* exec: the container's ptmx; NULL = the child opens its own */
	int console_fd;   /* init with a terminal: the child sends its pty master here */
};
void spawn__child(const struct spawn_args *a) __attribute__((noreturn));

/* mount.c */
int mount__storage(const Grpc__Storage *s, struct mounted **list, struct rpc_reply *r);
void mount__undo(struct mounted **list);
/* Parses OCI mount options into flags, propagation flags and data. */
void mount__parse_options(char **opts, size_t n, unsigned long *flags, unsigned long *prop,
			  char *data, size_t cap);

/* cgroup.c */
int cgroup__init(const char *root);
int cgroup__create(struct container *c);
int cgroup__add(struct container *c, pid_t pid);
int cgroup__update(struct container *c, const Grpc__LinuxResources *res, struct rpc_reply *r);
int cgroup__freeze(struct container *c, bool frozen, struct rpc_reply *r);
int cgroup__stats(struct container *c, Grpc__CgroupStats *st);
void cgroup__stats_free(Grpc__CgroupStats *st);
int cgroup__kill(struct container *c);
void cgroup__destroy(struct container *c);
/* The memory.events oom_kill counter; -errno without the memory controller. */
int cgroup__oom_kills(const struct container *c, uint64_t *n);

/* oom.c: OOM kills counted in containers' cgroups, for GetOOMEvent */
void oom__watch(struct container *c);
void oom__unwatch(struct container *c);
void oom__check(struct container *c);
int oom__get_event(struct call *call, struct rpc_reply *r);
void oom__cancel_all(void);

/* service.c */
extern const struct rpc_method agent_methods[];
extern const size_t agent_methods_n;

#endif
