/**
 * Shim benchmarks (issue 2): `ctr run --rm … true` latency, idle daemon RSS,
 * and ttrpc State latency/throughput on each shim's own socket, for joey
 * (linux-container) and containerd's io.containerd.runc.v2, measured
 * alternately in one run against one private containerd.
 * @module
 */
import { alternate, type Benchmark, makeRecord, median } from "../lib/record.ts";
import {
  Containerd,
  IMAGE_NAME,
  JOEY_RUNTIME,
  processesMatching,
  REPO,
  RUNC_RUNTIME,
} from "../../tests/containerd/harness.ts";
import { DENO_RUN_FLAGS } from "../../src/shim/self.ts";
import { messageType } from "../../src/proto/registry.ts";
import { TtrpcClient } from "../../src/ttrpc/client.ts";

const RUNS = 15;
const STATE_CALLS = 2000;
const THROUGHPUT_MS = 2000;
const IN_FLIGHT = 32;
const RUNC_PEER = "containerd-shim-runc-v2 (io.containerd.runc.v2)";

let seq = 0;
const uid = (tag: string) => `bench-${tag}-${Date.now().toString(36)}-${seq++}`;

async function timeCtrRun(c: Containerd, runtime: string): Promise<number> {
  const id = uid(runtime === JOEY_RUNTIME ? "joey" : "runc");
  const t0 = performance.now();
  const r = await c.ctr(["run", "--rm", "--runtime", runtime, IMAGE_NAME, id, "true"]);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`ctr run with ${runtime} failed: ${r.stderr}`);
  return ms;
}

/**
 * Wall time of Deno running an empty module with the launcher's flags: the
 * floor each of the three Deno processes of a joey `ctr run` pays (start,
 * the daemon, delete; containerd waits for them one after the other).
 */
async function denoFloorMs(runs: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "joey-bench-" });
  try {
    await Deno.writeTextFile(`${dir}/empty.ts`, "");
    const deno = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const out = await new Deno.Command(deno, {
        args: ["run", ...DENO_RUN_FLAGS, `${dir}/empty.ts`],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      if (!out.success) throw new Error("deno run of an empty module failed");
      samples.push(performance.now() - t0);
    }
    return median(samples);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

/** Starts an idle container and returns its id, shim pid and shim address. */
async function idleContainer(c: Containerd, runtime: string) {
  const id = uid("idle");
  const r = await c.ctr(["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", "600"]);
  if (r.code !== 0) throw new Error(`ctr run -d with ${runtime} failed: ${r.stderr}`);
  const address = (await Deno.readTextFile(
    `${c.dir}/state/io.containerd.runtime.v2.task/${c.namespace}/${id}/address`,
  )).trim();
  const pids = await processesMatching("-id", id, c.address);
  // The daemon is the process that stays; `start` has exited by now.
  const pid = pids.find((p) => p !== Deno.pid);
  if (!pid) throw new Error(`no shim process for ${id}`);
  return { id, address, pid };
}

async function stop(c: Containerd, id: string) {
  await c.ctr(["tasks", "kill", "-s", "KILL", id]);
  for (let i = 0; i < 50; i++) {
    if ((await c.ctr(["tasks", "delete", id])).code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await c.ctr(["containers", "delete", id]);
}

const State = messageType("containerd.task.v2.StateRequest");

async function stateLatencyUs(address: string, id: string, ns: string): Promise<number> {
  const client = await TtrpcClient.dial(address);
  const payload = State.encode({ id });
  const meta = { metadata: { "containerd-namespace-ttrpc": ns } };
  const samples: number[] = [];
  try {
    for (let i = 0; i < STATE_CALLS; i++) {
      const t0 = performance.now();
      await client.call("containerd.task.v2.Task", "State", payload, meta);
      samples.push((performance.now() - t0) * 1000);
    }
  } finally {
    client.close();
  }
  return median(samples);
}

async function stateThroughput(address: string, id: string, ns: string): Promise<number> {
  const client = await TtrpcClient.dial(address);
  const payload = State.encode({ id });
  const meta = { metadata: { "containerd-namespace-ttrpc": ns } };
  let calls = 0;
  const end = performance.now() + THROUGHPUT_MS;
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        await client.call("containerd.task.v2.Task", "State", payload, meta);
        calls++;
      }
    }));
  } finally {
    client.close();
  }
  return calls / (THROUGHPUT_MS / 1000);
}

export const benchmarks: Benchmark[] = [{
  ids: [
    "shim.ctr_run_latency",
    "shim.rss",
    "shim.ttrpc_state_latency",
    "shim.ttrpc_state_throughput",
  ],
  async run() {
    const c = await Containerd.start();
    try {
      // Warm both paths once (image unpack, Deno code cache) before measuring.
      await timeCtrRun(c, JOEY_RUNTIME);
      await timeCtrRun(c, RUNC_RUNTIME);
      const run = await alternate(
        RUNS,
        () => timeCtrRun(c, JOEY_RUNTIME),
        () => timeCtrRun(c, RUNC_RUNTIME),
      );
      const floor = await denoFloorMs(RUNS);
      const joeyIdle = await idleContainer(c, JOEY_RUNTIME);
      const runcIdle = await idleContainer(c, RUNC_RUNTIME);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        const joeyRss = await rssKiB(joeyIdle.pid) / 1024;
        const runcRss = await rssKiB(runcIdle.pid) / 1024;
        const lat = { joey: [] as number[], runc: [] as number[] };
        const thr = { joey: [] as number[], runc: [] as number[] };
        for (let i = 0; i < 3; i++) {
          lat.joey.push(await stateLatencyUs(joeyIdle.address, joeyIdle.id, c.namespace));
          lat.runc.push(await stateLatencyUs(runcIdle.address, runcIdle.id, c.namespace));
          thr.joey.push(await stateThroughput(joeyIdle.address, joeyIdle.id, c.namespace));
          thr.runc.push(await stateThroughput(runcIdle.address, runcIdle.id, c.namespace));
        }
        return [
          makeRecord({
            id: "shim.ctr_run_latency",
            metric: "ctr run --rm busybox true, wall time",
            unit: "ms",
            joey: median(run.a),
            peer: RUNC_PEER,
            peer_value: median(run.b),
            target: "ratio <= 1.1",
            runs: RUNS,
            stat: "median",
            notes: `joey linux-container via runc; each joey run waits for 3 Deno processes in ` +
              `series (start, the daemon, delete), and Deno's own start-up (empty module, the ` +
              `launcher's flags) is ${floor.toFixed(1)} ms here; samples joey=[${
                run.a.map(Math.round)
              }] runc=[${run.b.map(Math.round)}]`,
          }),
          makeRecord({
            id: "shim.rss",
            metric: "idle shim daemon RSS with one sleeping container",
            unit: "MB",
            joey: joeyRss,
            peer: RUNC_PEER,
            peer_value: runcRss,
            target: "ratio <= 3",
            runs: 1,
            stat: "single",
            notes: "Deno's own baseline is about 33 MB; the Go runc shim about 13 MB",
          }),
          makeRecord({
            id: "shim.ttrpc_state_latency",
            metric:
              `ttrpc State round trip on the shim socket, same TypeScript client (${STATE_CALLS} sequential calls)`,
            unit: "µs",
            joey: median(lat.joey),
            peer: RUNC_PEER,
            peer_value: median(lat.runc),
            target: "ratio <= 2",
            runs: 3,
            stat: "median of per-run medians",
          }),
          makeRecord({
            id: "shim.ttrpc_state_throughput",
            metric: `State calls per second on one connection, ${IN_FLIGHT} in flight`,
            unit: "calls/s",
            joey: median(thr.joey),
            peer: RUNC_PEER,
            peer_value: median(thr.runc),
            target: "ratio >= 0.5",
            runs: 3,
            stat: "median",
          }),
        ];
      } finally {
        await stop(c, joeyIdle.id);
        await stop(c, runcIdle.id);
      }
    } finally {
      await c.stop();
    }
  },
}];
