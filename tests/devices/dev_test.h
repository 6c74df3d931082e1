/* Helpers shared by the device tests: temporary directories and child
 * processes that are always reaped, and a pump over several VMs. */
#ifndef JOEY_DEV_TEST_H
#define JOEY_DEV_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "joey_vmm.h"

/* For a test function that cleans up at its label out: says which check
 * failed, then goes there. */
#define DT_CHECK(c)                                                               \
	do {                                                                      \
		if (!(c)) {                                                       \
			printf("    FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);      \
			goto out;                                                 \
		}                                                                 \
	} while (0)

static inline double dt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Starts argv[0] with its output to log (or inherited when NULL). */
static inline pid_t dt_spawn(char *const argv[], const char *log)
{
	pid_t p = fork();
	if (p == 0) {
		if (log) {
			FILE *f = freopen(log, "w", stdout);
			if (f)
				dup2(fileno(stdout), 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

/* Waits up to timeout_ms for pid; kills it past that. Returns its exit
 * status, or -1 if it had to be killed or died of a signal. */
static inline int dt_reap(pid_t pid, int timeout_ms)
{
	double end = dt_now_ms() + timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0)
			return -1;
		if (dt_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(10000);
	}
}

static inline bool dt_tmpdir(char *out, size_t len)
{
	snprintf(out, len, "/tmp/joey-devtest.XXXXXX");
	return mkdtemp(out) != NULL;
}

static inline void dt_rmtree(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		(void)0;
}

static inline void dt_cat(const char *path, const char *prefix)
{
	FILE *f = fopen(path, "r");
	char line[512];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("%s%s", prefix, line);
	fclose(f);
}

/* For a test binary's main: false (after printing the skip and the summary
 * line) when this host cannot run VMs. Needs joey_vmm.h included first. */
#define DT_REQUIRE_KVM()                                                          \
	do {                                                                      \
		char kvm_err_[256];                                               \
		setvbuf(stdout, NULL, _IOLBF, 0);                                 \
		signal(SIGPIPE, SIG_IGN);                                         \
		if (joey_vmm_check(kvm_err_, sizeof(kvm_err_))) {                 \
			printf("  skip: no usable KVM: %s\n", kvm_err_);          \
			printf("0 passed, 0 failed, 1 skipped\n");                \
			return 0;                                                 \
		}                                                                 \
	} while (0)

/* A test guest's clean end: debug-port exit 0 and its "ALL OK" line. */
static inline bool dt_guest_ok(bool ended, const struct joey_event *ev, const char *out)
{
	if (ended && ev->type == JOEY_EVENT_SHUTDOWN && ev->code == 0 && strstr(out, "ALL OK"))
		return true;
	printf("    guest did not finish cleanly (ended %d, event %u, code %d)\n", ended, ev->type,
	       ev->code);
	return false;
}

#endif
