/**
 * Density benchmarks (issue 9):
 *  - density.create_rate_1000 / _4000, density.rss_per_vm_4000: N idle test
 *    guests created and started concurrently in this one process through the
 *    FFI binding (64 creates in flight), all alive at once: VMs/s to the last
 *    guest's "ready", RSS, fds and threads per VM, host kernel memory per VM
 *    (MemAvailable), teardown time. Smaller N are measured too for the chart
 *    bench/results/density.svg (rate and RSS per VM against N).
 *  - density.ctr_run_50_node_vs_pod / _200_: N concurrent `ctr run -d` of
 *    linux-container in node mode vs pod mode, with the runc shim in the
 *    notes: total shim RSS (record) and total time (notes).
 * RLIMIT_NOFILE of this process is raised with prlimit(1) where 4,000 VMs
 * need more than its limit (3 fds per VM); the notes say so.
 * @module
 */
import { fileURLToPath } from "node:url";
import { type Benchmark, type BenchRecord, makeRecord } from "../lib/record.ts";
import { BuiltinVm } from "../../src/hypervisor/builtin/mod.ts";
import {
  Containerd,
  IMAGE_NAME,
  JOEY_RUNTIME,
  processesMatching,
  RUNC_RUNTIME,
} from "../../tests/containerd/harness.ts";
import { withTempDir } from "../../tests/lib/tmp.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const IDLE = `${root}build/vmm/guests/idle.elf`;
const IN_FLIGHT = 64;
const CHART_N = [100, 1000, 4000];

function statusField(key: string, pid: number | "self" = "self"): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(
    Deno.readTextFileSync(`/proc/${pid}/status`),
  );
  return Number(m?.[1] ?? NaN);
}

function memAvailableKiB(): number {
  return Number(/^MemAvailable:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1]);
}

function fds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

function nofileLimits(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/limits"));
  return { soft: Number(m?.[1]), hard: Number(m?.[2]) };
}

/**
 * Raises this process's RLIMIT_NOFILE to n with prlimit(1), or (without
 * CAP_SYS_RESOURCE) its soft limit to the hard one; returns what it did.
 */
async function raiseNofile(n: number): Promise<string> {
  const before = nofileLimits();
  const set = (v: string) =>
    new Deno.Command("prlimit", { args: ["--pid", String(Deno.pid), `--nofile=${v}`] }).output();
  if (before.soft >= n) return `RLIMIT_NOFILE already ${before.soft}`;
  if ((await set(`${n}:${n}`)).code !== 0 && before.soft < before.hard) {
    await set(`${before.hard}:${before.hard}`);
  }
  const after = nofileLimits();
  if (after.soft === before.soft) {
    const enough = after.soft >= 4000 * 3 + 200 ? "enough" : "NOT enough";
    return `RLIMIT_NOFILE left at ${after.soft} (hard ${after.hard}): prlimit to ${n} was ` +
      `refused (no CAP_SYS_RESOURCE); ${enough} for 4,000 VMs at 3 fds each`;
  }
  return `RLIMIT_NOFILE of the benchmark process raised with prlimit from ${before.soft} to ` +
    `${after.soft} (hard ${after.hard})`;
}

interface DensityRun {
  n: number;
  seconds: number;
  rate: number;
  rssPerVmKiB: number;
  guestPerVmKiB: number;
  fdsPerVm: number;
  threadsPerVm: number;
  kernelPerVmKiB: number;
  teardownSeconds: number;
}

/** N idle guests alive at once, created IN_FLIGHT at a time. */
async function densityRun(n: number, noPit = false): Promise<DensityRun> {
  const rss0 = statusField("VmRSS");
  const threads0 = statusField("Threads");
  const fd0 = fds();
  const avail0 = memAvailableKiB();
  const vms: BuiltinVm[] = [];
  let next = 0;
  const t0 = performance.now();
  try {
    const worker = async () => {
      while (next < n) {
        next++;
        const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: IDLE, noPit });
        vms.push(vm);
        await vm.start();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    await Promise.all(vms.map((vm) => vm.waitForOutput("ready\n", 300_000)));
    const seconds = (performance.now() - t0) / 1000;
    // Let Deno's idle blocking-pool threads (10 s keep-alive) count as they are.
    const guestKiB = vms.reduce((s, vm) => s + vm.guestResidentBytes() / 1024, 0);
    const run = {
      n,
      seconds,
      rate: n / seconds,
      rssPerVmKiB: (statusField("VmRSS") - rss0) / n,
      guestPerVmKiB: guestKiB / n,
      fdsPerVm: (fds() - fd0) / n,
      threadsPerVm: (statusField("Threads") - threads0) / n,
      kernelPerVmKiB: (avail0 - memAvailableKiB()) / n,
      teardownSeconds: 0,
    };
    const t1 = performance.now();
    await Promise.all(vms.splice(0).map((vm) => vm.destroy()));
    run.teardownSeconds = (performance.now() - t1) / 1000;
    return run;
  } finally {
    await Promise.all(vms.map((vm) => vm.destroy()));
  }
}

/** bench/results/density.svg: VMs/s and RSS per VM against N (two panels). */
function densityChart(runs: DensityRun[]): string {
  const w = 360, h = 200, pad = 50;
  const panel = (x0: number, title: string, values: number[], unit: string) => {
    const max = Math.max(...values) * 1.15 || 1;
    const xs = runs.map((_, i) => x0 + pad + (i * (w - 2 * pad)) / Math.max(1, runs.length - 1));
    const ys = values.map((v) => 30 + (h - 60) * (1 - v / max));
    const parts = [
      `<text x="${x0 + 10}" y="18">${title}</text>`,
      `<line x1="${x0 + pad}" y1="${h - 30}" x2="${x0 + w - pad}" y2="${h - 30}" stroke="#888"/>`,
      `<polyline fill="none" stroke="#4a7bd0" stroke-width="2" points="${
        xs.map((x, i) => `${x},${ys[i]}`).join(" ")
      }"/>`,
    ];
    runs.forEach((r, i) => {
      parts.push(`<circle cx="${xs[i]}" cy="${ys[i]}" r="3" fill="#4a7bd0"/>`);
      parts.push(
        `<text x="${xs[i]! - 12}" y="${ys[i]! - 8}">${values[i]!.toFixed(0)} ${unit}</text>`,
      );
      parts.push(`<text x="${xs[i]! - 12}" y="${h - 12}">N=${r.n}</text>`);
    });
    return parts.join("\n");
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      2 * w
    }" height="${h}" font-family="sans-serif" font-size="11">`,
    panel(0, "creation rate (VMs/s) against N live VMs", runs.map((r) => r.rate), "/s"),
    panel(w, "RSS per VM (KiB) against N live VMs", runs.map((r) => r.rssPerVmKiB), "KiB"),
    "</svg>",
    "",
  ].join("\n");
}

function describe(r: DensityRun): string {
  return `N=${r.n}: all ready in ${r.seconds.toFixed(2)} s (${r.rate.toFixed(0)} VMs/s), ` +
    `RSS ${r.rssPerVmKiB.toFixed(0)} KiB/VM (guest pages ${r.guestPerVmKiB.toFixed(0)} KiB), ` +
    `${r.fdsPerVm.toFixed(2)} fds/VM, ${r.threadsPerVm.toFixed(2)} threads/VM, host kernel ` +
    `memory ${(r.kernelPerVmKiB / 1024).toFixed(2)} MiB/VM (MemAvailable drop, KVM + PVM), ` +
    `teardown ${r.teardownSeconds.toFixed(2)} s`;
}

const vmBench: Benchmark = {
  ids: ["density.create_rate_1000", "density.create_rate_4000", "density.rss_per_vm_4000"],
  async run() {
    const raised = await raiseNofile(65536);
    const runs: DensityRun[] = [];
    for (const n of CHART_N) {
      runs.push(await densityRun(n));
      console.log(`  ${describe(runs.at(-1)!)}`);
    }
    await Deno.writeTextFile(`${root}bench/results/density.svg`, densityChart(runs));
    // The same 4,000 without the in-kernel PIT (JOEY_VM_F_NO_PIT), for the notes.
    const noPit = await densityRun(4000, true);
    console.log(`  no PIT: ${describe(noPit)}`);
    const at = (n: number) => runs.find((r) => r.n === n)!;
    const notes = (r: DensityRun) =>
      `${describe(r)}; ${IN_FLIGHT} creates in flight, 1 vCPU and 8 MiB per idle test guest, ` +
      `${navigator.hardwareConcurrency} cores; ${raised}; chart bench/results/density.svg`;
    const rate = (n: number): BenchRecord =>
      makeRecord({
        id: `density.create_rate_${n}`,
        metric:
          `idle test-guest VMs created and started concurrently in one process until all ${n} are live`,
        unit: "VMs/s",
        joey: at(n).rate,
        target: "joey >= 500",
        runs: n,
        stat: "total",
        notes: notes(at(n)),
      });
    const four = rate(4000);
    four.notes += `; with JOEY_VM_F_NO_PIT (no kvm-pit kernel thread per VM): ${describe(noPit)}`;
    return [
      rate(1000),
      four,
      makeRecord({
        id: "density.rss_per_vm_4000",
        metric: "process RSS per VM with 4,000 live idle test guests (guest pages included)",
        unit: "MiB",
        joey: at(4000).rssPerVmKiB / 1024,
        target: "joey <= 3",
        runs: 4000,
        stat: "mean",
        notes: notes(at(4000)),
      }),
    ];
  },
};

interface CtrRun {
  seconds: number;
  shims: number;
  rssMiB: number;
  failed: number;
}

/** N concurrent `ctr run -d` of different pods; total time and the shims' total RSS. */
async function ctrRun(n: number, mode: "pod" | "node" | "runc"): Promise<CtrRun> {
  return await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/joey.toml`,
      `[runtime]\nshim_mode = "${mode === "node" ? "node" : "pod"}"\n`,
    );
    const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
    try {
      const runtime = mode === "runc" ? RUNC_RUNTIME : JOEY_RUNTIME;
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          c.ctr([
            "run",
            "-d",
            "--runtime",
            runtime,
            "--annotation",
            `io.kubernetes.cri.sandbox-id=pod-${i}`,
            IMAGE_NAME,
            `dens-${mode}-${i}`,
            "sleep",
            "600",
          ], { timeoutMs: 600_000 })),
      );
      const seconds = (performance.now() - t0) / 1000;
      const pids = mode === "runc"
        ? await processesMatching("containerd-shim-runc-v2", c.address)
        : await processesMatching("main.ts", c.address);
      let rssKiB = 0;
      for (const pid of pids) {
        try {
          rssKiB += statusField("VmRSS", pid);
        } catch { /* exited */ }
      }
      return {
        seconds,
        shims: pids.length,
        rssMiB: rssKiB / 1024,
        failed: results.filter((r) => r.code !== 0).length,
      };
    } finally {
      await c.stop();
    }
  });
}

function ctrBench(n: number): Benchmark {
  return {
    ids: [`density.ctr_run_${n}_node_vs_pod`],
    async run() {
      await raiseNofile(65536);
      const node = await ctrRun(n, "node");
      const pod = await ctrRun(n, "pod");
      const runc = await ctrRun(n, "runc");
      const failed = node.failed + pod.failed + runc.failed;
      if (failed) console.log(`  ${failed} ctr runs failed`);
      const say = (name: string, r: CtrRun) =>
        `${name}: ${r.seconds.toFixed(1)} s for all ${n}, ${r.shims} shim processes, ` +
        `${r.rssMiB.toFixed(0)} MiB shim RSS (${(r.rssMiB / n).toFixed(2)} MiB per pod)` +
        (r.failed ? `, ${r.failed} failed` : "");
      return [
        makeRecord({
          id: `density.ctr_run_${n}_node_vs_pod`,
          metric: `total RSS of all shim processes after ${n} concurrent ctr run -d ` +
            `(linux-container, one pod each), node mode vs pod mode`,
          unit: "MiB",
          joey: node.rssMiB,
          peer: "the same joey shim in pod mode (one daemon per pod)",
          peer_value: pod.rssMiB,
          target: `joey <= ${3 * n}`,
          runs: n,
          stat: "total",
          notes: `${say("node", node)}; ${say("pod", pod)}; ${say("runc shim", runc)}; ` +
            `target: <= 3 MiB shim overhead per pod in node mode; measured one after the other ` +
            `(node, pod, runc) in one run, each with its own containerd`,
        }),
      ];
    },
  };
}

/** The density benchmarks. */
export const benchmarks: Benchmark[] = [vmBench, ctrBench(50), ctrBench(200)];
