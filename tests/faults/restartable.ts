/**
 * A private containerd (tests/containerd/harness.ts) that can be crashed and
 * started again on the same root, state and sockets, as a node's containerd
 * restarts under running shims. Wraps the harness rather than editing it:
 * the first containerd is the harness's; later ones are started here with the
 * same config file and environment, and stopped here.
 * @module
 */
import { Containerd, processesMatching } from "../containerd/harness.ts";
import { waitFor } from "../lib/tmp.ts";

/** A harness containerd plus restart(). */
export class RestartableContainerd {
  readonly ctd: Containerd;
  #env: Record<string, string>;
  #child: Deno.ChildProcess | null = null;

  private constructor(ctd: Containerd, env: Record<string, string>) {
    this.ctd = ctd;
    this.#env = env;
  }

  /** Starts containerd through the harness (image imported). */
  static async start(
    options: { env?: Record<string, string>; namespace?: string } = {},
  ): Promise<RestartableContainerd> {
    const ctd = await Containerd.start(options);
    return new RestartableContainerd(ctd, options.env ?? {});
  }

  /** Process ids of this instance's containerd (any generation). */
  containerdPids(): Promise<number[]> {
    return processesMatching("containerd --config", `${this.ctd.dir}/config.toml`);
  }

  /**
   * Kills containerd with the signal (SIGKILL: a crash) and starts a new one
   * on the same config; resolves once it answers `ctr version`.
   */
  async restart(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    for (const pid of await this.containerdPids()) {
      try {
        Deno.kill(pid, signal);
      } catch { /* gone */ }
    }
    await waitFor(async () => (await this.containerdPids()).length === 0, "containerd to exit");
    await this.#stopOwnChild();
    const dir = this.ctd.dir;
    this.#child = new Deno.Command("sh", {
      args: ["-c", 'exec containerd --config "$1/config.toml" 2>>"$1/containerd.log"', "sh", dir],
      env: {
        ...this.#env,
        PATH: `${this.ctd.binDir}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
      },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(
      async () => (await this.ctd.ctr(["version"], { timeoutMs: 5000 })).code === 0,
      "the restarted containerd to answer",
      20_000,
      100,
    );
  }

  async #stopOwnChild(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
  }

  /** The harness's cleanup (tasks, shims, mounts, folders), then the restarted containerd. */
  async stop(): Promise<void> {
    await this.ctd.stop();
    await this.#stopOwnChild();
    for (const pid of await this.containerdPids()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(this.ctd.dir, { recursive: true }).catch(() => {});
  }
}
