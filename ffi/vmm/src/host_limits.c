/* Host limits checked before a VM is created (see host_limits.h). Reads only
 * /proc and /sys, never holds a lock across a KVM call, and keeps the cost
 * per create small at thousands of VMs: counting /proc/self/fd or
 * /proc/self/maps is linear in what is open, so those two are counted
 * exactly only every RECOUNT_EVERY creates or when a conservative estimate
 * comes near the limit; the final answer near a limit is always exact. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "host_limits.h"
#include "vm.h"

#define RECOUNT_EVERY 64u
#define MIB (1ULL << 20)
/* Address space one vCPU maps: its 1 MiB thread stack plus guard page and
 * its kvm_run area (vcpu.c). */
#define VCPU_MAP_BYTES (MIB + 16 * 4096)
/* Host memory a VM costs outside its guest pages: KVM's per-VM structures
 * (measured ~1.3 MiB on this PVM host) and the VMM's own (~100 KiB). */
#define VM_HOST_BYTES (2 * MIB)
#define NO_LIMIT ULLONG_MAX

typedef unsigned long long ull;

/* First number in a small file ("max" reads as NO_LIMIT); 0 or -errno. */
static int read_number(const char *path, ull *out)
{
	char buf[64];
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		rc = -EIO;
	fclose(f);
	if (rc)
		return rc;
	if (!strncmp(buf, "max", 3)) {
		*out = NO_LIMIT;
		return 0;
	}
	*out = strtoull(buf, NULL, 10);
	return 0;
}

/* "Key:   123 kB" from a /proc status-style file, in the unit shown. */
static int read_field(const char *path, const char *key, ull *out)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen(path, "re");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			*out = strtoull(line + klen + 1, NULL, 10);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static long count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static long count_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char buf[65536];
	size_t got;
	long n = 0;

	if (!f)
		return -1;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	fclose(f);
	return n;
}

/* An exact count taken now and then, plus a per-VM allowance for every VM
 * checked since: never lower than the truth unless something other than
 * the VMM opened many fds (or maps) in between, which the recount near the
 * limit catches. */
struct usage {
	pthread_mutex_t lock;
	long counted; /* -1: never counted */
	unsigned int since;
	long (*count)(void);
};

static struct usage fd_usage = { PTHREAD_MUTEX_INITIALIZER, -1, 0, count_open_fds };
static struct usage map_usage = { PTHREAD_MUTEX_INITIALIZER, -1, 0, count_mappings };

/* Current use: the estimate, or an exact count when `exact`, when the last
 * one is old or when the estimate nears three quarters of the limit; -1 if
 * unknown. A check that fails on an estimate asks again with exact. */
static long usage__get(struct usage *u, long per_vm, ull limit, bool exact)
{
	long est;

	pthread_mutex_lock(&u->lock);
	est = u->counted + (long)u->since * per_vm;
	if (exact || u->counted < 0 || u->since >= RECOUNT_EVERY ||
	    (ull)(est + per_vm) * 4 > limit * 3) {
		u->counted = u->count();
		u->since = 0;
		est = u->counted;
	}
	u->since++;
	pthread_mutex_unlock(&u->lock);
	return est;
}

static int check_fds(struct vm *vm, unsigned int need)
{
	struct rlimit rl;
	long open;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	open = usage__get(&fd_usage, need, rl.rlim_cur, false);
	if (open < 0 || (ull)open + need + LIMITS_FD_RESERVE <= rl.rlim_cur)
		return 0;
	open = usage__get(&fd_usage, need, rl.rlim_cur, true);
	if (open < 0 || (ull)open + need + LIMITS_FD_RESERVE <= rl.rlim_cur)
		return 0;
	vm__set_error(vm, "cannot create another VM: RLIMIT_NOFILE (open files) soft limit %llu "
		      "(hard %llu) is reached: %ld fds open, a VM needs %u more and %u stay "
		      "reserved; raise it (ulimit -n, LimitNOFILE= in a systemd unit, "
		      "setrlimit)", (ull)rl.rlim_cur, (ull)rl.rlim_max, open, need,
		      LIMITS_FD_RESERVE);
	return -EMFILE;
}

/* Tasks (threads and processes) on the whole host: 4th field of loadavg. */
static long host_tasks(void)
{
	FILE *f = fopen("/proc/loadavg", "re");
	long running = 0, total = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%*s %*s %*s %ld/%ld", &running, &total) != 2)
		total = -1;
	fclose(f);
	return total;
}

/* The cgroup v2 path of this process ("/a/b"), or "" when unknown. */
static void own_cgroup(char *path, size_t len)
{
	char line[PATH_MAX + 8];
	FILE *f = fopen("/proc/self/cgroup", "re");

	path[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			size_t n = strcspn(line + 3, "\n");

			if (n < len) {
				memcpy(path, line + 3, n);
				path[n] = '\0';
			}
			break;
		}
	}
	fclose(f);
}

/* pids.max of this cgroup and every ancestor (each one binds). */
static int check_cgroup_pids(struct vm *vm, unsigned int need, unsigned int kthreads)
{
	char cg[PATH_MAX], file[PATH_MAX + 64];
	ull max, cur;

	own_cgroup(cg, sizeof(cg));
	if (!cg[0])
		return 0;
	for (;;) {
		snprintf(file, sizeof(file), "/sys/fs/cgroup%s/pids.max",
			 strcmp(cg, "/") ? cg : "");
		if (!read_number(file, &max) && max != NO_LIMIT) {
			snprintf(file, sizeof(file), "/sys/fs/cgroup%s/pids.current",
				 strcmp(cg, "/") ? cg : "");
			if (!read_number(file, &cur) && cur + need > max) {
				vm__set_error(vm, "cannot create another VM: pids.max of cgroup %s "
					      "(%llu) is reached: %llu tasks in it, a VM needs %u "
					      "(vCPU threads plus %u KVM kernel threads); raise "
					      "pids.max (TasksMax= for a systemd unit)", cg, max, cur,
					      need, kthreads);
				return -EAGAIN;
			}
		}
		char *slash = strrchr(cg, '/');

		if (!slash || slash == cg)
			break;
		*slash = '\0';
	}
	return 0;
}

static int check_threads(struct vm *vm, unsigned int nr_vcpus)
{
	unsigned int kthreads = LIMITS_KTHREADS_PER_VM - (vm->no_pit ? 1 : 0);
	unsigned int tasks_needed = nr_vcpus + kthreads;
	long tasks = host_tasks();
	ull threads_max = 0, pid_max = 0, mine;
	struct rlimit rl;

	if (tasks >= 0 && !read_number("/proc/sys/kernel/threads-max", &threads_max) &&
	    (ull)tasks + tasks_needed + LIMITS_THREAD_RESERVE > threads_max) {
		vm__set_error(vm, "cannot create another VM: kernel.threads-max (%llu) is reached: "
			      "%ld tasks on the host, a VM needs %u (%u vCPU threads plus %u KVM "
			      "kernel threads); raise /proc/sys/kernel/threads-max", threads_max,
			      tasks, tasks_needed, nr_vcpus, kthreads);
		return -EAGAIN;
	}
	if (tasks >= 0 && !read_number("/proc/sys/kernel/pid_max", &pid_max) &&
	    (ull)tasks + tasks_needed + LIMITS_THREAD_RESERVE > pid_max) {
		vm__set_error(vm, "cannot create another VM: kernel.pid_max (%llu) is reached: %ld "
			      "tasks on the host, a VM needs %u pids (%u vCPU threads plus %u KVM "
			      "kernel threads); raise /proc/sys/kernel/pid_max", pid_max, tasks,
			      tasks_needed, nr_vcpus, kthreads);
		return -EAGAIN;
	}
	/* RLIMIT_NPROC counts the user's tasks; the kernel does not apply it to
	 * root. This process's own threads are a lower bound of that count. */
	if (geteuid() != 0 && !getrlimit(RLIMIT_NPROC, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    !read_field("/proc/self/status", "Threads", &mine) &&
	    mine + nr_vcpus + LIMITS_OWN_KTHREADS_PER_VM > rl.rlim_cur) {
		vm__set_error(vm, "cannot create another VM: RLIMIT_NPROC (tasks of this user) soft "
			      "limit %llu (hard %llu) is reached: this process alone runs %llu "
			      "threads, a VM needs %u more (vCPUs and KVM's NX recovery thread); raise it "
			      "(ulimit -u, LimitNPROC=)", (ull)rl.rlim_cur, (ull)rl.rlim_max, mine,
			      nr_vcpus + LIMITS_OWN_KTHREADS_PER_VM);
		return -EAGAIN;
	}
	return check_cgroup_pids(vm, tasks_needed, kthreads);
}

static int check_memory(struct vm *vm, unsigned int nr_vcpus, uint64_t mem_bytes)
{
	uint64_t maps_bytes = mem_bytes + (uint64_t)nr_vcpus * VCPU_MAP_BYTES;
	ull vm_kib, mode = 0, limit_kib, committed_kib, avail_kib, map_max;
	unsigned int maps_needed = LIMITS_MAPS_PER_VM + nr_vcpus * LIMITS_MAPS_PER_VCPU;
	struct rlimit rl;
	long maps;

	if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    !read_field("/proc/self/status", "VmSize", &vm_kib) &&
	    vm_kib * 1024 + maps_bytes > rl.rlim_cur) {
		vm__set_error(vm, "cannot create another VM: RLIMIT_AS (address space) soft limit "
			      "%llu MiB is reached: %llu MiB mapped, a VM maps %llu MiB more (guest "
			      "RAM %llu MiB, vCPU stacks); raise it (ulimit -v, LimitAS=)",
			      (ull)rl.rlim_cur / MIB, vm_kib / 1024, (ull)(maps_bytes / MIB),
			      (ull)(mem_bytes / MIB));
		return -ENOMEM;
	}
	/* Guest RAM is populated lazily, but under strict overcommit each page
	 * the guest touches is charged; promise only what can be backed. */
	if (!read_number("/proc/sys/vm/overcommit_memory", &mode) && mode == 2 &&
	    !read_field("/proc/meminfo", "CommitLimit", &limit_kib) &&
	    !read_field("/proc/meminfo", "Committed_AS", &committed_kib) &&
	    (committed_kib > limit_kib || (limit_kib - committed_kib) * 1024 < mem_bytes)) {
		vm__set_error(vm, "cannot create another VM: vm.overcommit_memory is 2 (strict) and "
			      "only %lld MiB of CommitLimit %llu MiB is left, less than the guest "
			      "RAM of %llu MiB; lower the guest memory, add swap or raise "
			      "vm.overcommit_ratio", ((long long)limit_kib - (long long)committed_kib) / 1024,
			      limit_kib / 1024, (ull)(mem_bytes / MIB));
		return -ENOMEM;
	}
	if (!read_field("/proc/meminfo", "MemAvailable", &avail_kib) &&
	    avail_kib * 1024 < VM_HOST_BYTES) {
		vm__set_error(vm, "cannot create another VM: host memory is exhausted: MemAvailable "
			      "%llu KiB, a VM needs about %llu KiB for KVM and VMM structures beyond "
			      "its guest pages", avail_kib, (ull)(VM_HOST_BYTES / 1024));
		return -ENOMEM;
	}
	if (!read_number("/proc/sys/vm/max_map_count", &map_max)) {
		maps = usage__get(&map_usage, maps_needed, map_max, false);
		if (maps >= 0 && (ull)maps + maps_needed > map_max)
			maps = usage__get(&map_usage, maps_needed, map_max, true);
		if (maps >= 0 && (ull)maps + maps_needed > map_max) {
			vm__set_error(vm, "cannot create another VM: vm.max_map_count (%llu) is "
				      "reached: %ld mappings in this process, a VM adds %u; raise "
				      "sysctl vm.max_map_count", map_max, maps, maps_needed);
			return -ENOMEM;
		}
	}
	return 0;
}

int limits__check_vm(struct vm *vm, unsigned int nr_vcpus, uint64_t mem_bytes)
{
	int rc = check_fds(vm, LIMITS_FDS_PER_VM + nr_vcpus * LIMITS_FDS_PER_VCPU);

	if (!rc)
		rc = check_threads(vm, nr_vcpus);
	if (!rc)
		rc = check_memory(vm, nr_vcpus, mem_bytes);
	return rc;
}

void limits__explain(struct vm *vm, int rc, const char *what)
{
	struct rlimit rl;
	ull nr_files = 0, file_max = 0;
	ull threads_max = 0, pid_max = 0;

	if (rc == -EMFILE && !getrlimit(RLIMIT_NOFILE, &rl)) {
		vm__set_error(vm, "%s: RLIMIT_NOFILE (open files) soft limit %llu (hard %llu) is "
			      "reached: %ld fds open; raise it (ulimit -n, LimitNOFILE=, setrlimit)",
			      what, (ull)rl.rlim_cur, (ull)rl.rlim_max, count_open_fds());
	} else if (rc == -ENFILE) {
		FILE *f = fopen("/proc/sys/fs/file-nr", "re");

		if (f) {
			if (fscanf(f, "%llu %*u %llu", &nr_files, &file_max) != 2)
				nr_files = file_max = 0;
			fclose(f);
		}
		vm__set_error(vm, "%s: the host's open-file table is full: %llu of fs.file-max "
			      "%llu; raise /proc/sys/fs/file-max", what, nr_files, file_max);
	} else if (rc == -EAGAIN) {
		if (read_number("/proc/sys/kernel/threads-max", &threads_max))
			threads_max = 0;
		if (read_number("/proc/sys/kernel/pid_max", &pid_max))
			pid_max = 0;
		if (getrlimit(RLIMIT_NPROC, &rl))
			rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		vm__set_error(vm, "%s: no thread could be created: %ld tasks on the host, "
			      "kernel.threads-max %llu, kernel.pid_max %llu, RLIMIT_NPROC %lld "
			      "(-1: unlimited), or the cgroup's pids.max; raise the one reached",
			      what, host_tasks(), threads_max, pid_max,
			      rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur);
	}
}
