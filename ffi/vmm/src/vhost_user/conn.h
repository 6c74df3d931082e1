/* A vhost-user connection: whole messages over a unix stream socket with
 * their file descriptors (SCM_RIGHTS). Both roles use it. */
#ifndef JOEY_VHOST_USER_CONN_H
#define JOEY_VHOST_USER_CONN_H

#include "message.h"

/* Receives one message (blocking). Received fds are owned by *m; on error
 * they are closed. 0, -ECONNRESET at EOF, or negative errno. */
int vhu_conn__recv(int sock, struct vhu_msg *m);
/* Sends header + hdr.size payload bytes with m->fds[0..nfds). */
int vhu_conn__send(int sock, const struct vhu_msg *m);
/* Closes every fd a message still owns. */
void vhu_msg__close_fds(struct vhu_msg *m);

#endif
