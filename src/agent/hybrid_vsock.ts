/**
 * Dialing the guest through hybrid vsock (shared/PROTOCOLS.md §5): connect
 * to the VMM's unix socket, send `CONNECT <port>\n`, expect `OK <n>\n`.
 * Until the guest listens the VMM closes the socket (or the socket does not
 * exist yet), so dialing retries until its deadline.
 * @module
 */
import { JoeyError } from "../errors.ts";

/** Options for {@linkcode dialHybridVsock}. */
export interface DialOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 20 ms). */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

const MAX_REPLY = 64;

/** Reads one `\n`-terminated line byte by byte (nothing after it is consumed). */
async function readLine(conn: Deno.Conn): Promise<string | null> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (bytes.length < MAX_REPLY) {
    const n = await conn.read(one);
    if (n === null) return null;
    if (n === 0) continue;
    if (one[0] === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
    bytes.push(one[0]!);
  }
  return null;
}

async function attempt(path: string, port: number, budgetMs: number): Promise<Deno.UnixConn> {
  const conn = await Deno.connect({ transport: "unix", path });
  const timer = setTimeout(() => conn.close(), budgetMs);
  try {
    await conn.write(new TextEncoder().encode(`CONNECT ${port}\n`));
    const line = await readLine(conn);
    if (line === null || !/^OK \d+$/.test(line)) {
      throw new Error(line === null ? "closed before answering" : `answered "${line}"`);
    }
    clearTimeout(timer);
    return conn;
  } catch (err) {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
    throw err;
  }
}

/**
 * Connects to a guest vsock port through the VMM's hybrid vsock socket.
 *
 * @param udsPath the VMM's unix socket (Firecracker/joey `uds_path`)
 * @param port the guest port (the agent listens on 1024)
 * @returns a connection that now carries the guest stream
 * @example
 * ```ts
 * const conn = await dialHybridVsock("/run/joey/vm/sock", 1024, { timeoutMs: 5000 });
 * ```
 */
export async function dialHybridVsock(
  udsPath: string,
  port: number,
  options: DialOptions = {},
): Promise<Deno.UnixConn> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const delay = options.retryDelayMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  while (true) {
    if (options.signal?.aborted) {
      throw new JoeyError("Canceled", `vsock ${udsPath}:${port}: canceled`);
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return await attempt(udsPath, port, Math.min(left, 2000));
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
  }
  throw new JoeyError(
    "DeadlineExceeded",
    `vsock "${udsPath}" port ${port}: no guest listener within ${timeoutMs} ms (last: ${last})`,
  );
}
