/* The public C API (joey_vmm.h) of the in-process vhost-user vsock back end:
 * thin wrappers over vsock_backend.c's server thread, with the argument
 * checks an FFI caller needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joey_vmm.h"
#include "vsock_backend.h"

struct joey_vhost_vsock {
	struct vhost_vsock_server *server;
};

static void set_err(char *err, uint32_t errlen, const char *text)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", text);
}

int joey_vhost_vsock_start(const char *socket_path, const char *uds, uint64_t guest_cid,
			   joey_vhost_vsock **out, char *err, uint32_t errlen)
{
	char why[256] = "";
	struct joey_vhost_vsock *s;
	int r;

	if (out)
		*out = NULL;
	if (!socket_path || !*socket_path || !uds || !*uds || !out) {
		set_err(err, errlen, "vhost-user vsock: socket path, hybrid socket and out needed");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "vhost-user vsock: out of memory");
		return -ENOMEM;
	}
	r = vhost_vsock__start(socket_path, uds, guest_cid, &s->server, why, sizeof(why));
	if (r) {
		free(s);
		if (!why[0])
			snprintf(why, sizeof(why), "%s", strerror(-r));
		set_err(err, errlen, why);
		return r;
	}
	set_err(err, errlen, "");
	*out = s;
	return 0;
}

int joey_vhost_vsock_running(joey_vhost_vsock *s)
{
	return s && s->server ? vhost_vsock__running(s->server) : 0;
}

int joey_vhost_vsock_stop(joey_vhost_vsock *s, char *err, uint32_t errlen)
{
	char why[256] = "";
	int r;

	if (!s)
		return -EINVAL;
	r = vhost_vsock__stop(s->server, why, sizeof(why));
	free(s);
	set_err(err, errlen, why);
	return r;
}
