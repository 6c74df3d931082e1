/* A minimal epoll loop: every watched fd carries a struct watch whose
 * callback runs when the fd is ready. Single-threaded by design: the agent
 * never blocks in a handler except for bounded child set-up handshakes. */
#ifndef JOEY_AGENT_LOOP_H
#define JOEY_AGENT_LOOP_H

#include <stdint.h>

struct watch;
typedef void (*watch_fn)(struct watch *w, uint32_t events);

struct watch {
	int fd;
	uint32_t events; /* the set currently registered */
	watch_fn fn;
};

int loop__init(void);
/* Registers w->fd for events; 0 or -errno. */
int loop__add(struct watch *w, int fd, uint32_t events, watch_fn fn);
/* Changes the registered event set (no-op when unchanged). */
int loop__mod(struct watch *w, uint32_t events);
/* Unregisters w (the caller closes the fd). */
void loop__del(struct watch *w);
/* Waits up to timeout_ms and dispatches; -errno on a fatal error. */
int loop__run_once(int timeout_ms);

#endif
