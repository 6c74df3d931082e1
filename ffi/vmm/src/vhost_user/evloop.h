/* A small epoll loop for the vhost-user back end, which runs outside any VM
 * (its own thread or the joey-vhost-vsock helper) and so cannot use the
 * VMM's loop. Callbacks may add and delete fds, including their own. */
#ifndef JOEY_EVLOOP_H
#define JOEY_EVLOOP_H

#include <stdint.h>

typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop;

int evloop__new(struct evloop **out);
void evloop__free(struct evloop *l);
int evloop__add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque);
int evloop__mod(struct evloop *l, int fd, uint32_t events);
int evloop__del(struct evloop *l, int fd);
/* Waits up to timeout_ms and runs the callbacks of ready fds. Returns the
 * number handled or negative errno. */
int evloop__run_once(struct evloop *l, int timeout_ms);

#endif
