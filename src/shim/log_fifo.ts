/**
 * The daemon's log sink: the `log` FIFO of one live container's bundle.
 * containerd 1.6 creates that FIFO in the bundle of every shim it starts,
 * opens it for reading and copies whatever arrives into its own log, until
 * the ttrpc connection for that container closes (after its Delete); then
 * it stops reading and removes the bundle. A daemon serving several
 * containers (the containers of a pod, or every pod of a namespace in node
 * mode) writes to one of those FIFOs; once a write finds its reader gone
 * (EPIPE), it moves to the FIFO of another container it still serves and
 * writes the line again, so its log keeps reaching containerd.
 * @module
 */
import type { LogSink } from "./log.ts";

/** An open FIFO and the container whose bundle holds it. */
interface Target {
  id: string;
  write(p: Uint8Array<ArrayBuffer>): Promise<unknown>;
  close(): void;
}

/** Opens `${bundle}/log` for writing if it is a FIFO (blocking: containerd's reader is waiting). */
async function openInitial(bundle: string): Promise<Deno.FsFile | null> {
  try {
    const info = await Deno.stat(`${bundle}/log`);
    if (!info.isFifo) return null;
    return await Deno.open(`${bundle}/log`, { write: true });
  } catch {
    return null;
  }
}

/** Follows the live containers' log FIFOs; see the module doc. */
export class LogFifo implements LogSink {
  /** Containers the daemon serves, oldest first: id → bundle. */
  #live = new Map<string, string>();
  #target: Target | null = null;
  #closed = false;

  /** The container whose FIFO is in use ("" for none). */
  get currentId(): string {
    return this.#target?.id ?? "";
  }

  /**
   * Opens the FIFO of the container whose `start` launched the daemon
   * (containerd opened its reader before running `start`). That container
   * counts as live until it is removed.
   */
  async openFirst(id: string, bundle: string): Promise<void> {
    this.#live.set(id, bundle);
    const file = await openInitial(bundle);
    if (file) {
      this.#target = { id, write: (p) => file.write(p), close: () => file.close() };
    }
  }

  /** A container the daemon now serves (created). */
  added(id: string, bundle: string): void {
    this.#live.set(id, bundle);
  }

  /** A container the daemon no longer serves (deleted): its FIFO is not picked again. */
  removed(id: string): void {
    this.#live.delete(id);
  }

  /** Writes one log line (the Logger calls this one line at a time). */
  async write(p: Uint8Array): Promise<number> {
    const line = p as Uint8Array<ArrayBuffer>;
    let dead = "";
    for (let attempt = 0; attempt < 2 && !this.#closed; attempt++) {
      this.#target ??= await this.#next(dead);
      if (!this.#target) break; // nobody reads: the line is dropped
      try {
        await this.#target.write(line);
        return p.length;
      } catch {
        // The reader is gone (its container was deleted): try another. The
        // container stays a candidate for later lines, as containerd opens
        // the FIFOs again when it restarts and reconnects.
        dead = this.#target.id;
        this.#target.close();
        this.#target = null;
      }
    }
    return p.length;
  }

  /** Closes the FIFO in use. */
  close(): void {
    this.#closed = true;
    this.#target?.close();
    this.#target = null;
  }

  /**
   * The FIFO of the newest live container that containerd still reads:
   * opening it non-blocking for writing fails with ENXIO when no reader is
   * there, so no open ever waits. Off the start-up path, so the OS helper
   * library loads only here.
   */
  async #next(skip: string): Promise<Target | null> {
    if (this.#live.size === 0) return null;
    const { Canceller, O, RawFd } = await import("../os/mod.ts");
    for (const [id, bundle] of [...this.#live].reverse()) {
      if (id === skip) continue;
      let fd;
      try {
        fd = RawFd.open(`${bundle}/log`, O.WRONLY | O.NONBLOCK);
      } catch {
        continue; // no FIFO, or no reader any more
      }
      const cancel = new Canceller();
      const raw = fd;
      return {
        id,
        write: (p) => raw.write(p, cancel),
        close: () => {
          cancel.cancel();
          raw.close();
          cancel.close();
        },
      };
    }
    return null;
  }
}
