/**
 * Built-in VMM benchmarks (issue 3), each measured through the FFI binding
 * the runtime uses, side by side with QEMU (-M microvm, same test guest via
 * its PVH note, same KVM, -cpu kvm64 because PVM rejects host/max):
 *  - vmm.start_to_first_output / vmm.start_to_exit: create call → first
 *    UART byte / debug-port exit of build/vmm/guests/hello.elf;
 *  - vmm.rss_per_vm: 100 idle guests in this process, RSS beyond the guest
 *    pages they touched, vs one QEMU process's RSS beyond its guest pages;
 *  - vmm.create_rate: 1,000 guests created, run to exit and destroyed.
 * @module
 */
import { fileURLToPath } from "node:url";
import { alternate, type Benchmark, makeRecord, median } from "../lib/record.ts";
import { BuiltinVm, setShellPool, shellPoolReady } from "../../src/hypervisor/builtin/mod.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const guest = (name: string) => `${root}build/vmm/guests/${name}.elf`;
const QEMU = "qemu-system-x86_64";
const QEMU_PEER = "qemu-system-x86_64 -M microvm -cpu kvm64 -enable-kvm (same guest, same KVM)";
const MEM_MIB = 16;
const RUNS = 20;

function qemuArgs(kernel: string): string[] {
  return [
    "-M",
    "microvm",
    "-cpu",
    "kvm64",
    "-enable-kvm",
    "-m",
    `${MEM_MIB}M`,
    "-smp",
    "1",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=4",
    "-kernel",
    kernel,
  ];
}

/** One builtin run: ms from the create call to the first output and to the exit. */
async function builtinRun(): Promise<{ first: number; exit: number }> {
  const t0 = performance.now();
  const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: MEM_MIB, kernel: guest("hello") });
  try {
    vm.start();
    await vm.waitForOutput("h", 5000);
    const first = performance.now() - t0;
    const end = await vm.wait();
    const exit = performance.now() - t0;
    if (end.reason !== "shutdown" || end.code !== 42) throw new Error(`guest ended ${end.reason}`);
    return { first, exit };
  } finally {
    await vm.destroy();
  }
}

/** One QEMU run: ms from spawn to the first stdout byte and to process exit. */
async function qemuRun(): Promise<{ first: number; exit: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(QEMU, {
    args: qemuArgs(guest("hello")),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let first = NaN;
  for await (const chunk of child.stdout) {
    if (Number.isNaN(first) && chunk.length) first = performance.now() - t0;
  }
  const status = await child.status;
  const exit = performance.now() - t0;
  // isa-debug-exit reports (42 << 1) | 1.
  if (status.code !== 85) throw new Error(`QEMU exited with ${status.code}`);
  return { first, exit };
}

function selfRssKiB(): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]);
}

/** A QEMU process's RSS and the RSS of its guest RAM mapping (the -m sized one). */
function qemuRss(pid: number): { rss: number; guest: number } {
  const rss = Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1]);
  let guestKiB = 0;
  let inGuest = false;
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const size = /^Size:\s+(\d+) kB/.exec(line);
    if (size) inGuest = Number(size[1]) === MEM_MIB * 1024;
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r && inGuest) guestKiB += Number(r[1]);
  }
  return { rss, guest: guestKiB };
}

const startBench: Benchmark = {
  ids: ["vmm.start_to_first_output", "vmm.start_to_exit"],
  async run() {
    await builtinRun(); // warm: library load, page cache
    await qemuRun();
    const joey: { first: number; exit: number }[] = [];
    const peer: { first: number; exit: number }[] = [];
    await alternate(
      RUNS,
      async () => {
        joey.push(await builtinRun());
        return 0;
      },
      async () => {
        peer.push(await qemuRun());
        return 0;
      },
    );
    // The same with a warm pool of VM shells (joey_vmm_pool), for the notes.
    const pooled: { first: number; exit: number }[] = [];
    await setShellPool(2, MEM_MIB);
    try {
      for (let i = 0; i < RUNS; i++) {
        for (let w = 0; w < 100 && shellPoolReady() === 0; w++) {
          await new Promise((r) => setTimeout(r, 5));
        }
        pooled.push(await builtinRun());
      }
    } finally {
      await setShellPool(0, 0);
    }
    const pooledNote = (pick: (r: { first: number; exit: number }) => number) => {
      const v = median(pooled.map(pick));
      const ratio = v / median(peer.map(pick));
      return `default (no pool) above; with a warm pool of pre-built VM shells ` +
        `(joey_vmm_pool): ${v.toFixed(2)} ms, ratio ${ratio.toFixed(3)}`;
    };
    const common = { runs: RUNS, stat: "median", unit: "ms", peer: QEMU_PEER };
    return [
      makeRecord({
        ...common,
        id: "vmm.start_to_first_output",
        metric: "time from create call to the guest's first UART write",
        joey: median(joey.map((r) => r.first)),
        peer_value: median(peer.map((r) => r.first)),
        target: "ratio <= 0.1",
        notes: pooledNote((r) => r.first),
      }),
      makeRecord({
        ...common,
        id: "vmm.start_to_exit",
        metric: "time from create call to the guest's debug-port exit",
        joey: median(joey.map((r) => r.exit)),
        peer_value: median(peer.map((r) => r.exit)),
        target: "ratio <= 0.1",
        notes: pooledNote((r) => r.exit),
      }),
    ];
  },
};

const rssBench: Benchmark = {
  ids: ["vmm.rss_per_vm"],
  async run() {
    const N = 100;
    const QEMUS = 5;
    const before = selfRssKiB();
    const vms: BuiltinVm[] = [];
    let guestKiB = 0;
    let rssKiB = 0;
    try {
      for (let i = 0; i < N; i++) {
        const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: MEM_MIB, kernel: guest("idle") });
        vms.push(vm);
        vm.start();
      }
      await Promise.all(vms.map((vm) => vm.waitForOutput("ready\n", 10_000)));
      rssKiB = selfRssKiB() - before;
      guestKiB = vms.reduce((s, vm) => s + vm.guestResidentBytes() / 1024, 0);
    } finally {
      await Promise.all(vms.map((vm) => vm.destroy()));
    }
    const perVm = rssKiB / N;
    const beyond = (rssKiB - guestKiB) / N;

    // QEMU: a few idle guests, each its own process.
    const children: Deno.ChildProcess[] = [];
    const samples: { rss: number; guest: number }[] = [];
    try {
      for (let i = 0; i < QEMUS; i++) {
        const child = new Deno.Command(QEMU, {
          args: qemuArgs(guest("idle")),
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        children.push(child);
        const reader = child.stdout.getReader();
        let text = "";
        while (!text.includes("ready")) {
          const { value, done } = await reader.read();
          if (done) throw new Error("QEMU ended before the guest was ready");
          text += new TextDecoder().decode(value);
        }
        reader.releaseLock();
        samples.push(qemuRss(child.pid));
      }
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* already gone */ }
        await c.stdout.cancel().catch(() => {});
        await c.status;
      }
    }
    const qemuBeyond = median(samples.map((s) => s.rss - s.guest)) / 1024;
    return [
      makeRecord({
        id: "vmm.rss_per_vm",
        metric: "RSS per live idle VM beyond the guest pages it touched",
        unit: "MiB",
        joey: beyond / 1024,
        peer: `${QEMU_PEER}, one process per VM`,
        peer_value: qemuBeyond,
        target: "joey <= 1",
        runs: N,
        stat: "mean",
        notes: `builtin: ${N} idle VMs in one process, ${(perVm / 1024).toFixed(3)} MiB RSS ` +
          `per VM of which ${(guestKiB / N / 1024).toFixed(3)} MiB guest pages; QEMU: median ` +
          `of ${QEMUS} processes, ${(median(samples.map((s) => s.rss)) / 1024).toFixed(1)} MiB ` +
          `RSS each, guest RAM mapping excluded`,
      }),
    ];
  },
};

const rateBench: Benchmark = {
  ids: ["vmm.create_rate"],
  async run() {
    const TOTAL = 1000;
    const IN_FLIGHT = 32;
    let next = 0;
    let bad = 0;
    const worker = async () => {
      while (next < TOTAL) {
        next++;
        const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: guest("hello") });
        try {
          vm.start();
          const end = await vm.wait();
          if (end.code !== 42) bad++;
        } finally {
          await vm.destroy();
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (performance.now() - t0) / 1000;
    if (bad) throw new Error(`${bad} guests did not exit with 42`);
    return [
      makeRecord({
        id: "vmm.create_rate",
        metric: "test-guest VMs created, run to exit and destroyed per second",
        unit: "VMs/s",
        joey: TOTAL / seconds,
        target: "joey >= 500",
        runs: TOTAL,
        stat: "total",
        notes: `${TOTAL} VMs, ${IN_FLIGHT} in flight, ${navigator.hardwareConcurrency} cores`,
      }),
    ];
  },
};

/** The VMM benchmarks. */
export const benchmarks: Benchmark[] = [startBench, rssBench, rateBench];
