/**
 * A private containerd whose PATH holds an installed joey (PREFIX/bin) and
 * nothing of this checkout, for the install test. (tests/containerd/harness.ts
 * always puts the checkout's own launcher first on containerd's PATH.)
 * @module
 */
import { buildBusyboxImage, IMAGE_NAME } from "../containerd/image.ts";
import { mountsUnder, processesMatching } from "../containerd/harness.ts";

export { IMAGE_NAME };

/** A containerd 1.6 with its own root, state and socket under a temporary directory. */
export class InstalledContainerd {
  readonly dir: string;
  readonly namespace = "joeyinstall";
  #child: Deno.ChildProcess;

  private constructor(dir: string, child: Deno.ChildProcess) {
    this.dir = dir;
    this.#child = child;
  }

  get address(): string {
    return `${this.dir}/containerd.sock`;
  }

  /** Starts containerd with binDir first on its PATH and imports the busybox image. */
  static async start(binDir: string, imageCache: string): Promise<InstalledContainerd> {
    const dir = await Deno.makeTempDir({ prefix: "joey-install-ctd-" });
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n` +
        `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${dir}/containerd.sock"\n`,
    );
    const child = new Deno.Command("sh", {
      args: ["-c", 'exec containerd --config "$1/config.toml" 2>>"$1/containerd.log"', "sh", dir],
      // Only system directories besides binDir: no launcher of this checkout can be found.
      env: {
        PATH: `${binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        JOEY_RUNTIME: "linux-container",
      },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ctd = new InstalledContainerd(dir, child);
    try {
      const deadline = Date.now() + 20_000;
      while ((await ctd.ctr(["version"], 5000)).code !== 0) {
        if (Date.now() > deadline) throw new Error(`containerd did not start: ${await ctd.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const imp = await ctd.ctr(["images", "import", await buildBusyboxImage(imageCache)], 60_000);
      if (imp.code !== 0) throw new Error(`ctr images import: ${imp.stderr}`);
    } catch (err) {
      await ctd.stop();
      throw err;
    }
    return ctd;
  }

  log(): Promise<string> {
    return Deno.readTextFile(`${this.dir}/containerd.log`).catch(() => "");
  }

  /** Runs ctr in this containerd's namespace, killed after timeoutMs. */
  async ctr(args: string[], timeoutMs = 60_000) {
    const child = new Deno.Command("ctr", {
      args: ["--address", this.address, "--namespace", this.namespace, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const out = await child.output();
    clearTimeout(timer);
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** Shim processes serving this containerd. */
  shims(): Promise<number[]> {
    // The shim is `deno run … main.ts -address <sock> …` under the launcher: match the address.
    return processesMatching(`-address ${this.address}`);
  }

  /** Removes every task and container, stops containerd and removes its directory. */
  async stop(): Promise<void> {
    const tasks = await this.ctr(["tasks", "ls", "-q"], 10_000).catch(() => null);
    for (const id of tasks?.stdout.split("\n").filter(Boolean) ?? []) {
      await this.ctr(["tasks", "kill", "-a", "-s", "SIGKILL", id], 10_000);
      await this.ctr(["tasks", "delete", "-f", id], 15_000);
    }
    const containers = await this.ctr(["containers", "ls", "-q"], 10_000).catch(() => null);
    for (const id of containers?.stdout.split("\n").filter(Boolean) ?? []) {
      await this.ctr(["containers", "delete", id], 10_000);
    }
    try {
      this.#child.kill("SIGTERM");
    } catch { /* exited */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5000);
    await this.#child.status;
    clearTimeout(timer);
    for (const pid of await this.shims()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    for (const m of await mountsUnder(this.dir)) {
      await new Deno.Command("umount", { args: ["-l", m], stderr: "null" }).output();
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
