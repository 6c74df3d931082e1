/**
 * `containerd-shim-joey-v2 … start`: find or start the daemon for this
 * container's group and print its address. containerd reads stdout and
 * stderr together, so nothing but the address is printed on success.
 * @module
 */
import { invalidArgument } from "../errors.ts";
import { shimGroup, socketAddress, socketPath } from "./address.ts";
import type { ShimFlags } from "./flags.ts";
import { selfCommand } from "./self.ts";

const READY_TIMEOUT_MS = 15_000;

async function readAll(reader: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of reader) chunks.push(c);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** True if something accepts connections on the socket. */
async function socketIsLive(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** The spec annotations of the bundle in cwd ({} when absent). */
async function bundleAnnotations(bundle: string): Promise<Record<string, string>> {
  try {
    const spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
    return (spec.annotations ?? {}) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Runs `start`; returns the exit code. */
export async function runStart(flags: ShimFlags): Promise<number> {
  if (!flags.id) throw invalidArgument("start needs -id");
  if (!flags.namespace) throw invalidArgument("start needs -namespace");
  const bundle = Deno.cwd();
  // Runtime options arrive on stdin as a marshalled Any; joey reads its
  // configuration from TOML instead, but the pipe must be drained.
  const options = Deno.stdin.isTerminal() ? new Uint8Array() : await readAll(Deno.stdin.readable);
  const group = shimGroup(flags.id, await bundleAnnotations(bundle));
  const address = await socketAddress(flags.address, flags.namespace, group);
  const path = socketPath(address);

  if (await socketIsLive(path)) {
    await Deno.writeTextFile(`${bundle}/address`, address);
    await Deno.stdout.write(new TextEncoder().encode(address));
    return 0;
  }
  await Deno.remove(path).catch(() => {});
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o711 });

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
  if (!line.startsWith("ready")) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(`shim daemon for "${flags.id}" did not start: ${line || "no answer"}`);
  }
  await Deno.writeTextFile(`${bundle}/address`, address);
  await Deno.stdout.write(new TextEncoder().encode(address));
  return 0;
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
