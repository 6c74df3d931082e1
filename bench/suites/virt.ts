/**
 * virt-container benchmarks (issue 6): `ctr run --rm … true` with every pod
 * in its own VM (QEMU/TCG on hosts without VMX/SVM), measured alternately
 * with linux-container and containerd's runc shim in one run, its phases
 * taken from the shim's "sandbox ready"/"sandbox stopped" log lines; and
 * the host RSS of one idle sandbox (shim + QEMU + virtiofsd + vsock back
 * end).
 * @module
 */
import { type Benchmark, makeRecord, median, round } from "../lib/record.ts";
import {
  Containerd,
  IMAGE_NAME,
  JOEY_RUNTIME,
  RUNC_RUNTIME,
} from "../../tests/containerd/harness.ts";
import { sandboxProcesses, startVirtContainerd } from "../../tests/virt/virt_harness.ts";

const RUNS = 10;
let seq = 0;
const uid = (tag: string) => `bench-${tag}-${Date.now().toString(36)}-${seq++}`;

async function timeCtrRun(c: Containerd, runtime: string, id: string): Promise<number> {
  const t0 = performance.now();
  const r = await c.ctr(["run", "--rm", "--runtime", runtime, IMAGE_NAME, id, "true"], {
    timeoutMs: 120_000,
  });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`ctr run ${id} with ${runtime} failed: ${r.stderr}`);
  return ms;
}

/** The numeric fields of the last shim log line with msg and sandbox=id. */
function logFields(log: string, msg: string, id: string): Record<string, number> {
  const line = log.split("\n").reverse().find((l) =>
    l.includes(`msg=${JSON.stringify(msg)}`) && l.includes(`sandbox=${id}`)
  );
  const out: Record<string, number> = {};
  for (const m of (line ?? "").matchAll(/(\w+)_ms=([\d.]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

async function rssKiB(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function withContainerds<T>(
  fn: (virt: Containerd, plain: Containerd, stateDir: string) => Promise<T>,
): Promise<T> {
  const stateDir = `/run/joey-bench-${Date.now().toString(36)}`;
  const virt = await startVirtContainerd(stateDir);
  try {
    const plain = await Containerd.start();
    try {
      return await fn(virt, plain, stateDir);
    } finally {
      await plain.stop();
    }
  } finally {
    await virt.stop();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

const ctrRunLatency: Benchmark = {
  ids: ["virt.ctr_run_latency"],
  run: () =>
    withContainerds(async (virt, plain) => {
      const samples = { virt: [] as number[], linux: [] as number[], runc: [] as number[] };
      const virtIds: string[] = [];
      for (let i = 0; i < RUNS; i++) {
        const id = uid("virt");
        virtIds.push(id);
        samples.virt.push(await timeCtrRun(virt, JOEY_RUNTIME, id));
        samples.linux.push(await timeCtrRun(plain, JOEY_RUNTIME, uid("linux")));
        samples.runc.push(await timeCtrRun(plain, RUNC_RUNTIME, uid("runc")));
      }
      const log = await virt.log();
      const phases: Record<string, number[]> = {};
      for (const id of virtIds) {
        const f = {
          ...logFields(log, "sandbox ready", id),
          ...logFields(log, "sandbox stopped", id),
        };
        for (const [k, v] of Object.entries(f)) (phases[k] ??= []).push(v);
      }
      const phaseText = Object.entries(phases)
        .map(([k, v]) => `${k} ${round(median(v), 1)} ms`).join(", ");
      return [makeRecord({
        id: "virt.ctr_run_latency",
        metric: "ctr run --rm busybox true, virt-container (a VM per pod)",
        unit: "ms",
        joey: median(samples.virt),
        peer: "containerd-shim-runc-v2 (io.containerd.runc.v2), no VM",
        peer_value: median(samples.runc),
        target: "",
        runs: RUNS,
        stat: "median",
        notes:
          `QEMU/TCG microvm unless the host has VMX/SVM. Phases (median, from the shim log): ` +
          `${phaseText || "none logged"}; the rest is ctr, containerd and the container's own ` +
          `create/start/wait/delete. linux-container (same shim, runc, no VM) median ` +
          `${round(median(samples.linux), 1)} ms.`,
      })];
    }),
};

const sandboxRss: Benchmark = {
  ids: ["virt.sandbox_rss"],
  run: () =>
    withContainerds(async (virt, _plain, stateDir) => {
      const totals: number[] = [];
      const parts: Record<string, number[]> = {};
      for (let i = 0; i < 3; i++) {
        const id = uid("rss");
        const r = await virt.ctr(
          ["run", "-d", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sleep", "600"],
          { timeoutMs: 120_000 },
        );
        if (r.code !== 0) throw new Error(`ctr run -d failed: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 2000)); // let the guest settle
        const state = JSON.parse(await Deno.readTextFile(`${stateDir}/${id}/state.json`));
        const named: [string, number][] = [["shim", Number(state.owner?.pid)]];
        for (const pid of await sandboxProcesses(`${stateDir}/${id}/`)) {
          const argv0 = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0")[0] ?? "";
          named.push([argv0.split("/").pop() ?? "?", pid]);
        }
        let total = 0;
        for (const [name, pid] of named) {
          const kib = await rssKiB(pid);
          total += kib;
          (parts[name] ??= []).push(kib / 1024);
        }
        totals.push(total / 1024);
        await virt.ctr(["tasks", "kill", "-s", "KILL", id]);
        for (let j = 0; j < 50; j++) {
          if ((await virt.ctr(["tasks", "delete", id])).code === 0) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        await virt.ctr(["containers", "delete", id]);
      }
      return [makeRecord({
        id: "virt.sandbox_rss",
        metric: "host RSS of one idle sandbox: shim + QEMU + virtiofsd + vsock back end",
        unit: "MiB",
        joey: median(totals),
        target: "",
        runs: totals.length,
        stat: "median",
        notes: Object.entries(parts).map(([k, v]) => `${k} ${round(median(v), 1)} MiB`)
          .join(", ") + " (QEMU's RSS includes the guest pages it touched)",
      })];
    }),
};

/** The virt-container benchmarks. */
export const benchmarks: Benchmark[] = [ctrRunLatency, sandboxRss];
