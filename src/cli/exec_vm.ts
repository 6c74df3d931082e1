/**
 * `joey exec` into a virt-container sandbox: the guest agent is dialled
 * through the sandbox's hybrid vsock socket (`<sandbox>/vm/agent.sock`,
 * `CONNECT 1024`) on a connection of its own, next to the shim's; the
 * command runs with ExecProcess in one of the sandbox's containers, and
 * this process's stdin/stdout/stderr are relayed with
 * WriteStdin/CloseStdin and ReadStdout/ReadStderr until WaitProcess
 * answers. The containers of a sandbox are those its persisted state
 * (`state.json`) and its share (`shared/<container-id>/`) name; the state
 * also names each container's bundle, whose config.json gives the process
 * its user, env and cwd (exec_process.ts), as `ctr tasks exec` would.
 * @module
 */
import { AgentClient } from "../agent/client.ts";
import { processFromOci } from "../agent/oci.ts";
import { JoeyError } from "../errors.ts";
import { loadState } from "../resource/state.ts";
import {
  bundleProcess,
  type ExecOverrides,
  execProcess,
  FALLBACK_PROCESS,
} from "./exec_process.ts";

/** What to run in a sandbox. */
export interface VmExecOptions {
  /** The sandbox's state directory, `<state_dir>/<sandbox-id>`. */
  dir: string;
  sandboxId: string;
  /** --container, or undefined for the sandbox's only container. */
  container?: string;
  argv: string[];
  tty: boolean;
  /** --user/--env/--cwd over the container's own process settings. */
  overrides: ExecOverrides;
  /** Told why the container's own settings could not be read (the fallback is used). */
  warn?: (message: string) => void;
  /** Bound on dialling the agent and its Health.Check (default 5 s). */
  dialTimeoutMs?: number;
}

const SIGNUMS: Partial<Record<Deno.Signal, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** The container ids of a sandbox: its state's mounts, and the directories in its share. */
export async function sandboxContainers(dir: string): Promise<string[]> {
  const ids = new Set(Object.keys((await loadState(`${dir}/state.json`))?.mounts ?? {}));
  try {
    for await (const e of Deno.readDir(`${dir}/shared`)) if (e.isDirectory) ids.add(e.name);
  } catch { /* no share yet */ }
  return [...ids].sort();
}

/**
 * The container's own OCI process (from the bundle its state names), or
 * FALLBACK_PROCESS with the reason passed to warn.
 */
export async function containerProcess(
  dir: string,
  cid: string,
  warn: (message: string) => void,
): Promise<Readonly<Record<string, unknown>>> {
  const bundle = (await loadState(`${dir}/state.json`))?.bundles?.[cid];
  let why = `the sandbox's state names no bundle for container "${cid}"`;
  if (bundle) {
    try {
      return await bundleProcess(bundle);
    } catch (err) {
      why = `cannot read the process of container "${cid}" from ${bundle}/config.json: ${
        err instanceof Error ? err.message : String(err)
      }`;
    }
  }
  warn(`${why}; running as uid 0 in / with a default PATH`);
  return FALLBACK_PROCESS;
}

/** Picks the container to exec in: the one asked for, or the only one. */
export function pickContainer(sandboxId: string, ids: string[], wanted?: string): string {
  const list = ids.length ? ids.join(", ") : "none";
  if (wanted !== undefined) {
    if (ids.includes(wanted)) return wanted;
    throw new JoeyError(
      "NotFound",
      `container "${wanted}" is not in sandbox "${sandboxId}" (its containers: ${list})`,
    );
  }
  if (ids.length === 1) return ids[0]!;
  if (!ids.length) {
    throw new JoeyError("NotFound", `sandbox "${sandboxId}" has no containers to exec in`);
  }
  throw new JoeyError(
    "InvalidArgument",
    `sandbox "${sandboxId}" has ${ids.length} containers (${list}): choose one with --container ID`,
  );
}

/** Dials the sandbox's agent and waits for Health.Check; Unavailable when it cannot. */
async function dialAgent(o: VmExecOptions): Promise<AgentClient> {
  const socket = `${o.dir}/vm/agent.sock`;
  const why = (reason: string) =>
    new JoeyError(
      "Unavailable",
      `sandbox "${o.sandboxId}" found at ${o.dir}, but the agent client cannot reach its ` +
        `guest agent through ${socket}: ${reason}`,
    );
  if (!(await Deno.stat(socket).then(() => true, () => false))) {
    throw why("the socket does not exist (is the sandbox's VM running?)");
  }
  const timeoutMs = o.dialTimeoutMs ?? 5000;
  let agent: AgentClient;
  try {
    agent = await AgentClient.dialVsock(socket, { dial: { timeoutMs }, timeoutMs });
  } catch (err) {
    throw why(err instanceof Error ? err.message : String(err));
  }
  try {
    const status = await agent.check();
    if (status !== "SERVING") throw new Error(`Health.Check answered ${status}`);
    return agent;
  } catch (err) {
    agent.close();
    throw why(err instanceof Error ? err.message : String(err));
  }
}

async function writeAll(sink: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  for (let off = 0; off < data.length;) off += await sink.write(data.subarray(off));
}

/** Copies one of the process's output streams to sink until EOF (an empty read). */
async function relayOutput(
  read: () => Promise<Uint8Array>,
  sink: { write(p: Uint8Array): Promise<number> },
): Promise<void> {
  for (let chunk = await read(); chunk.length; chunk = await read()) await writeAll(sink, chunk);
}

/** Copies our stdin to the process until our EOF, then closes its stdin. */
async function relayInput(agent: AgentClient, cid: string, execId: string): Promise<void> {
  const buf = new Uint8Array(32 * 1024);
  for (let n = await Deno.stdin.read(buf); n !== null; n = await Deno.stdin.read(buf)) {
    if (n) await agent.writeAllStdin(cid, execId, buf.slice(0, n));
  }
  await agent.closeStdin(cid, execId);
}

function consoleSize(): { columns: number; rows: number } | null {
  try {
    return Deno.consoleSize();
  } catch {
    return null;
  }
}

/** Runs the command in the sandbox's container; resolves to its exit status (0–255). */
export async function execInSandbox(o: VmExecOptions): Promise<number> {
  // The agent first: a sandbox whose VM is gone says so rather than naming its containers.
  const agent = await dialAgent(o);
  const execId = `joey-exec-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const listeners: [Deno.Signal, () => void][] = [];
  let raw = false;
  try {
    const cid = pickContainer(o.sandboxId, await sandboxContainers(o.dir), o.container);
    const base = await containerProcess(o.dir, cid, o.warn ?? (() => {}));
    const process = processFromOci(execProcess(base, {
      argv: o.argv,
      tty: o.tty,
      size: o.tty ? consoleSize() : null,
      overrides: o.overrides,
    }));
    try {
      await agent.execProcess(cid, execId, process);
    } catch (err) {
      throw new JoeyError(
        "FailedPrecondition",
        `ExecProcess of ${JSON.stringify(o.argv)} in container "${cid}" of sandbox ` +
          `"${o.sandboxId}" failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    // Signals we get go to the process (with a terminal, ^C reaches it through the pty).
    for (const sig of Object.keys(SIGNUMS) as Deno.Signal[]) {
      if (o.tty && sig === "SIGINT") continue;
      const fn = () => void agent.signalProcess(cid, execId, SIGNUMS[sig]!).catch(() => {});
      Deno.addSignalListener(sig, fn);
      listeners.push([sig, fn]);
    }
    if (o.tty) {
      const resize = () => {
        const s = consoleSize();
        if (s) agent.ttyWinResize(cid, execId, s.rows, s.columns).catch(() => {});
      };
      Deno.addSignalListener("SIGWINCH", resize);
      listeners.push(["SIGWINCH", resize]);
      if (Deno.stdin.isTerminal()) {
        Deno.stdin.setRaw(true);
        raw = true;
      }
    }
    // With a terminal stderr is at EOF at once; reading it still tells the agent it was delivered.
    const outputs = Promise.all([
      relayOutput(() => agent.readStdout(cid, execId), Deno.stdout),
      relayOutput(() => agent.readStderr(cid, execId), Deno.stderr),
    ]);
    // Our stdin may never end (a terminal); the process's exit ends the command regardless.
    relayInput(agent, cid, execId).catch(() => {});
    const status = await agent.waitProcess(cid, execId);
    // A background child of the command may hold its output open: do not wait for it forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      outputs.catch(() => {}),
      new Promise<void>((r) => timer = setTimeout(r, 2000)),
    ]);
    clearTimeout(timer);
    return status > 255 ? 255 : status;
  } finally {
    if (raw) Deno.stdin.setRaw(false);
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
    agent.close();
  }
}
