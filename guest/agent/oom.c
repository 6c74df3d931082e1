/* OOM events for GetOOMEvent. Each container's cgroup v2 memory.events is
 * watched with inotify: kernfs raises IN_MODIFY on it when a counter
 * changes, so the agent's epoll loop learns of an OOM kill without polling.
 * A grown "oom_kill" counter queues the container's id (bounded, one entry
 * per container until taken); GetOOMEvent is a long poll that takes the
 * oldest entry, or is held until there is one. The kernel counts the kill
 * before it sends SIGKILL, so checking again when a process of the
 * container exits puts its OOM event ahead of its exit.
 *
 * Held calls end when their connection closes (released through the ttrpc
 * close hook) or on DestroySandbox (answered Canceled). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

/* More distinct containers than this with an untaken OOM means the host is
 * not polling: later ones are logged and dropped. */
#define OOM_QUEUE_MAX 64
/* The host keeps one call per sandbox; a few more (a reconnect racing the
 * old connection's close) are fine, an unbounded number is not. */
#define OOM_WAITERS_MAX 16

struct oom_wait {
	struct oom_wait *next;
	struct call call;
};

static struct {
	struct watch w;               /* the inotify fd, made on first use */
	bool ready;
	bool logged_missing;
	char queue[OOM_QUEUE_MAX][MAX_ID];
	unsigned head, len;
	struct oom_wait *waits, **waits_tail;
	unsigned n_waits;
} oom = { .w.fd = -1, .waits_tail = &oom.waits };

static void oom__on_inotify(struct watch *w, uint32_t events);

static int oom__ensure(void)
{
	int fd, err;

	if (oom.ready)
		return 0;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = loop__add(&oom.w, fd, EPOLLIN, oom__on_inotify);
	if (err) {
		close(fd);
		oom.w.fd = -1;
		return err;
	}
	oom.ready = true;
	return 0;
}

/* Releases held calls whose client has gone (the ttrpc close hook). Safe
 * while an answer is being sent: a call being answered is off the list. */
static void oom__purge(void)
{
	struct oom_wait **pp = &oom.waits;

	while (*pp) {
		struct oom_wait *w = *pp;

		if (ttrpc__call_alive(&w->call)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		ttrpc__drop(&w->call);
		free(w);
		oom.n_waits--;
	}
	oom.waits_tail = pp;
}

static struct oom_wait *oom__pop_wait(void)
{
	struct oom_wait *w = oom.waits;

	if (!w)
		return NULL;
	oom.waits = w->next;
	if (!oom.waits)
		oom.waits_tail = &oom.waits;
	oom.n_waits--;
	return w;
}

/* Answers held calls while there are events for them. */
static void oom__serve(void)
{
	while (oom.len && oom.waits) {
		Grpc__OOMEvent ev = GRPC__OOMEVENT__INIT;
		struct oom_wait *w = oom__pop_wait();
		char id[MAX_ID];

		if (!ttrpc__call_alive(&w->call)) {
			ttrpc__drop(&w->call);
			free(w);
			continue;
		}
		memcpy(id, oom.queue[oom.head], MAX_ID);
		oom.head = (oom.head + 1) % OOM_QUEUE_MAX;
		oom.len--;
		ev.container_id = id;
		ttrpc__answer(&w->call, &ev.base);
		free(w);
	}
}

static void oom__push(const char *id)
{
	for (unsigned i = 0; i < oom.len; i++)
		if (!strcmp(oom.queue[(oom.head + i) % OOM_QUEUE_MAX], id))
			return; /* already waiting to be taken: one event says it */
	if (oom.len == OOM_QUEUE_MAX) {
		agent_log_for(id, NULL, "oom: event queue full, dropping the event");
		return;
	}
	snprintf(oom.queue[(oom.head + oom.len) % OOM_QUEUE_MAX], MAX_ID, "%s", id);
	oom.len++;
}

void oom__check(struct container *c)
{
	uint64_t n;

	if (!c->oom_wd || cgroup__oom_kills(c, &n) || n <= c->oom_kills)
		return;
	c->oom_kills = n;
	agent_log_for(c->id, NULL, "oom: oom_kill %llu", (unsigned long long)n);
	oom__push(c->id);
	oom__serve();
}

void oom__watch(struct container *c)
{
	char path[4200];
	int wd;

	if (c->oom_wd || oom__ensure())
		return;
	snprintf(path, sizeof(path), "%s/memory.events", c->cgroup);
	wd = inotify_add_watch(oom.w.fd, path, IN_MODIFY);
	if (wd < 0) {
		/* No memory controller (host test mode on a host that keeps it
		 * in cgroup v1): containers run, without OOM events. */
		if (!oom.logged_missing)
			agent_log("oom: watching %s: %s (no OOM events)", path, strerror(errno));
		oom.logged_missing = true;
		return;
	}
	c->oom_wd = wd;
	/* A cgroup left from before (EEXIST) may have counted kills already. */
	if (cgroup__oom_kills(c, &c->oom_kills))
		c->oom_kills = 0;
}

void oom__unwatch(struct container *c)
{
	if (!c->oom_wd)
		return;
	inotify_rm_watch(oom.w.fd, c->oom_wd);
	c->oom_wd = 0;
}

static struct container *oom__by_wd(int wd)
{
	for (struct container *c = agent.containers; c; c = c->next)
		if (c->oom_wd == wd)
			return c;
	return NULL;
}

static void oom__on_inotify(struct watch *w, uint32_t events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)events;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			struct container *c;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* Events were lost: look at every container. */
				for (c = agent.containers; c; c = c->next)
					oom__check(c);
				continue;
			}
			c = oom__by_wd(ev->wd);
			if (!c)
				continue; /* a watch already removed */
			if (ev->mask & IN_IGNORED)
				c->oom_wd = 0; /* the cgroup went away under us */
			else
				oom__check(c);
		}
	}
}

int oom__get_event(struct call *call, struct rpc_reply *r)
{
	struct oom_wait *w;

	/* Closing connections release their calls at once (so only calls of
	 * live clients count against the bound). */
	if (ttrpc__on_close(oom__purge))
		return rpc_fail(r, RPC_INTERNAL, "oom: no room for a ttrpc close hook");
	if (oom.n_waits >= OOM_WAITERS_MAX)
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "oom: %u GetOOMEvent calls are already waiting",
				oom.n_waits);
	w = calloc(1, sizeof(*w));
	if (!w)
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
	ttrpc__hold(call, &w->call);
	*oom.waits_tail = w;
	oom.waits_tail = &w->next;
	oom.n_waits++;
	oom__serve();
	return 0;
}

void oom__cancel_all(void)
{
	struct oom_wait *w;

	oom.head = oom.len = 0;
	while ((w = oom__pop_wait())) {
		ttrpc__answer_error(&w->call, RPC_CANCELED, "the sandbox was destroyed");
		free(w);
	}
}
