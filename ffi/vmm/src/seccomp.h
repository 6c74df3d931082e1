/* seccomp-BPF confinement of the VMM's own threads (docs/security.md).
 *
 * Each vCPU thread and each per-VM I/O loop thread installs a filter on
 * itself when it starts, before it touches guest state, so that code reached
 * through a bug in a device model or the exit handler can make only the few
 * system calls those threads need. The filter is per thread (no TSYNC): the
 * Deno runtime and the rest of the shim process keep their full set. */
#ifndef JOEY_SECCOMP_H
#define JOEY_SECCOMP_H

#include <stdbool.h>

enum seccomp_role {
	SECCOMP_VCPU, /* KVM_RUN, exit handlers, MMIO/PIO device callbacks */
	SECCOMP_IO,   /* the epoll loop: virtqueues, vsock, block, tap, vhost-user */
};

/* A forbidden call fails with this errno instead of killing the process: the
 * VMM shares its process with the shim and other VMs, so a blocked attempt
 * must not become a denial of service for every tenant. */
#define SECCOMP_DENY_ERRNO 1 /* EPERM */

/* Sets no_new_privs and installs the role's filter on the calling thread.
 * Returns 0 or a negative errno; never partially installs. */
int seccomp__install(enum seccomp_role role);

/* Whether the role allows syscall nr (ignoring argument checks); for tests
 * and docs. */
bool seccomp__allows(enum seccomp_role role, long nr);

#endif
