/**
 * Test fixture for the linux-container runtime: a busybox rootfs built from
 * the host's busybox-static, bundles with a config.json from `<runtime>
 * spec`, FIFOs as containerd makes them, and a handler whose listener
 * records what it was told. Everything is removed by dispose(), which also
 * kills and deletes containers a failed test left behind.
 * @module
 */
import { linuxContainerFactory } from "../../../src/runtime/linux_container/mod.ts";
import type { ExitInfo, RuntimeHandler, Stdio } from "../../../src/runtime/mod.ts";
import { defaultConfig, type JoeyConfig } from "../../../src/config/mod.ts";

export const BUSYBOX = "/bin/busybox";
export const NAMESPACE = "joeytest";

/** Why runtime tests cannot run here, or null if they can. */
export function skipReason(runtime: string): string | null {
  if (Deno.uid() !== 0) return "needs root";
  try {
    Deno.statSync(BUSYBOX);
  } catch {
    return `${BUSYBOX} missing (apt-get install busybox-static)`;
  }
  const which = new Deno.Command("sh", { args: ["-c", `command -v ${runtime}`] }).outputSync();
  if (!which.success) return `${runtime} is not installed`;
  try {
    Deno.statSync(new URL("../../../build/os/libjoeyos.so", import.meta.url));
  } catch {
    return "build/os/libjoeyos.so missing (make build)";
  }
  return null;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Builds a busybox root filesystem under dir/rootfs-src. */
async function buildRootfs(dir: string): Promise<string> {
  const root = `${dir}/rootfs-src`;
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc", "root"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.copyFile(BUSYBOX, `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  // Like `busybox --install -s`, but with relative links that work inside.
  for (const applet of (await run(BUSYBOX, ["--list"])).split("\n")) {
    if (applet && applet !== "busybox") await Deno.symlink("busybox", `${root}/bin/${applet}`);
  }
  await Deno.writeTextFile(`${root}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
  return root;
}

/** What the handler's listener was told. */
export class Recorder {
  exits: ExitInfo[] = [];
  ooms: string[] = [];
  exited(exit: ExitInfo): void {
    this.exits.push(exit);
  }
  oom(id: string): void {
    this.ooms.push(id);
  }
  exitsOf(id: string, execId = ""): ExitInfo[] {
    return this.exits.filter((e) => e.id === id && e.execId === execId);
  }
}

/** Process settings a test picks for a container. */
export interface ContainerSpec {
  args: string[];
  terminal?: boolean;
  stdin?: boolean;
  memoryLimit?: number;
  /** Share the host pid namespace (no pid namespace of its own). */
  hostPid?: boolean;
}

/** A container's bundle and FIFOs. */
export interface Bundle {
  id: string;
  bundle: string;
  stdio: Stdio;
  cgroupsPath: string;
  spec: Record<string, unknown>;
}

let counter = 0;

/**
 * crun (1.8) refuses a hybrid cgroup host whose v2 side has controllers
 * (here hugetlb, which no v1 hierarchy binds). Run there, it gets a private
 * mount namespace without the v2 mount, where it sees a plain v1 host; the
 * handler drives it exactly as it drives crun itself.
 */
export async function runtimeBinary(name: string, dir: string): Promise<string> {
  if (name !== "crun") return name;
  const v2 = await Deno.readTextFile("/sys/fs/cgroup/unified/cgroup.controllers").catch(() => "");
  if (!v2.trim()) return name;
  console.log(`crun: hybrid cgroups with "${v2.trim()}" on v2; running it without the v2 mount`);
  const wrapper = `${dir}/crun-v1`;
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh\nexec unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec crun "$@"' crun "$@"\n`,
  );
  await Deno.chmod(wrapper, 0o755);
  return wrapper;
}

/** One test's world: temp dir, rootfs, handler. */
export class Fixture {
  readonly runtime: string;
  readonly dir: string;
  readonly rootfs: string;
  readonly root: string;
  readonly recorder = new Recorder();
  readonly handler: RuntimeHandler;
  readonly config: JoeyConfig;
  /** The parent cgroup of this fixture's containers, removed by dispose(). */
  readonly cgroupParent = `/joey-test-${Date.now().toString(36)}${counter++}`;
  #bundles: Bundle[] = [];

  private constructor(
    runtime: string,
    dir: string,
    rootfs: string,
    handler: RuntimeHandler,
    config: JoeyConfig,
    recorder: Recorder,
  ) {
    this.runtime = runtime;
    this.dir = dir;
    this.rootfs = rootfs;
    this.root = `${dir}/state/${NAMESPACE}`;
    this.handler = handler;
    this.config = config;
    this.recorder = recorder;
  }

  static async create(name: string): Promise<Fixture> {
    const dir = await Deno.makeTempDir({ prefix: "joey-lc-" });
    const rootfs = await buildRootfs(dir);
    const runtime = await runtimeBinary(name, dir);
    const defaults = defaultConfig();
    const config: JoeyConfig = {
      ...defaults,
      linux_container: { oci_runtime: runtime, root: `${dir}/state` },
    };
    const recorder = new Recorder();
    const handler = await linuxContainerFactory.create(recorder, {
      namespace: NAMESPACE,
      config,
    });
    return new Fixture(runtime, dir, rootfs, handler, config, recorder);
  }

  /** A bundle with config.json and FIFOs (stdin only if asked). */
  async bundle(spec: ContainerSpec): Promise<Bundle> {
    const id = `lc${Date.now().toString(36)}${counter++}`;
    const bundle = `${this.dir}/${id}`;
    await Deno.mkdir(bundle);
    await run("runc", ["spec"], bundle);
    const config = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
    config.process.terminal = !!spec.terminal;
    config.process.args = spec.args;
    config.root = { path: "rootfs", readonly: false };
    const cgroupsPath = `${this.cgroupParent}/${id}`;
    config.linux.cgroupsPath = cgroupsPath;
    if (spec.memoryLimit) {
      config.linux.resources = { ...config.linux.resources, memory: { limit: spec.memoryLimit } };
    }
    if (spec.hostPid) {
      config.linux.namespaces = config.linux.namespaces.filter((n: { type: string }) =>
        n.type !== "pid"
      );
    }
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(config, null, 2));
    const stdio: Stdio = {
      stdin: spec.stdin ? await this.fifo(bundle, "stdin") : "",
      stdout: await this.fifo(bundle, "stdout"),
      stderr: spec.terminal ? "" : await this.fifo(bundle, "stderr"),
      terminal: !!spec.terminal,
    };
    const b = { id, bundle, stdio, cgroupsPath, spec: config };
    this.#bundles.push(b);
    return b;
  }

  /** Makes a FIFO in dir. */
  async fifo(dir: string, name: string): Promise<string> {
    const path = `${dir}/${name}`;
    await run("mkfifo", [path]);
    return path;
  }

  /** handler.create for a bundle, with containerd's rootfs as a bind mount. */
  async create(b: Bundle): Promise<number> {
    const { pid } = await this.handler.create({
      id: b.id,
      bundle: b.bundle,
      namespace: NAMESPACE,
      rootfs: [{ type: "bind", source: this.rootfs, target: "", options: ["rbind", "rw"] }],
      stdio: b.stdio,
      spec: b.spec,
    });
    return pid;
  }

  /** Whether the OCI runtime still has state for id. */
  async runtimeKnows(id: string): Promise<boolean> {
    const out = await new Deno.Command(this.runtime, {
      args: ["--root", this.root, "state", id],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  }

  /** Kills and removes whatever a test left, then the temp dir. */
  async dispose(): Promise<void> {
    await this.handler.shutdown().catch(() => {});
    for (const b of this.#bundles) {
      await new Deno.Command(this.runtime, {
        args: ["--root", this.root, "delete", "--force", b.id],
        stdout: "null",
        stderr: "null",
      }).output().catch(() => {});
      await new Deno.Command("umount", { args: ["-R", `${b.bundle}/rootfs`], stderr: "null" })
        .output().catch(() => {});
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    // The runtime made the parent cgroup in every hierarchy; rmdir empties it.
    for (const entry of await Array.fromAsync(Deno.readDir("/sys/fs/cgroup"))) {
      for (const base of [`/sys/fs/cgroup/${entry.name}`, "/sys/fs/cgroup"]) {
        await Deno.remove(`${base}${this.cgroupParent}`).catch(() => {});
      }
    }
  }
}

/**
 * Reads a FIFO to EOF through a `cat` child, as containerd reads it from
 * another process: Deno's own file reads would park one of its few worker
 * threads per stream.
 */
export class FifoReader {
  text = "";
  done: Promise<void>;
  #waiters: (() => void)[] = [];
  constructor(path: string) {
    const child = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .spawn();
    this.done = (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of child.stdout) {
          this.text += dec.decode(chunk, { stream: true });
          this.#waiters.splice(0).forEach((w) => w());
        }
      } finally {
        await child.status;
        this.#waiters.splice(0).forEach((w) => w());
      }
    })();
  }
  /** Resolves once the text read contains want; rejects after ms. */
  async waitFor(want: string, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.text.includes(want)) {
      if (Date.now() > deadline) {
        throw new Error(
          `Timed out waiting for ${JSON.stringify(want)}; got ${JSON.stringify(this.text)}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, 100);
      });
      clearTimeout(timer);
    }
    return this.text;
  }
}

/** Whether a mount point exists at path. */
export async function mounted(path: string): Promise<boolean> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").some((l) => l.split(" ")[4] === path);
}

/** Whether a process exists. */
export function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
