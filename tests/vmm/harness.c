#include "harness.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed, failed, skipped;

void harness_run(const char *name, int (*fn)(void))
{
	double t0 = now_ms();
	int rc;

	printf("  %s ...\n", name);
	fflush(stdout);
	rc = fn();
	printf("  %s %s (%.0f ms)\n", rc == PASS ? "ok  " : rc == SKIP ? "skip" : "FAIL", name,
	       now_ms() - t0);
	fflush(stdout);
	if (rc == PASS)
		passed++;
	else if (rc == SKIP)
		skipped++;
	else
		failed++;
}

int harness_finish(void)
{
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}

int harness_skip(const char *why)
{
	printf("    skipped: %s\n", why);
	return SKIP;
}

const char *guest_path(const char *name)
{
	static char path[4][512];
	static int next;
	const char *dir = getenv("JOEY_VMM_GUEST_DIR");
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s.elf", dir ? dir : VMM_GUEST_DIR, name);
	return p;
}

int vmt_create(joey_vm **vm, const char *kernel, unsigned int vcpus, uint64_t mem,
	       const char *cmdline, char *err, size_t errlen)
{
	struct joey_vm_config cfg = {
		.vcpus = vcpus, .mem_bytes = mem, .kernel = kernel, .cmdline = cmdline,
		.console_fd = -1,
	};

	return joey_vm_create(&cfg, vm, err, (uint32_t)errlen);
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void drain_console(joey_vm *vm, char *out, size_t outlen)
{
	size_t used = strlen(out);
	int n;

	while (used + 1 < outlen &&
	       (n = joey_vm_console_read(vm, (uint8_t *)out + used, (uint32_t)(outlen - used - 1))) > 0)
		used += (size_t)n;
	out[used] = '\0';
	/* A full buffer: keep draining so the ring re-arms its event. */
	if (used + 1 >= outlen) {
		uint8_t sink[256];

		while (joey_vm_console_read(vm, sink, sizeof(sink)) > 0) {
		}
	}
}

static bool is_terminal(uint32_t type)
{
	return type == JOEY_EVENT_SHUTDOWN || type == JOEY_EVENT_RESET || type == JOEY_EVENT_FAULT;
}

static bool pump(joey_vm *vm, int timeout_ms, const char *needle, struct joey_event *ev, char *out,
		 size_t outlen)
{
	double deadline = now_ms() + timeout_ms;
	uint64_t id = joey_vm_id(vm);
	struct joey_event e;

	while (now_ms() < deadline) {
		while (joey_event_next(&e)) {
			if (e.vm_id != id)
				continue;
			if (e.type == JOEY_EVENT_CONSOLE && out)
				drain_console(vm, out, outlen);
			if (is_terminal(e.type)) {
				if (out)
					drain_console(vm, out, outlen);
				if (ev)
					*ev = e;
				return !needle;
			}
			if (needle && out && strstr(out, needle))
				return true;
		}
		joey_event_wait(20);
	}
	return false;
}

bool vmt_wait_end(joey_vm *vm, int timeout_ms, struct joey_event *ev, char *out, size_t outlen)
{
	if (out && outlen)
		out[0] = '\0';
	return pump(vm, timeout_ms, NULL, ev, out, outlen);
}

bool vmt_wait_output(joey_vm *vm, int timeout_ms, const char *needle, char *out, size_t outlen)
{
	out[0] = '\0';
	return pump(vm, timeout_ms, needle, NULL, out, outlen);
}

bool host_has_vmx_svm(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) && (strstr(line, " vmx") || strstr(line, " svm")))
			found = true;
	fclose(f);
	return found;
}

int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}
