/**
 * Test fixtures for the guest agent: the agent in host test mode (inside
 * `unshare --mount --pid --fork --mount-proc`, with a private cgroup v2
 * root), a busybox rootfs, and OCI specs shaped like containerd's.
 * @module
 */
import type { OciProcess, OciSpec } from "../../src/agent/mod.ts";
import { AgentClient } from "../../src/agent/mod.ts";
import { assert } from "../lib/assert.ts";
import { waitFor, withTempDir } from "../lib/tmp.ts";
import { makeBusyboxRootfs } from "../containerd/image.ts";

export { makeBusyboxRootfs };

const ROOT = new URL("../../", import.meta.url).pathname;
/** The agent binaries: the static one the VM runs, and the ASan+UBSan build. */
export const AGENT_BIN = `${ROOT}build/guest/agent/joey-agent`;
export const AGENT_SAN_BIN = `${ROOT}build/guest/agent/joey-agent-san`;

/** Why host mode cannot run here, or null. */
export function hostModeUnavailable(): string | null {
  if (Deno.uid() !== 0) return "host test mode needs root (mount and pid namespaces)";
  try {
    Deno.statSync(AGENT_BIN);
  } catch {
    return `${AGENT_BIN} is not built (make guest-agent)`;
  }
  if (!cgroup2Mount()) return "no cgroup2 hierarchy mounted";
  return null;
}

/** The cgroup2 mount point (the unified one on a hybrid v1/v2 host). */
export function cgroup2Mount(): string | null {
  const mounts = Deno.readTextFileSync("/proc/self/mounts").split("\n");
  for (const line of mounts) {
    const [, dir, type] = line.split(" ");
    if (type === "cgroup2" && dir) return dir;
  }
  return null;
}

/** A running host-mode agent. */
export interface HostAgent {
  client: AgentClient;
  /** The agent's pid as this host sees it. */
  pid: number;
  socket: string;
  cgroupRoot: string;
  shareDir: string;
  /** Stops the agent (SIGTERM: it removes its containers) and returns its stderr. */
  stop(): Promise<string>;
}

/** Starts bin in host test mode under dir and connects to it. */
export async function startHostAgent(bin: string, dir: string): Promise<HostAgent> {
  const socket = `${dir}/agent.sock`;
  const shareDir = `${dir}/share`;
  const cgroupRoot = `${cgroup2Mount()}/joey-agent-test-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(shareDir, { recursive: true });
  await Deno.mkdir(cgroupRoot);
  // --kill-child: should the test runner die, unshare's death takes the
  // agent (and with it the pid namespace) along.
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child=SIGTERM",
      bin,
      "--unix",
      socket,
      "--cgroup-root",
      cgroupRoot,
      "--share-dir",
      shareDir,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS: "print_stacktrace=1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const cleanupCgroups = async () => {
    // The agent removes <root>/joey/<cid> and <root>/joey; the root is ours.
    await waitFor(
      async () => {
        try {
          await Deno.remove(cgroupRoot);
          return true;
        } catch (err) {
          return err instanceof Deno.errors.NotFound;
        }
      },
      `removal of ${cgroupRoot}`,
      10_000,
    ).catch(() => {});
  };
  try {
    await waitFor(async () => (await Deno.stat(socket)).isSocket === true, "agent socket", 10_000);
  } catch (err) {
    child.kill("SIGKILL");
    await child.status;
    await cleanupCgroups();
    throw new Error(`agent did not start: ${await stderr}`, { cause: err });
  }
  // The agent's pid as the host sees it: SIGTERM goes to it directly.
  const agentPid = Number(
    (await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`)).trim().split(" ")[0],
  );
  const client = await AgentClient.dialUnix(socket, { timeoutMs: 15_000 });
  return {
    client,
    pid: agentPid,
    socket,
    cgroupRoot,
    shareDir,
    async stop() {
      client.close();
      try {
        Deno.kill(agentPid, "SIGTERM");
      } catch { /* gone */ }
      // unshare exits with the agent, which first removes its containers.
      const timer = setTimeout(() => {
        try {
          Deno.kill(agentPid, "SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
      await cleanupCgroups();
      return await stderr;
    },
  };
}

/** How withHostAgent prepares the agent's directory. */
export interface HostAgentOptions {
  /** Temp-dir name prefix (tells the tests' leftovers apart). */
  prefix?: string;
  /** Build a busybox tree at <dir>/busybox for the containers (default true). */
  rootfs?: boolean;
  /** Returns the program to start instead of bin (e.g. a wrapper entering a netns). */
  launcher?: (dir: string) => Promise<string>;
}

/**
 * Runs fn against a fresh host-mode agent in a temp dir and stops it after,
 * even when fn fails. The sanitizer build must end without a report.
 */
export async function withHostAgent(
  bin: string,
  fn: (agent: HostAgent, rootfs: string) => Promise<void>,
  opts: HostAgentOptions = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    const rootfs = `${dir}/busybox`;
    if (opts.rootfs ?? true) await makeBusyboxRootfs(rootfs);
    const agent = await startHostAgent(opts.launcher ? await opts.launcher(dir) : bin, dir);
    let stderr = "";
    try {
      await fn(agent, rootfs);
    } finally {
      stderr = await agent.stop();
    }
    assert(!/Sanitizer|runtime error:/.test(stderr), `sanitizer report:\n${stderr}`);
  }, opts.prefix ?? "joey-agent-test-");
}

/** A process spec like containerd's defaults: root, PATH, cwd /. */
export function process(args: string[], extra: Partial<OciProcess> = {}): OciProcess {
  return {
    Args: args,
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    Cwd: "/",
    User: { UID: 0, GID: 0 },
    ...extra,
  };
}

/** A container spec with containerd's default mounts and namespaces. */
export function spec(proc: OciProcess, extra: Partial<OciSpec> = {}): OciSpec {
  return {
    Version: "1.0.2",
    Process: proc,
    Root: { Path: "", Readonly: false },
    Hostname: "joey-test",
    Mounts: [
      {
        destination: "/proc",
        type: "proc",
        source: "proc",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
    ],
    Linux: {
      Namespaces: [{ Type: "pid" }, { Type: "ipc" }, { Type: "uts" }, { Type: "mount" }],
      MaskedPaths: ["/proc/kcore", "/proc/keys"],
      ReadonlyPaths: ["/proc/sys"],
    },
    ...extra,
  };
}

/** Bytes as text. */
export const text = (b: Uint8Array) => new TextDecoder().decode(b);
