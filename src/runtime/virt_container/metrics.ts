/**
 * The agent's StatsContainerResponse (cgroup statistics from inside the
 * VM) as containerd's io.containerd.cgroups.v1.Metrics, which `ctr task
 * metrics` and the CRI read.
 * @module
 */
import { messageType } from "../../proto/registry.ts";
import type { AnyMessage } from "../mod.ts";

const METRICS_V1 = "io.containerd.cgroups.v1.Metrics";

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === "object" ? v as Json : {});

function entry(d: unknown): Json {
  const m = obj(d);
  return {
    usage: m.usage ?? 0,
    max: m.max_usage ?? 0,
    failcnt: m.failcnt ?? 0,
    limit: m.limit ?? 0,
  };
}

/** Converts a decoded grpc.StatsContainerResponse into the Metrics Any. */
export function agentStatsToMetrics(stats: Json): AnyMessage {
  const cg = obj(stats.cgroup_stats);
  const cpu = obj(cg.cpu_stats);
  const usage = obj(cpu.cpu_usage);
  const throttling = obj(cpu.throttling_data);
  const mem = obj(cg.memory_stats);
  const pids = obj(cg.pids_stats);
  const memStats = obj(mem.stats);
  const fields = {
    pids: { current: pids.current ?? 0, limit: pids.limit ?? 0 },
    cpu: {
      usage: {
        total: usage.total_usage ?? 0,
        kernel: usage.usage_in_kernelmode ?? 0,
        user: usage.usage_in_usermode ?? 0,
        per_cpu: usage.percpu_usage ?? [],
      },
      throttling: {
        periods: throttling.periods ?? 0,
        throttled_periods: throttling.throttled_periods ?? 0,
        throttled_time: throttling.throttled_time ?? 0,
      },
    },
    memory: {
      cache: mem.cache ?? 0,
      rss: memStats.rss ?? memStats.anon ?? 0,
      usage: entry(mem.usage),
      swap: entry(mem.swap_usage),
      kernel: entry(mem.kernel_usage),
    },
    network: ((stats.network_stats ?? []) as Json[]).map((n) => ({
      name: n.name,
      rx_bytes: n.rx_bytes,
      rx_packets: n.rx_packets,
      rx_errors: n.rx_errors,
      rx_dropped: n.rx_dropped,
      tx_bytes: n.tx_bytes,
      tx_packets: n.tx_packets,
      tx_errors: n.tx_errors,
      tx_dropped: n.tx_dropped,
    })),
  };
  return { typeUrl: METRICS_V1, value: messageType(METRICS_V1).encode(fields) };
}
