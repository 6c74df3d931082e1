/**
 * Opening the stdio targets containerd names for a process, shared by
 * both runtimes: a plain path or a file:// or fifo:// URI. An output FIFO
 * is opened read-write, so the shim holds a reader of its own and a client
 * that comes late loses nothing; a stdin FIFO gets a writer of our own too
 * (keepAlive), so it reaches EOF only after CloseIO drops that writer and
 * the client closes its side.
 * @module
 */
import { invalidArgument, unimplemented } from "../errors.ts";
import { O, RawFd } from "../os/mod.ts";

/** The stdin FIFO: our reader plus the writer that keeps it from ending early. */
export interface StdinFifo {
  reader: RawFd;
  keepAlive: RawFd | null;
}

/** A stdio path as containerd passes it: a plain path, or a file:// or fifo:// URI. */
export function stdioPath(uri: string): string {
  const m = /^([a-z]+):\/\/(.*)$/.exec(uri);
  if (!m) return uri;
  if (m[1] === "file" || m[1] === "fifo") return m[2]!;
  if (m[1] === "binary") throw unimplemented(`stdio "${uri}" (binary logging)`);
  throw invalidArgument(`Unsupported stdio URI "${uri}"`);
}

/** Opens containerd's stdout/stderr target for writing (a FIFO read-write, a file appended). */
export async function openOutput(uri: string): Promise<RawFd> {
  const path = stdioPath(uri);
  const info = await Deno.stat(path).catch(() => null);
  if (info?.isFifo) return RawFd.open(path, O.RDWR | O.NONBLOCK);
  return RawFd.open(path, O.WRONLY | O.CREAT | O.APPEND | O.NONBLOCK, 0o640);
}

/** Opens containerd's stdin target: our reader, and for a FIFO our keep-alive writer. */
export async function openStdin(uri: string): Promise<StdinFifo> {
  const path = stdioPath(uri);
  const reader = RawFd.open(path, O.RDONLY | O.NONBLOCK);
  try {
    // Opening a FIFO's write side without blocking works once a reader exists.
    const keepAlive = (await Deno.stat(path)).isFifo
      ? RawFd.open(path, O.WRONLY | O.NONBLOCK)
      : null;
    return { reader, keepAlive };
  } catch (err) {
    reader.close();
    throw err;
  }
}
