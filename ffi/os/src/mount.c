// SPDX-License-Identifier: Apache-2.0
/* Mounts for the container rootfs, and cgroup v1 OOM notification. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <unistd.h>

#include "joey_os.h"

/* Empty source/fstype/data strings mean NULL, as mount(2) wants for remounts. */
int joey_os__mount(const char *source, const char *target, const char *fstype, uint64_t flags,
		   const char *data)
{
	if (mount(*source ? source : NULL, target, *fstype ? fstype : NULL, (unsigned long)flags,
		  *data ? data : NULL) < 0)
		return -errno;
	return 0;
}

int joey_os__umount(const char *target, int flags)
{
	return umount2(target, flags) < 0 ? -errno : 0;
}

/*
 * Registers an eventfd with the memory cgroup's memory.oom_control via
 * cgroup.event_control; each OOM in the cgroup then adds to its counter.
 */
int joey_os__oom_eventfd_v1(const char *dir)
{
	char path[4096], line[64];
	int efd, ofd, cfd, rc, len;

	if (snprintf(path, sizeof(path), "%s/memory.oom_control", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ofd = open(path, O_RDONLY | O_CLOEXEC);
	if (ofd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/cgroup.event_control", dir);
	cfd = open(path, O_WRONLY | O_CLOEXEC);
	if (cfd < 0) {
		rc = -errno;
		goto err_ofd;
	}
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0) {
		rc = -errno;
		goto err_cfd;
	}
	len = snprintf(line, sizeof(line), "%d %d", efd, ofd);
	if (write(cfd, line, (size_t)len) < 0) {
		rc = -errno;
		goto err_efd;
	}
	/* The kernel holds its own references; the eventfd alone stays ours. */
	close(cfd);
	close(ofd);
	return efd;

err_efd:
	close(efd);
err_cfd:
	close(cfd);
err_ofd:
	close(ofd);
	return rc;
}
