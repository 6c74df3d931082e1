// SPDX-License-Identifier: Apache-2.0
/*
 * Child processes. The shim spawns the OCI runtime itself (not through
 * Deno.Command) because it must hand it pipe ends as stdio, which the
 * container process inherits; such children are reaped through
 * reaper.c, never through waitpid(-1), so Deno's own children stay Deno's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "joey_os.h"

int joey_os__set_subreaper(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int joey_os__kill(int pid, int sig)
{
	if (pid <= 0)
		return -EINVAL;
	return kill(pid, sig) < 0 ? -errno : 0;
}

/* Splits "a\0b\0\0" into a NULL-terminated vector pointing into list. */
static char **strlist__split(const char *list)
{
	size_t n = 0, i = 0;
	const char *p;
	char **v;

	for (p = list; *p; p += strlen(p) + 1)
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (p = list; *p; p += strlen(p) + 1)
		v[i++] = (char *)p;
	return v;
}

/*
 * argv and envp are NUL-separated lists ending in an empty string; argv[0]
 * is looked up on envp's PATH. A stdio fd of -1 becomes /dev/null.
 */
int joey_os__spawn(const char *argv, const char *envp, int fd_in, int fd_out, int fd_err)
{
	int stdio[3] = { fd_in, fd_out, fd_err };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **av, **ev;
	sigset_t all, none;
	pid_t pid;
	int rc, i;

	if (!*argv)
		return -EINVAL;
	av = strlist__split(argv);
	if (!av)
		return -ENOMEM;
	ev = strlist__split(envp);
	if (!ev) {
		rc = -ENOMEM;
		goto out_av;
	}
	rc = -posix_spawn_file_actions_init(&fa);
	if (rc)
		goto out_ev;
	for (i = 0; i < 3 && !rc; i++) {
		if (stdio[i] < 0)
			rc = -posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
		else
			rc = -posix_spawn_file_actions_adddup2(&fa, stdio[i], i);
	}
	if (rc)
		goto out_fa;
	rc = -posix_spawnattr_init(&attr);
	if (rc)
		goto out_fa;
	/* Deno ignores SIGPIPE and blocks some signals; the child starts clean. */
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rc = -posix_spawnp(&pid, av[0], &fa, &attr, av, ev);
	if (!rc)
		rc = pid;
	posix_spawnattr_destroy(&attr);
out_fa:
	posix_spawn_file_actions_destroy(&fa);
out_ev:
	free(ev);
out_av:
	free(av);
	return rc;
}
