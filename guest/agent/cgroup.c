/* cgroup v2 for containers: <root>/joey/<cid>, limits from LinuxResources,
 * the freezer for pause/resume, stats for StatsContainer, cgroup.kill.
 * A controller the host lacks (host test mode on a v1 host) makes only the
 * operations that need it fail, with FailedPrecondition. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

static char base[4096];

static void enable_controllers(const char *dir)
{
	static const char *const ctl[] = { "+cpu", "+memory", "+pids", "+io", "+cpuset" };
	char path[4200];

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	/* One at a time: a missing controller must not block the others. */
	for (size_t i = 0; i < ARRAY_SIZE(ctl); i++)
		util__write_file(path, ctl[i]);
}

int cgroup__init(const char *root)
{
	int err;

	if (snprintf(base, sizeof(base), "%s/joey", root) >= (int)sizeof(base))
		return -ENAMETOOLONG;
	err = util__mkdir_p(base);
	if (err)
		return err;
	enable_controllers(root);
	enable_controllers(base);
	return 0;
}

int cgroup__create(struct container *c)
{
	if (snprintf(c->cgroup, sizeof(c->cgroup), "%s/%s", base, c->id) >= (int)sizeof(c->cgroup))
		return -ENAMETOOLONG;
	if (mkdir(c->cgroup, 0755) < 0 && errno != EEXIST)
		return -errno;
	oom__watch(c);
	return 0;
}

int cgroup__add(struct container *c, pid_t pid)
{
	char path[4200], v[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", c->cgroup);
	snprintf(v, sizeof(v), "%d", pid);
	return util__write_file(path, v);
}

static int set(struct container *c, const char *file, const char *value, struct rpc_reply *r)
{
	char path[4200];
	int err;

	snprintf(path, sizeof(path), "%s/%s", c->cgroup, file);
	err = util__write_file(path, value);
	if (err == -ENOENT)
		return rpc_fail(r, RPC_FAILED_PRECONDITION, "cgroup %s: %s is not available (controller missing)",
				c->id, file);
	if (err)
		return rpc_fail(r, RPC_INVALID_ARGUMENT, "cgroup %s: writing \"%s\" to %s: %s", c->id, value,
				file, strerror(-err));
	return 0;
}

int cgroup__update(struct container *c, const Grpc__LinuxResources *res, struct rpc_reply *r)
{
	char v[64];

	if (!res)
		return 0;
	if (res->memory) {
		if (res->memory->limit) {
			if (res->memory->limit < 0)
				snprintf(v, sizeof(v), "max");
			else
				snprintf(v, sizeof(v), "%" PRId64, res->memory->limit);
			if (set(c, "memory.max", v, r))
				return -1;
		}
		if (res->memory->reservation > 0) {
			snprintf(v, sizeof(v), "%" PRId64, res->memory->reservation);
			if (set(c, "memory.low", v, r))
				return -1;
		}
	}
	if (res->cpu) {
		const Grpc__LinuxCPU *cpu = res->cpu;

		if (cpu->quota || cpu->period) {
			uint64_t period = cpu->period ? cpu->period : 100000;
			if (cpu->quota > 0)
				snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, cpu->quota, period);
			else
				snprintf(v, sizeof(v), "max %" PRIu64, period);
			if (set(c, "cpu.max", v, r))
				return -1;
		}
		if (cpu->shares) {
			/* The runc/crun mapping of shares [2, 262144] onto weight [1, 10000]. */
			uint64_t shares = cpu->shares < 2 ? 2 : cpu->shares > 262144 ? 262144 : cpu->shares;
			snprintf(v, sizeof(v), "%" PRIu64, 1 + ((shares - 2) * 9999) / 262142);
			if (set(c, "cpu.weight", v, r))
				return -1;
		}
		if (cpu->cpus && *cpu->cpus && set(c, "cpuset.cpus", cpu->cpus, r))
			return -1;
		if (cpu->mems && *cpu->mems && set(c, "cpuset.mems", cpu->mems, r))
			return -1;
	}
	if (res->pids && res->pids->limit) {
		if (res->pids->limit < 0)
			snprintf(v, sizeof(v), "max");
		else
			snprintf(v, sizeof(v), "%" PRId64, res->pids->limit);
		if (set(c, "pids.max", v, r))
			return -1;
	}
	if (res->blockio && res->blockio->weight) {
		snprintf(v, sizeof(v), "default %u", res->blockio->weight);
		if (set(c, "io.weight", v, r))
			return -1;
	}
	return 0;
}

int cgroup__freeze(struct container *c, bool frozen, struct rpc_reply *r)
{
	char path[4200], events[512];

	if (set(c, "cgroup.freeze", frozen ? "1" : "0", r))
		return -1;
	/* The write only asks: wait until cgroup.events says it is done. */
	snprintf(path, sizeof(path), "%s/cgroup.events", c->cgroup);
	for (int i = 0; i < 500; i++) {
		if (util__read_file(path, events, sizeof(events)) > 0 &&
		    strstr(events, frozen ? "frozen 1" : "frozen 0"))
			return 0;
		usleep(2000);
	}
	return rpc_fail(r, RPC_DEADLINE_EXCEEDED, "cgroup %s: not %s within 1 s", c->id,
			frozen ? "frozen" : "thawed");
}

/* Reads "key value" lines of a flat-keyed cgroup file. */
static uint64_t keyed(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return strtoull(p + klen + 1, NULL, 10);
	return 0;
}

int cgroup__stats(struct container *c, Grpc__CgroupStats *st)
{
	static char text[16384];
	char path[4200];
	Grpc__CpuStats *cpu = calloc(1, sizeof(*cpu));
	Grpc__CpuUsage *usage = calloc(1, sizeof(*usage));
	Grpc__ThrottlingData *thr = calloc(1, sizeof(*thr));
	Grpc__MemoryStats *mem = calloc(1, sizeof(*mem));
	Grpc__MemoryData *mdata = calloc(1, sizeof(*mdata));
	Grpc__PidsStats *pids = calloc(1, sizeof(*pids));

	st->cpu_stats = cpu;
	st->memory_stats = mem;
	st->pids_stats = pids;
	if (!cpu || !usage || !thr || !mem || !mdata || !pids) {
		free(usage), free(thr), free(mdata);
		return -ENOMEM;
	}
	grpc__cpu_stats__init(cpu);
	grpc__cpu_usage__init(usage);
	grpc__throttling_data__init(thr);
	grpc__memory_stats__init(mem);
	grpc__memory_data__init(mdata);
	grpc__pids_stats__init(pids);
	cpu->cpu_usage = usage;
	cpu->throttling_data = thr;
	mem->usage = mdata;

	/* cpu.stat is a core file: it exists even without the cpu controller. */
	snprintf(path, sizeof(path), "%s/cpu.stat", c->cgroup);
	if (util__read_file(path, text, sizeof(text)) > 0) {
		usage->total_usage = keyed(text, "usage_usec") * 1000;
		usage->usage_in_usermode = keyed(text, "user_usec") * 1000;
		usage->usage_in_kernelmode = keyed(text, "system_usec") * 1000;
		thr->periods = keyed(text, "nr_periods");
		thr->throttled_periods = keyed(text, "nr_throttled");
		thr->throttled_time = keyed(text, "throttled_usec") * 1000;
	}
	snprintf(path, sizeof(path), "%s/memory.current", c->cgroup);
	util__read_u64(path, &mdata->usage);
	snprintf(path, sizeof(path), "%s/memory.max", c->cgroup);
	util__read_u64(path, &mdata->limit);
	snprintf(path, sizeof(path), "%s/memory.peak", c->cgroup);
	util__read_u64(path, &mdata->max_usage);
	snprintf(path, sizeof(path), "%s/memory.stat", c->cgroup);
	if (util__read_file(path, text, sizeof(text)) > 0)
		mem->cache = keyed(text, "file");
	snprintf(path, sizeof(path), "%s/pids.current", c->cgroup);
	util__read_u64(path, &pids->current);
	snprintf(path, sizeof(path), "%s/pids.max", c->cgroup);
	util__read_u64(path, &pids->limit);
	return 0;
}

void cgroup__stats_free(Grpc__CgroupStats *st)
{
	if (st->cpu_stats) {
		free(st->cpu_stats->cpu_usage);
		free(st->cpu_stats->throttling_data);
		free(st->cpu_stats);
	}
	if (st->memory_stats) {
		free(st->memory_stats->usage);
		free(st->memory_stats);
	}
	free(st->pids_stats);
}

int cgroup__kill(struct container *c)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/cgroup.kill", c->cgroup);
	return util__write_file(path, "1");
}

int cgroup__oom_kills(const struct container *c, uint64_t *n)
{
	char path[4200], text[512];
	ssize_t len;

	snprintf(path, sizeof(path), "%s/memory.events", c->cgroup);
	len = util__read_file(path, text, sizeof(text));
	if (len < 0)
		return len;
	*n = keyed(text, "oom_kill");
	return 0;
}

void cgroup__destroy(struct container *c)
{
	oom__unwatch(c);
	if (c->cgroup[0] && rmdir(c->cgroup) < 0 && errno != ENOENT)
		agent_log_for(c->id, NULL, "removing cgroup %s: %s", c->cgroup, strerror(errno));
}
