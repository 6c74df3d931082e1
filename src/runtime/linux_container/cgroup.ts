/**
 * The container's cgroup: where it is (from /proc/<pid>/cgroup), its
 * statistics as containerd's cgroup Metrics (v1 on hybrid hosts, v2 on
 * unified ones), and OOM notification.
 * @module
 */
import { messageType } from "../../proto/registry.ts";
import type { AnyMessage } from "../mod.ts";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** Where a process's cgroups are: per v1 controller, or the one v2 directory. */
export type CgroupPaths =
  | { version: 1; dirs: Map<string, string> }
  | { version: 2; dir: string };

/** Whether the host mounts the unified (v2) hierarchy at /sys/fs/cgroup. */
export function isUnifiedHost(): boolean {
  try {
    Deno.statSync(`${CGROUP_ROOT}/cgroup.controllers`);
    return true;
  } catch {
    return false;
  }
}

/** Reads /proc/<pid>/cgroup into the directories of that process's cgroups. */
export async function cgroupPathsOf(pid: number): Promise<CgroupPaths> {
  return parseProcCgroup(await Deno.readTextFile(`/proc/${pid}/cgroup`), isUnifiedHost());
}

/** Parses a /proc/<pid>/cgroup text ("id:controllers:path" lines). */
export function parseProcCgroup(text: string, unified: boolean): CgroupPaths {
  const dirs = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers, path] = m as unknown as [string, string, string, string];
    if (controllers === "") {
      if (unified) return { version: 2, dir: CGROUP_ROOT + path };
      continue;
    }
    // Co-mounted controllers (cpu,cpuacct) share one directory.
    const mountName = controllers.replace(/^name=/, "");
    for (const c of controllers.split(",")) {
      const base = existsSync(`${CGROUP_ROOT}/${mountName}`) ? mountName : c;
      dirs.set(c.replace(/^name=/, ""), `${CGROUP_ROOT}/${base}${path}`);
    }
  }
  return { version: 1, dirs };
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function read(path: string): Promise<string | null> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch {
    return null;
  }
}

/** A counter file as a decimal string ("max" and absent files are 0). */
async function num(path: string): Promise<string> {
  const text = await read(path);
  return text && /^\d+$/.test(text) ? text : "0";
}

/** "key value" lines (memory.stat, cpu.stat, memory.events) as a map of decimal strings. */
export function parseFlatKeyed(text: string | null): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) out.set(k, v);
  }
  return out;
}

// Clock ticks per second for cpuacct.stat; 100 on every Linux ABI joey runs on.
const USER_HZ = 100n;

/** Reads a v1 hierarchy into io.containerd.cgroups.v1.Metrics fields. */
async function metricsV1(dirs: Map<string, string>): Promise<Record<string, unknown>> {
  const m: Record<string, unknown> = {};
  const pids = dirs.get("pids");
  if (pids) {
    m.pids = { current: await num(`${pids}/pids.current`), limit: await num(`${pids}/pids.max`) };
  }
  const acct = dirs.get("cpuacct");
  const cpu = dirs.get("cpu");
  if (acct || cpu) {
    const stat = parseFlatKeyed(acct ? await read(`${acct}/cpuacct.stat`) : null);
    const ticks = (k: string) => String(BigInt(stat.get(k) ?? "0") * (1_000_000_000n / USER_HZ));
    const perCpu = acct ? (await read(`${acct}/cpuacct.usage_percpu`)) ?? "" : "";
    const thr = parseFlatKeyed(cpu ? await read(`${cpu}/cpu.stat`) : null);
    m.cpu = {
      usage: {
        total: acct ? await num(`${acct}/cpuacct.usage`) : "0",
        kernel: ticks("system"),
        user: ticks("user"),
        per_cpu: perCpu.split(/\s+/).filter((s) => /^\d+$/.test(s)),
      },
      throttling: {
        periods: thr.get("nr_periods") ?? "0",
        throttled_periods: thr.get("nr_throttled") ?? "0",
        throttled_time: thr.get("throttled_time") ?? "0",
      },
    };
  }
  const mem = dirs.get("memory");
  if (mem) {
    const stat = parseFlatKeyed(await read(`${mem}/memory.stat`));
    const s = (k: string) => stat.get(k) ?? "0";
    const entry = async (prefix: string) => ({
      limit: await num(`${mem}/${prefix}.limit_in_bytes`),
      usage: await num(`${mem}/${prefix}.usage_in_bytes`),
      max: await num(`${mem}/${prefix}.max_usage_in_bytes`),
      failcnt: await num(`${mem}/${prefix}.failcnt`),
    });
    const memory: Record<string, unknown> = {};
    for (
      const k of [
        "cache",
        "rss",
        "rss_huge",
        "mapped_file",
        "dirty",
        "writeback",
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
        "hierarchical_memory_limit",
        "total_cache",
        "total_rss",
        "total_rss_huge",
        "total_mapped_file",
        "total_dirty",
        "total_writeback",
        "total_inactive_anon",
        "total_active_anon",
        "total_inactive_file",
        "total_active_file",
        "total_unevictable",
      ]
    ) memory[k] = s(k);
    // memory.stat spells these differently from the Metrics fields.
    memory.hierarchical_swap_limit = s("hierarchical_memsw_limit");
    const renamed: [string, string][] = [
      ["pg_pg_in", "pgpgin"],
      ["pg_pg_out", "pgpgout"],
      ["pg_fault", "pgfault"],
      ["pg_maj_fault", "pgmajfault"],
    ];
    for (const [field, key] of renamed) {
      memory[field] = s(key);
      memory[`total_${field}`] = s(`total_${key}`);
    }
    memory.usage = await entry("memory");
    memory.swap = await entry("memory.memsw");
    memory.kernel = await entry("memory.kmem");
    memory.kernel_tcp = await entry("memory.kmem.tcp");
    m.memory = memory;
    const oom = parseFlatKeyed(await read(`${mem}/memory.oom_control`));
    m.memory_oom_control = {
      oom_kill_disable: oom.get("oom_kill_disable") ?? "0",
      under_oom: oom.get("under_oom") ?? "0",
      oom_kill: oom.get("oom_kill") ?? "0",
    };
  }
  const blkio = dirs.get("blkio");
  if (blkio) m.blkio = await blkioV1(blkio);
  return m;
}

const BLKIO_FILES: [string, string][] = [
  ["io_service_bytes_recursive", "io_service_bytes_recursive"],
  ["io_serviced_recursive", "io_serviced_recursive"],
  ["io_queued_recursive", "io_queued_recursive"],
  ["io_service_time_recursive", "io_service_time_recursive"],
  ["io_wait_time_recursive", "io_wait_time_recursive"],
  ["io_merged_recursive", "io_merged_recursive"],
  ["io_time_recursive", "time_recursive"],
  ["sectors_recursive", "sectors_recursive"],
];

/** blkio: the CFQ files, or the throttle ones where no CFQ scheduler reports. */
async function blkioV1(dir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown[]> = {};
  for (const [field, file] of BLKIO_FILES) {
    let text = await read(`${dir}/blkio.${file}`);
    if (!text && field === "io_service_bytes_recursive") {
      text = await read(`${dir}/blkio.throttle.io_service_bytes_recursive`);
    }
    if (!text && field === "io_serviced_recursive") {
      text = await read(`${dir}/blkio.throttle.io_serviced_recursive`);
    }
    out[field] = parseBlkio(text ?? "");
    for (const e of out[field] as Record<string, string>[]) {
      e.device = await deviceName(e.major!, e.minor!);
    }
  }
  return out;
}

const deviceNames = new Map<string, string>();

/** "/dev/<name>" of a block device number, as containerd names blkio entries. */
async function deviceName(major: string, minor: string): Promise<string> {
  const key = `${major}:${minor}`;
  let name = deviceNames.get(key);
  if (name === undefined) {
    const uevent = await read(`/sys/dev/block/${key}/uevent`);
    const dev = /^DEVNAME=(.+)$/m.exec(uevent ?? "")?.[1];
    name = dev ? `/dev/${dev}` : "";
    deviceNames.set(key, name);
  }
  return name;
}

/** Parses "major:minor [op] value" lines. */
export function parseBlkio(text: string): Record<string, string>[] {
  const entries: Record<string, string>[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!dev) continue;
    const [op, value] = f.length === 3 ? [f[1]!, f[2]!] : ["", f[1] ?? "0"];
    entries.push({ op, device: "", major: dev[1]!, minor: dev[2]!, value });
  }
  return entries;
}

/** Reads a v2 cgroup into io.containerd.cgroups.v2.Metrics fields. */
async function metricsV2(dir: string): Promise<Record<string, unknown>> {
  const cpu = parseFlatKeyed(await read(`${dir}/cpu.stat`));
  const stat = parseFlatKeyed(await read(`${dir}/memory.stat`));
  const events = parseFlatKeyed(await read(`${dir}/memory.events`));
  const memory: Record<string, string> = {};
  for (
    const k of [
      "anon",
      "file",
      "kernel_stack",
      "slab",
      "sock",
      "shmem",
      "file_mapped",
      "file_dirty",
      "file_writeback",
      "anon_thp",
      "inactive_anon",
      "active_anon",
      "inactive_file",
      "active_file",
      "unevictable",
      "slab_reclaimable",
      "slab_unreclaimable",
      "pgfault",
      "pgmajfault",
      "workingset_refault",
      "workingset_activate",
      "workingset_nodereclaim",
      "pgrefill",
      "pgscan",
      "pgsteal",
      "pgactivate",
      "pgdeactivate",
      "pglazyfree",
      "pglazyfreed",
      "thp_fault_alloc",
      "thp_collapse_alloc",
    ]
  ) memory[k] = stat.get(k) ?? "0";
  memory.usage = await num(`${dir}/memory.current`);
  memory.usage_limit = await num(`${dir}/memory.max`);
  memory.swap_usage = await num(`${dir}/memory.swap.current`);
  memory.swap_limit = await num(`${dir}/memory.swap.max`);
  memory.max_usage = await num(`${dir}/memory.peak`);
  const io = [];
  for (const line of ((await read(`${dir}/io.stat`)) ?? "").split("\n")) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const d = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!d) continue;
    const e: Record<string, string> = { major: d[1]!, minor: d[2]! };
    for (const pair of kv) {
      const [k, v] = pair.split("=");
      if (k && v && ["rbytes", "wbytes", "rios", "wios"].includes(k)) e[k] = v;
    }
    io.push(e);
  }
  return {
    pids: { current: await num(`${dir}/pids.current`), limit: await num(`${dir}/pids.max`) },
    cpu: {
      usage_usec: cpu.get("usage_usec") ?? "0",
      user_usec: cpu.get("user_usec") ?? "0",
      system_usec: cpu.get("system_usec") ?? "0",
      nr_periods: cpu.get("nr_periods") ?? "0",
      nr_throttled: cpu.get("nr_throttled") ?? "0",
      throttled_usec: cpu.get("throttled_usec") ?? "0",
    },
    memory,
    io: { usage: io },
    memory_events: Object.fromEntries(
      ["low", "high", "max", "oom", "oom_kill"].map((k) => [k, events.get(k) ?? "0"]),
    ),
  };
}

/** The type_url containerd uses for each cgroup version's Metrics. */
export const METRICS_TYPE = {
  1: "io.containerd.cgroups.v1.Metrics",
  2: "io.containerd.cgroups.v2.Metrics",
} as const;

/** The cgroup's statistics as containerd's Metrics, packed in an Any. */
export async function metrics(paths: CgroupPaths): Promise<AnyMessage> {
  const typeUrl = METRICS_TYPE[paths.version];
  const fields = paths.version === 1 ? await metricsV1(paths.dirs) : await metricsV2(paths.dir);
  return { typeUrl, value: messageType(typeUrl).encode(fields) };
}
