/* Processes from the agent's side: stdio pipes or a pty, bounded output
 * buffers served by the Read RPCs with EOF semantics, stdin, exits kept
 * until waited for. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

static void ostream__on_io(struct watch *w, uint32_t events);
static void stdin__on_io(struct watch *w, uint32_t events);

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Opens a pty pair from ptmx: the agent's /dev/ptmx, or, for an exec, the
 * container's devpts instance (through /proc/<init>/root) so that the
 * process can name its terminal (tty(1), ttyname(3)). */
static int open_pty(const char *ptmx, int *master, int *slave)
{
	int m = open(ptmx ? ptmx : "/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), s;

	if (m < 0 && ptmx)
		return open_pty(NULL, master, slave);
	if (m < 0)
		return -errno;
	if (unlockpt(m) < 0) {
		int err = -errno;
		close(m);
		return err;
	}
	/* The peer ioctl opens the slave of this very devpts instance. */
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int err = -errno;
		close(m);
		return err;
	}
	*master = m;
	*slave = s;
	return 0;
}

/* Makes a pty master the process's stdin and stdout (stderr is at EOF from
 * the start: a terminal has one output stream). Takes ownership of m. */
int proc__attach_pty(struct proc *p, int m)
{
	int in = fcntl(m, F_DUPFD_CLOEXEC, 0), out = fcntl(m, F_DUPFD_CLOEXEC, 0);
	int rc;

	p->pty = m;
	p->in_fd = in;
	p->out.w.fd = out;
	if (in < 0 || out < 0 || set_nonblock(in) || set_nonblock(out)) {
		rc = -errno;
		goto fail;
	}
	if ((rc = loop__add(&p->in_w, in, 0, stdin__on_io)) ||
	    (rc = loop__add(&p->out.w, out, EPOLLIN, ostream__on_io)))
		goto fail;
	return 0;
fail:
	proc__release_stdio(p);
	return rc;
}

/* Creates the process's stdio: child_fds get the child's ends (CLOEXEC in
 * the agent; spawn dup2s them), the agent keeps the others, non-blocking
 * and watched. A terminal without ptmx is left to the child, which opens
 * it in the container's devpts and sends the master back (proc__attach_pty). */
int proc__setup_stdio(struct proc *p, int child_fds[3], bool terminal, const char *ptmx)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rc;

	p->pty = p->in_fd = p->out.w.fd = p->err.w.fd = -1;
	p->out.proc = p->err.proc = p;
	p->terminal = terminal;
	child_fds[0] = child_fds[1] = child_fds[2] = -1;
	if (terminal) {
		int m = -1, s = -1;

		p->err.eof = true;
		if (!ptmx)
			return 0;
		rc = open_pty(ptmx, &m, &s);
		if (rc)
			return rc;
		child_fds[0] = s;
		child_fds[1] = fcntl(s, F_DUPFD_CLOEXEC, 0);
		child_fds[2] = fcntl(s, F_DUPFD_CLOEXEC, 0);
		rc = child_fds[1] < 0 || child_fds[2] < 0 ? -errno : proc__attach_pty(p, m);
		if (rc)
			for (int i = 0; i < 3; i++)
				if (child_fds[i] >= 0)
					close(child_fds[i]);
		return rc;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    set_nonblock(in[1]) || set_nonblock(out[0]) || set_nonblock(err[0])) {
		rc = -errno;
		goto fail;
	}
	p->in_fd = in[1];
	p->out.w.fd = out[0];
	p->err.w.fd = err[0];
	if ((rc = loop__add(&p->in_w, in[1], 0, stdin__on_io)) ||
	    (rc = loop__add(&p->out.w, out[0], EPOLLIN, ostream__on_io)) ||
	    (rc = loop__add(&p->err.w, err[0], EPOLLIN, ostream__on_io))) {
		proc__release_stdio(p);
		in[1] = out[0] = err[0] = -1;
		goto fail;
	}
	child_fds[0] = in[0];
	child_fds[1] = out[1];
	child_fds[2] = err[1];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0) close(in[i]);
		if (out[i] >= 0) close(out[i]);
		if (err[i] >= 0) close(err[i]);
	}
	p->pty = p->in_fd = p->out.w.fd = p->err.w.fd = -1;
	return rc;
}

static void ostream__close(struct ostream *s)
{
	if (s->w.fd >= 0) {
		loop__del(&s->w);
		close(s->w.fd);
		s->w.fd = -1;
	}
	s->eof = true;
}

static void stdin__close(struct proc *p)
{
	if (p->in_fd >= 0) {
		loop__del(&p->in_w);
		close(p->in_fd);
		p->in_fd = -1;
	}
	buf__free(&p->in);
}

void proc__release_stdio(struct proc *p)
{
	stdin__close(p);
	ostream__close(&p->out);
	ostream__close(&p->err);
	if (p->pty >= 0)
		close(p->pty);
	p->pty = -1;
}

/* An exec process goes once its status was taken and each stream's EOF
 * was delivered to a reader, so a client may read before or after
 * WaitProcess in any order; until then it stays (bounded) until removal. */
static void proc__maybe_free(struct proc *p)
{
	struct proc **pp;

	if (p == p->c->init || !p->waited || p->reads || p->waits)
		return;
	if (!p->out.eof_delivered || !p->err.eof_delivered)
		return;
	for (pp = &p->c->execs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			proc__free(p);
			return;
		}
	}
}

static void answer_read(struct read_wait *rw)
{
	Grpc__ReadStreamResponse resp = GRPC__READ_STREAM_RESPONSE__INIT;
	uint8_t *data = NULL;
	size_t n = rw->s->buf.len < rw->len ? rw->s->buf.len : rw->len;

	if (n) {
		data = malloc(n);
		if (!data) {
			ttrpc__answer_error(&rw->call, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
			return;
		}
		buf__take(&rw->s->buf, data, n);
	}
	if (!n)
		rw->s->eof_delivered = true;
	resp.data.data = data;
	resp.data.len = n;
	ttrpc__answer(&rw->call, &resp.base);
	free(data);
}

/* Answers the readers of s that can be answered now (data or EOF). */
static void ostream__serve(struct ostream *s)
{
	struct proc *p = s->proc;
	struct read_wait **pp = &p->reads;

	while (*pp) {
		struct read_wait *rw = *pp;

		if (ttrpc__call_alive(&rw->call) && (rw->s != s || (!s->buf.len && !s->eof))) {
			pp = &rw->next;
			continue;
		}
		*pp = rw->next;
		/* A reader whose client has gone must not swallow the data. */
		if (ttrpc__call_alive(&rw->call))
			answer_read(rw);
		else
			ttrpc__drop(&rw->call);
		free(rw);
	}
	if (s->paused && buf__space(&s->buf) && s->w.fd >= 0) {
		s->paused = false;
		loop__mod(&s->w, EPOLLIN);
	}
}

static void ostream__on_io(struct watch *w, uint32_t events)
{
	struct ostream *s = container_of(w, struct ostream, w);
	struct proc *p = s->proc;
	long n;

	(void)events;
	n = buf__fill(&s->buf, w->fd);
	if (n == -ENOBUFS) {
		/* Full: stop reading; the writer blocks until a Read drains it. */
		s->paused = true;
		loop__mod(&s->w, 0);
		return;
	}
	if (n == -EAGAIN || n == -EINTR)
		return;
	/* 0 = EOF; EIO = the pty's slave side is closed everywhere. */
	if (n <= 0)
		ostream__close(s);
	ostream__serve(s);
	proc__maybe_free(p);
}

static void stdin__on_io(struct watch *w, uint32_t events)
{
	struct proc *p = container_of(w, struct proc, in_w);
	long n;

	if (events & (EPOLLERR | EPOLLHUP)) {
		stdin__close(p);
		return;
	}
	n = buf__drain(&p->in, p->in_fd);
	if (n < 0 && n != -EAGAIN && n != -EINTR) {
		stdin__close(p);
		return;
	}
	if (!p->in.len) {
		if (p->in_close)
			proc__close_stdin(p);
		else
			loop__mod(&p->in_w, 0);
	}
}

long proc__write_stdin(struct proc *p, const void *data, size_t len)
{
	long n;

	if (p->in_fd < 0 || p->in_close)
		return -EPIPE;
	n = buf__put(&p->in, data, len);
	if (n < 0)
		return n;
	stdin__on_io(&p->in_w, 0);
	if (p->in.len && p->in_fd >= 0)
		loop__mod(&p->in_w, EPOLLOUT);
	return n;
}

void proc__close_stdin(struct proc *p)
{
	p->in_close = true;
	if (p->in_fd < 0 || p->in.len)
		return;
	if (p->terminal) {
		/* The terminal stays open for output: end input the way a
		 * typist would, with VEOF at the start of a line. */
		static const char eot = 4;
		(void)!write(p->in_fd, &eot, 1);
	}
	stdin__close(p);
}

void proc__read(struct proc *p, struct ostream *s, size_t len, struct call *call)
{
	struct read_wait *rw = calloc(1, sizeof(*rw));

	if (!rw) {
		ttrpc__answer_error(call, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
		return;
	}
	ttrpc__hold(call, &rw->call);
	rw->s = s;
	rw->len = len ? len : 65536;
	rw->next = p->reads;
	p->reads = rw;
	ostream__serve(s);
	proc__maybe_free(p);
}

static void answer_wait(struct proc *p, struct call *call)
{
	Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;

	resp.status = p->status;
	p->waited = true;
	ttrpc__answer(call, &resp.base);
}

void proc__wait(struct proc *p, struct call *call)
{
	struct exit_wait *ew;

	if (p->state == PROC_EXITED) {
		answer_wait(p, call);
		proc__maybe_free(p);
		return;
	}
	ew = calloc(1, sizeof(*ew));
	if (!ew) {
		ttrpc__answer_error(call, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
		return;
	}
	ttrpc__hold(call, &ew->call);
	ew->next = p->waits;
	p->waits = ew;
}

void proc__exited(struct proc *p, int wstatus)
{
	p->state = PROC_EXITED;
	p->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (p == p->c->init)
		p->c->state = C_STOPPED;
	agent_log_for(p->c->id, p == p->c->init ? NULL : p->exec_id, "exited with status %d", p->status);
	/* An OOM kill is counted before its SIGKILL: report it ahead of the exit. */
	oom__check(p->c);
	while (p->waits) {
		struct exit_wait *ew = p->waits;

		p->waits = ew->next;
		answer_wait(p, &ew->call);
		free(ew);
	}
	proc__maybe_free(p);
}

void proc__free(struct proc *p)
{
	while (p->reads) {
		struct read_wait *rw = p->reads;

		p->reads = rw->next;
		/* The process is gone: its streams end here. */
		rw->s->eof = true;
		answer_read(rw);
		free(rw);
	}
	while (p->waits) {
		struct exit_wait *ew = p->waits;

		p->waits = ew->next;
		if (p->state == PROC_EXITED)
			answer_wait(p, &ew->call);
		else
			ttrpc__answer_error(&ew->call, RPC_NOT_FOUND, "process %s was removed", p->exec_id);
		free(ew);
	}
	proc__release_stdio(p);
	buf__free(&p->out.buf);
	buf__free(&p->err.buf);
	if (p->start_fd >= 0)
		close(p->start_fd);
	if (p->status_fd >= 0)
		close(p->status_fd);
	free(p);
}

static struct proc *find_pid(pid_t pid)
{
	for (struct container *c = agent.containers; c; c = c->next) {
		if (c->init && c->init->pid == pid)
			return c->init;
		for (struct proc *p = c->execs; p; p = p->next)
			if (p->pid == pid)
				return p;
	}
	return NULL;
}

/* Reaps every exited child; orphans re-parented to the agent (PID 1 or
 * subreaper) are reaped and forgotten. */
void proc__reap(void)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct proc *p = find_pid(pid);

		if (p && p->state != PROC_EXITED)
			proc__exited(p, st);
	}
}
