/* joey's vsock device served as a vhost-user back end, so that QEMU
 * (-device vhost-user-vsock-device) gives a guest the same hybrid vsock as
 * the built-in VMM. Used in-process (a thread of the joey process) or by
 * the joey-vhost-vsock helper. */
#ifndef JOEY_VHOST_VSOCK_H
#define JOEY_VHOST_VSOCK_H

#include <stddef.h>
#include <stdint.h>

/* Serves one front end: listens on socket_path (replacing a stale file),
 * accepts one connection, and runs the device until the front end
 * disconnects or stop_fd (may be -1) becomes readable. The hybrid listener
 * at uds exists from the start. Both socket files are removed on return.
 * 0 on a clean end, else negative errno with the reason in err. */
int vhost_vsock__serve(const char *socket_path, const char *uds, uint64_t guest_cid,
		       int stop_fd, char *err, size_t errlen);

/* The same on a library thread, confined by seccomp like a VM's I/O loop:
 * returns once both sockets listen. */
struct vhost_vsock_server;
int vhost_vsock__start(const char *socket_path, const char *uds, uint64_t guest_cid,
		       struct vhost_vsock_server **out, char *err, size_t errlen);
/* 1 while the thread serves, 0 once it returned. */
int vhost_vsock__running(struct vhost_vsock_server *s);
/* Ends the server (if still running), joins its thread and frees it;
 * returns what vhost_vsock__serve returned. */
int vhost_vsock__stop(struct vhost_vsock_server *s, char *err, size_t errlen);

#endif
