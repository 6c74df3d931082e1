/**
 * Start-up cost of the joey CLI and of the shim process, as an operator
 * gets them from `make install`: `joey version` wall time and
 * `containerd-shim-joey-v2 start` (until it prints the address), and the
 * RSS of the idle shim daemon it starts. The launcher (installed into a
 * temporary PREFIX) is measured against the compiled executable from
 * `make dist`, alternately, where that can be built; otherwise the peer is
 * null and the notes say why.
 * @module
 */
import { fileURLToPath } from "node:url";
import { alternate, type Benchmark, type BenchRecord, makeRecord, median } from "../lib/record.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const DENO = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;
const RUNS = 15;

async function timed(cmd: string, args: string[], cwd = "/"): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env: { JOEY_CONFIG: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return ms;
}

async function sh(cmd: string, args: string[], cwd = REPO) {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
}

/** The compiled executable, or why there is none. */
async function compiled(): Promise<{ exe: string | null; why: string }> {
  const r = await sh("make", ["-s", "dist-only"]);
  if (r.ok) return { exe: `${REPO}/dist/joey`, why: "" };
  return {
    exe: null,
    why: r.stderr.includes("needs Deno's runtime 'denort'")
      ? "no compiled executable: make dist needs denort (DENORT_BIN unset, Deno's download host " +
        "unreachable)"
      : `no compiled executable: make dist failed (${r.stderr.trim().split("\n").at(-1)})`,
  };
}

/** Pids of processes whose command line contains text. */
async function pidsWith(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.replaceAll("\0", " ").includes(text)) pids.push(Number(e.name));
  }
  return pids;
}

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/**
 * Runs `<shim> … start` in a fresh bundle, measures it, then the idle
 * daemon's RSS after settleMs; stops the daemon and removes what it made.
 */
async function shimStart(shim: string, work: string, n: number): Promise<[number, number]> {
  const bundle = `${work}/bundle-${n}`;
  await Deno.mkdir(bundle);
  await Deno.writeTextFile(`${bundle}/config.json`, "{}");
  const address = `${work}/containerd-${n}.sock`;
  const id = `bench-${n}`;
  const ms = await timed(shim, [
    "-namespace",
    "joeybench",
    "-address",
    address,
    "-publish-binary",
    "/usr/bin/containerd",
    "-id",
    id,
    "start",
  ], bundle);
  const socket = (await Deno.readTextFile(`${bundle}/address`)).replace("unix://", "");
  const pids = await pidsWith(`-socket ${socket}`);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const rss = pids.length ? await rssMb(pids[0]!) : NaN;
    return [ms, rss];
  } finally {
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* gone */ }
    }
    for (let i = 0; i < 50 && (await pidsWith(`-socket ${socket}`)).length; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await Deno.remove(socket).catch(() => {});
  }
}

async function withInstall<T>(fn: (prefix: string, work: string) => Promise<T>): Promise<T> {
  const work = await Deno.makeTempDir({ prefix: "joey-bench-cli-" });
  const prefix = `${work}/prefix`;
  try {
    const inst = await sh("bash", ["scripts/install.sh", prefix, REPO, DENO]);
    if (!inst.ok) throw new Error(`install failed: ${inst.stderr}`);
    return await fn(prefix, work);
  } finally {
    await sh("bash", ["scripts/uninstall.sh", prefix]);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function run(): Promise<BenchRecord[]> {
  return await withInstall(async (prefix, work) => {
    const joey = `${prefix}/bin/joey`;
    const { exe, why } = await compiled();
    // Warm both (Deno's V8 code cache is written on first runs).
    for (let i = 0; i < 3; i++) await timed(joey, ["version"]);
    const version = exe
      ? await alternate(RUNS, () => timed(joey, ["version"]), () => timed(exe, ["version"]))
      : { a: [] as number[], b: [] as number[] };
    for (let i = 0; !exe && i < RUNS; i++) version.a.push(await timed(joey, ["version"]));
    const direct: number[] = [];
    const floor: number[] = [];
    const empty = `${work}/empty.ts`;
    await Deno.writeTextFile(empty, "");
    for (let i = 0; i < RUNS; i++) {
      direct.push(
        await timed(DENO, ["run", "-A", "--cached-only", "--quiet", `${REPO}/main.ts`, "version"]),
      );
      floor.push(await timed(DENO, ["run", "--quiet", empty]));
    }
    const starts: number[] = [];
    const rss: number[] = [];
    const shim = `${prefix}/bin/containerd-shim-joey-v2`;
    for (let i = 0; i < 8; i++) {
      const [ms, mb] = await shimStart(shim, work, i);
      starts.push(ms);
      if (!Number.isNaN(mb)) rss.push(mb);
    }
    const peerName = exe ? "compiled executable (make dist)" : null;
    const common = `${why ? why + "; " : ""}launcher = PREFIX/bin/joey from make install`;
    return [
      makeRecord({
        id: "cli.startup",
        metric: "`joey version` wall time",
        unit: "ms",
        joey: median(version.a),
        peer: peerName,
        peer_value: exe ? median(version.b) : null,
        target: "joey <= 250",
        runs: RUNS,
        stat: "median",
        notes: `${common}; main.ts on Deno without the launcher ${median(direct).toFixed(1)} ms; ` +
          `Deno floor (empty script) ${median(floor).toFixed(1)} ms; target is this issue's own`,
      }),
      makeRecord({
        id: "cli.shim_start",
        metric: "`containerd-shim-joey-v2 start` until it prints the address (daemon started)",
        unit: "ms",
        joey: median(starts),
        peer: null,
        target: "joey <= 1000",
        runs: starts.length,
        stat: "median",
        notes: `${common}; no containerd involved (start only spawns the daemon)`,
      }),
      makeRecord({
        id: "cli.shim_rss",
        metric: "RSS of the idle shim daemon 0.5 s after start",
        unit: "MB",
        joey: median(rss),
        peer: null,
        target: "joey <= 60",
        runs: rss.length,
        stat: "median",
        notes: `${common}; the runc shim comparison is shim.rss`,
      }),
    ];
  });
}

/** The CLI benchmarks. */
export const benchmarks: Benchmark[] = [
  { ids: ["cli.startup", "cli.shim_start", "cli.shim_rss"], run },
];
