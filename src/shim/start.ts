/**
 * `containerd-shim-joey-v2 … start`: find or start the daemon for this
 * container's group and print its address. containerd reads stdout and
 * stderr together, so nothing but the address is printed on success.
 * @module
 */
import { invalidArgument } from "../errors.ts";
import { NODE_GROUP, shimGroup, socketAddress, socketPath } from "./address.ts";
import { readBundleSpec } from "./bundle.ts";
import type { ShimFlags } from "./flags.ts";
import { selfCommand } from "./self.ts";

const READY_TIMEOUT_MS = 15_000;

/**
 * Everything on stdin (containerd's runtime options, or nothing), read with
 * plain reads: a ReadableStream costs the process more than the bytes do.
 */
async function readStdin(): Promise<Uint8Array> {
  if (Deno.stdin.isTerminal()) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const buf = new Uint8Array(total ? 65536 : 4096);
    const n = await Deno.stdin.read(buf);
    if (n === null) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** "live" if a daemon accepts on the socket, "stale" if only the file is left, else "absent". */
async function socketState(path: string): Promise<"live" | "stale" | "absent"> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return "live";
  } catch (err) {
    return err instanceof Deno.errors.ConnectionRefused ? "stale" : "absent";
  }
}

/** The spec annotations of the bundle in cwd ({} when absent). */
async function bundleAnnotations(bundle: string): Promise<Record<string, string>> {
  return ((await readBundleSpec(bundle)).annotations ?? {}) as Record<string, string>;
}

/** Runs `start`; returns the exit code. */
export async function runStart(flags: ShimFlags): Promise<number> {
  if (!flags.id) throw invalidArgument("start needs -id");
  if (!flags.namespace) throw invalidArgument("start needs -namespace");
  const bundle = Deno.cwd();
  // Runtime options arrive on stdin as a marshalled Any; joey reads its
  // configuration from TOML instead, but the pipe must be drained. The
  // reads overlap: every millisecond here delays the daemon's spawn.
  const [options, annotations, config] = await Promise.all([
    readStdin(),
    bundleAnnotations(bundle),
    loadConfigModules(),
  ]);
  const mode = await shimMode(config, annotations);
  const group = mode === "node" ? NODE_GROUP : shimGroup(flags.id, annotations);
  const address = await socketAddress(flags.address, flags.namespace, group);
  const path = socketPath(address);
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true, mode: 0o711 });

  // In node mode every start of the namespace races for one daemon: they
  // take turns (flock on the socket folder, held for a liveness check, or
  // for one spawn). A pod's containers are normally created one by one; if
  // two race anyway, the loser's daemon finds the socket bound and steps aside.
  const lock = mode === "node" ? await Deno.open(dir, { read: true }) : null;
  try {
    await lock?.lock(true);
    const state = await socketState(path);
    if (state !== "live") {
      if (state === "stale") await Deno.remove(path).catch(() => {});
      await spawnDaemon(flags, bundle, path, mode, options);
    }
  } finally {
    lock?.close();
  }
  await Deno.writeTextFile(`${bundle}/address`, address);
  await Deno.stdout.write(new TextEncoder().encode(address));
  return 0;
}

/** The configuration modules `start` needs (loaded while stdin and the spec are read). */
function loadConfigModules() {
  return Promise.all([import("../config/mod.ts"), import("../runtime/registry.ts")]);
}

/** "pod" or "node" from the configuration (with the pod's annotations where the file allows). */
async function shimMode(
  [{ applyAnnotations, loadConfig }, { configAnnotations }]: Awaited<
    ReturnType<typeof loadConfigModules>
  >,
  annotations: Record<string, string>,
): Promise<string> {
  const loaded = applyAnnotations(await loadConfig(), configAnnotations({ annotations }));
  return loaded.config.runtime.shim_mode;
}

/** Starts the daemon and waits for its readiness line. */
async function spawnDaemon(
  flags: ShimFlags,
  bundle: string,
  path: string,
  mode: string,
  options: Uint8Array,
): Promise<void> {
  const [cmd, ...prefix] = selfCommand();
  const args = [
    ...prefix,
    "-namespace",
    flags.namespace,
    "-id",
    flags.id,
    "-address",
    flags.address,
    "-publish-binary",
    flags.publishBinary,
    "-socket",
    path,
    "-mode",
    mode,
    ...(flags.debug ? ["-debug"] : []),
  ];
  // The daemon gets its own stdout pipe for the readiness line and no
  // stderr: if it inherited ours, containerd would wait for it to exit.
  const child = new Deno.Command(cmd!, {
    args,
    cwd: bundle,
    stdin: options.length ? "piped" : "null",
    stdout: "piped",
    stderr: "null",
    detached: true,
  }).spawn();
  if (options.length) {
    const w = child.stdin.getWriter();
    await w.write(options).catch(() => {});
    await w.close().catch(() => {});
  }
  const line = await readReadyLine(child.stdout, READY_TIMEOUT_MS);
  child.unref();
  // "exists": another start's daemon bound the socket first; it serves us too.
  if (!line.startsWith("ready") && !line.startsWith("exists")) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(`shim daemon for "${flags.id}" did not start: ${line || "no answer"}`);
  }
}

/** Reads the daemon's first line ("ready <pid>" or "error …"), bounded in time. */
async function readReadyLine(
  stream: ReadableStream<Uint8Array>,
  timeoutMs: number,
): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs)));
  try {
    while (!text.includes("\n")) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === null) return `no readiness within ${timeoutMs} ms`;
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
    stream.cancel().catch(() => {});
  }
  return text.split("\n")[0]!.trim();
}
