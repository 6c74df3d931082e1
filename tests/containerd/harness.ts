/**
 * A private containerd for integration tests: its own root, state and
 * sockets under a temporary directory, the joey shim from this working tree
 * first on its PATH, the busybox test image imported, and a cleanup that
 * removes every task, shim, mount and directory even when a test failed.
 * @module
 */
import { fileURLToPath } from "node:url";
import { buildBusyboxImage, IMAGE_NAME } from "./image.ts";
import { socketAddress, socketPath } from "../../src/shim/address.ts";
import { DENO_RUN_FLAGS } from "../../src/shim/self.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
export const JOEY_RUNTIME = "io.containerd.joey.v2";
export const RUNC_RUNTIME = "io.containerd.runc.v2";
export { IMAGE_NAME };

const decoder = new TextDecoder();

/** The outcome of a ctr command. */
export interface CtrResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Writes the launcher containerd finds as containerd-shim-joey-v2, and returns its folder. */
export async function shimBinDir(): Promise<string> {
  const dir = `${REPO}/build/test-bin`;
  await Deno.mkdir(dir, { recursive: true });
  const deno = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;
  const denoDir = Deno.env.get("DENO_DIR") || `${REPO}/.cache/deno`;
  const script = `#!/bin/sh
# Test launcher: the joey shim from this working tree on the pinned Deno.
export DENO_DIR="${denoDir}"
export DENO_NO_UPDATE_CHECK=1
. "${REPO}/src/shim/fast_delete.sh"
exec "${deno}" run ${DENO_RUN_FLAGS.join(" ")} "${REPO}/main.ts" "$@"
`;
  const path = `${dir}/containerd-shim-joey-v2`;
  let current = "";
  try {
    current = await Deno.readTextFile(path);
  } catch { /* first time */ }
  if (current !== script) {
    await Deno.writeTextFile(`${path}.tmp`, script, { mode: 0o755 });
    await Deno.rename(`${path}.tmp`, path);
  }
  return dir;
}

/** JOEY_RUNTIME for containerd (and so its shims): see Containerd.start. */
function runtimeEnv(runtime: string | null | undefined): Record<string, string> {
  if (runtime === null) return {};
  return { JOEY_RUNTIME: runtime ?? Deno.env.get("JOEY_RUNTIME") ?? "linux-container" };
}

/** Process ids whose command line contains every one of the parts. */
export async function processesMatching(...parts: string[]): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
      if (parts.every((p) => cmdline.includes(p))) pids.push(Number(e.name));
    } catch { /* exited */ }
  }
  return pids;
}

/** Mount points at or below dir, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A private containerd 1.6 instance. */
export class Containerd {
  readonly dir: string;
  readonly address: string;
  readonly namespace: string;
  #child: Deno.ChildProcess;
  #binDir: string;

  private constructor(dir: string, child: Deno.ChildProcess, binDir: string, namespace: string) {
    this.dir = dir;
    this.address = `${dir}/containerd.sock`;
    this.#child = child;
    this.#binDir = binDir;
    this.namespace = namespace;
  }

  /**
   * Starts containerd and imports the busybox test image. `env` reaches
   * containerd and so every shim it starts (e.g. JOEY_CONFIG); `binDir`
   * replaces the working tree's shim launcher (e.g. an installed PREFIX/bin).
   */
  static async start(
    options: {
      namespace?: string;
      env?: Record<string, string>;
      binDir?: string;
      /**
       * The joey runtime the shims use: "linux-container" unless the test
       * process's own JOEY_RUNTIME says otherwise; null leaves it to the
       * configuration (the demo).
       */
      runtime?: string | null;
    } = {},
  ): Promise<Containerd> {
    const dir = await Deno.makeTempDir({ prefix: "joey-ctd-" });
    const binDir = options.binDir ?? await shimBinDir();
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${dir}/containerd.sock"
[debug]
  level = "info"
`,
    );
    // containerd logs to stderr; the shell sends it to a file kept for failure reports.
    const child = new Deno.Command("sh", {
      args: ["-c", 'exec containerd --config "$1/config.toml" 2>>"$1/containerd.log"', "sh", dir],
      env: {
        ...runtimeEnv(options.runtime),
        ...options.env,
        PATH: `${binDir}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
      },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const namespace = options.namespace ?? `joeytest${Math.random().toString(36).slice(2, 8)}`;
    const ctd = new Containerd(dir, child, binDir, namespace);
    try {
      const deadline = Date.now() + 20_000;
      while (true) {
        if (
          await exists(ctd.address) && (await ctd.ctr(["version"], { timeoutMs: 5000 })).code === 0
        ) break;
        if (Date.now() > deadline) {
          throw new Error(`containerd did not come up: ${await ctd.log()}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const archive = await buildBusyboxImage(`${REPO}/build/test-images`);
      const imp = await ctd.ctr(["images", "import", archive], { timeoutMs: 60_000 });
      if (imp.code !== 0) throw new Error(`ctr images import failed: ${imp.stderr}`);
    } catch (err) {
      await ctd.stop();
      throw err;
    }
    return ctd;
  }

  /** containerd's own log so far. */
  async log(): Promise<string> {
    try {
      return await Deno.readTextFile(`${this.dir}/containerd.log`);
    } catch {
      return "";
    }
  }

  /** The PATH containerd runs shims with (the joey launcher first). */
  get binDir(): string {
    return this.#binDir;
  }

  /** Runs ctr against this containerd in the test namespace (bounded in time). */
  async ctr(
    args: string[],
    options: { stdin?: string | Uint8Array; timeoutMs?: number; namespace?: string } = {},
  ): Promise<CtrResult> {
    const child = new Deno.Command("ctr", {
      args: [
        "--address",
        this.address,
        "--namespace",
        options.namespace ?? this.namespace,
        ...args,
      ],
      stdin: options.stdin !== undefined ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(
        typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
      );
      await w.close();
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* done */ }
    }, timeoutMs);
    const out = await child.output();
    clearTimeout(timer);
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }

  /** A task's row in `ctr tasks ls` ([id, pid, status]), or [] when there is none. */
  async taskRow(id: string): Promise<string[]> {
    const ls = await this.ctr(["tasks", "ls"]);
    return ls.stdout.split("\n").find((l) => l.split(/\s+/)[0] === id)?.trim().split(/\s+/) ?? [];
  }

  /** A task's status as ctr shows it (RUNNING, PAUSED, STOPPED…), "" when there is none. */
  async taskStatus(id: string): Promise<string> {
    return (await this.taskRow(id))[2] ?? "";
  }

  /** The socket a shim for this container group would use. */
  async shimSocket(group: string, namespace = this.namespace): Promise<string> {
    return socketPath(await socketAddress(this.address, namespace, group));
  }

  /** Shim processes (either runtime) serving this containerd. */
  async shimProcesses(): Promise<number[]> {
    // The test launcher execs `deno run … main.ts -namespace … -address …`.
    const named = await processesMatching("containerd-shim", `-address ${this.address}`);
    const launched = await processesMatching("main.ts", `-address ${this.address}`);
    return [...new Set([...named, ...launched])];
  }

  /**
   * Everything left behind for these container ids: shim processes and
   * sockets, mounts under the state dir, runc/joey OCI state, cgroups.
   */
  async leftovers(ids: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const pid of await this.shimProcesses()) found.push(`shim process ${pid}`);
    for (const id of ids) {
      const sock = await this.shimSocket(id);
      if (await exists(sock)) found.push(`shim socket ${sock} (${id})`);
      for (const root of ["/run/joey/runc", "/run/containerd/runc"]) {
        if (await exists(`${root}/${this.namespace}/${id}`)) {
          found.push(`OCI runtime state ${root}/${this.namespace}/${id}`);
        }
      }
      for (const ctl of ["memory", "pids", "cpu", "freezer", "unified"]) {
        const cg = `/sys/fs/cgroup/${ctl}/${this.namespace}/${id}`;
        if (await exists(cg)) found.push(`cgroup ${cg}`);
      }
    }
    for (const m of await mountsUnder(`${this.dir}/state`)) found.push(`mount ${m}`);
    return found;
  }

  /** Stops every task and containerd itself, and removes everything it made. */
  async stop(): Promise<void> {
    try {
      const ns = await this.ctr(["namespaces", "ls", "-q"], { timeoutMs: 10_000 });
      for (const namespace of ns.stdout.split("\n").filter(Boolean)) {
        const tasks = await this.ctr(["tasks", "ls", "-q"], { namespace, timeoutMs: 10_000 });
        for (const id of tasks.stdout.split("\n").filter(Boolean)) {
          await this.ctr(["tasks", "kill", "-a", "-s", "SIGKILL", id], {
            namespace,
            timeoutMs: 10_000,
          });
          await this.ctr(["tasks", "delete", "-f", id], { namespace, timeoutMs: 15_000 });
        }
        const containers = await this.ctr(["containers", "ls", "-q"], {
          namespace,
          timeoutMs: 10_000,
        });
        for (const id of containers.stdout.split("\n").filter(Boolean)) {
          await this.ctr(["containers", "delete", id], { namespace, timeoutMs: 10_000 });
        }
      }
    } catch { /* containerd may be gone already */ }
    try {
      this.#child.kill("SIGTERM");
    } catch { /* exited */ }
    const done = this.#child.status;
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5000);
    await done;
    clearTimeout(timer);
    for (const pid of await this.shimProcesses()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    // runc leaves the namespace's parent cgroups and state folder behind
    // once its containers are gone; they are empty by now.
    for (
      const ctl of [
        "memory",
        "pids",
        "cpu",
        "cpuacct",
        "cpuset",
        "blkio",
        "devices",
        "freezer",
        "net_cls",
        "perf_event",
        "hugetlb",
        "unified",
        "systemd",
      ]
    ) {
      await Deno.remove(`/sys/fs/cgroup/${ctl}/${this.namespace}`).catch(() => {});
    }
    for (const root of ["/run/joey/runc", "/run/containerd/runc"]) {
      await Deno.remove(`${root}/${this.namespace}`).catch(() => {});
    }
    for (const m of await mountsUnder(this.dir)) {
      await new Deno.Command("umount", { args: ["-l", m], stderr: "null" }).output();
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
