/* Mount options and storages: the Storage entries of CreateSandbox and
 * CreateContainer (the virtiofs share, tmpfs, bind mounts) mounted in the
 * agent's namespace, and OCI mount option parsing for both. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "agent.h"
#include "util.h"

static const struct {
	const char *name;
	unsigned long flag;
	bool clear;
	bool prop;
} options[] = {
	{ "defaults", 0, false, false },    { "ro", MS_RDONLY, false, false },
	{ "rw", MS_RDONLY, true, false },   { "nosuid", MS_NOSUID, false, false },
	{ "suid", MS_NOSUID, true, false }, { "nodev", MS_NODEV, false, false },
	{ "dev", MS_NODEV, true, false },   { "noexec", MS_NOEXEC, false, false },
	{ "exec", MS_NOEXEC, true, false }, { "sync", MS_SYNCHRONOUS, false, false },
	{ "async", MS_SYNCHRONOUS, true, false }, { "remount", MS_REMOUNT, false, false },
	{ "bind", MS_BIND, false, false },  { "rbind", MS_BIND | MS_REC, false, false },
	{ "noatime", MS_NOATIME, false, false }, { "atime", MS_NOATIME, true, false },
	{ "nodiratime", MS_NODIRATIME, false, false }, { "relatime", MS_RELATIME, false, false },
	{ "norelatime", MS_RELATIME, true, false }, { "strictatime", MS_STRICTATIME, false, false },
	{ "private", MS_PRIVATE, false, true }, { "rprivate", MS_PRIVATE | MS_REC, false, true },
	{ "slave", MS_SLAVE, false, true },  { "rslave", MS_SLAVE | MS_REC, false, true },
	{ "shared", MS_SHARED, false, true }, { "rshared", MS_SHARED | MS_REC, false, true },
	{ "unbindable", MS_UNBINDABLE, false, true },
	{ "runbindable", MS_UNBINDABLE | MS_REC, false, true },
};

void mount__parse_options(char **opts, size_t n, unsigned long *flags, unsigned long *prop,
			  char *data, size_t cap)
{
	size_t used = 0;

	data[0] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < ARRAY_SIZE(options); j++)
			if (!strcmp(opts[i], options[j].name))
				break;
		if (j < ARRAY_SIZE(options)) {
			unsigned long *dst = options[j].prop ? prop : flags;
			if (options[j].clear)
				*dst &= ~options[j].flag;
			else
				*dst |= options[j].flag;
			continue;
		}
		/* Everything else is file-system data ("mode=755", "size=65536k"). */
		size_t len = strlen(opts[i]);
		if (used + len + 2 > cap)
			continue;
		if (used)
			data[used++] = ',';
		memcpy(data + used, opts[i], len + 1);
		used += len;
	}
}

static int record(struct mounted **list, const char *path)
{
	size_t len = strlen(path) + 1;
	struct mounted *m = malloc(sizeof(*m) + len);

	if (!m)
		return -ENOMEM;
	memcpy(m->path, path, len);
	m->next = *list;
	*list = m;
	return 0;
}

int mount__storage(const Grpc__Storage *s, struct mounted **list, struct rpc_reply *r)
{
	unsigned long flags = 0, prop = 0;
	char data[1024];
	const char *fstype = s->fstype;
	int err;

	if (!s->mount_point[0] || s->mount_point[0] != '/' || util__path_climbs(s->mount_point))
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "storage mount_point \"%s\" must be an absolute path",
				s->mount_point);
	err = util__mkdir_p(s->mount_point);
	if (err)
		return rpc_fail(r, RPC_INTERNAL, "mkdir %s: %s", s->mount_point, strerror(-err));
	/* "local": a directory the containers share, nothing to mount. */
	if (!strcmp(s->driver, "local"))
		return 0;
	mount__parse_options(s->options, s->n_options, &flags, &prop, data, sizeof(data));
	if (!strcmp(s->driver, "virtio-fs") || !strcmp(s->driver, "virtiofs"))
		fstype = "virtiofs";
	else if (!strcmp(s->driver, "bind") || !strcmp(fstype, "bind"))
		flags |= MS_BIND, fstype = NULL;
	else if (!fstype[0])
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "storage driver \"%s\" without fstype", s->driver);
	if (mount(s->source, s->mount_point, fstype, flags, data[0] ? data : NULL) < 0)
		return rpc_fail(r, errno == ENOENT || errno == ENODEV ? RPC_NOT_FOUND : RPC_INTERNAL,
				"mounting storage %s (%s) on %s: %s", s->source, fstype ? fstype : "bind",
				s->mount_point, strerror(errno));
	if (prop)
		mount(NULL, s->mount_point, NULL, prop, NULL);
	if (record(list, s->mount_point) < 0) {
		umount2(s->mount_point, MNT_DETACH);
		return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "agent: out of memory");
	}
	return 0;
}

/* Unmounts in reverse order of mounting (the list is newest first). */
void mount__undo(struct mounted **list)
{
	while (*list) {
		struct mounted *m = *list;

		*list = m->next;
		if (umount2(m->path, MNT_DETACH) < 0)
			agent_log("unmounting %s: %s", m->path, strerror(errno));
		free(m);
	}
}
