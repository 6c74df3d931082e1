/**
 * The CLI's side of a container's stdio, as containerd's client does it:
 * FIFOs in the bundle that the runtime opens at Create, connected here to
 * this process's own stdin/stdout/stderr. The FIFO ends are opened before
 * Create (Deno opens files off the main thread, so an open that waits for
 * its peer does not block), and unblocked by opening the peer end ourselves
 * if Create fails.
 * @module
 */
import type { Stdio } from "../runtime/mod.ts";

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: ["-m", "600", path], stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`mkfifo ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** One FIFO being opened by us (reader for output, writer for input). */
class FifoEnd {
  readonly path: string;
  readonly opened: Promise<Deno.FsFile>;
  #write: boolean;
  #settled = false;
  constructor(path: string, write: boolean) {
    this.path = path;
    this.#write = write;
    this.opened = Deno.open(path, write ? { write: true } : { read: true });
    this.opened.then(() => this.#settled = true, () => this.#settled = true);
  }

  /**
   * Completes an open still waiting for its peer (Create failed) by opening
   * the peer end ourselves; an open that completed is left to its copy,
   * which closes it.
   */
  async unblock(): Promise<void> {
    if (this.#settled) return;
    try {
      const peer = await Deno.open(this.path, this.#write ? { read: true } : { write: true });
      peer.close();
    } catch { /* gone */ }
    try {
      (await this.opened).close();
    } catch { /* failed */ }
  }
}

/** The FIFOs of one `joey run` container and the copies to and from them. */
export class CliStdio {
  readonly stdio: Stdio;
  #stdin: FifoEnd | null = null;
  #outputs: FifoEnd[] = [];
  #copies: Promise<void>[] = [];
  #input: Promise<void> = Promise.resolve();

  private constructor(stdio: Stdio) {
    this.stdio = stdio;
  }

  /** Makes the FIFOs in dir and starts opening our ends. */
  static async create(
    dir: string,
    options: { stdin: boolean; terminal: boolean },
  ): Promise<CliStdio> {
    const stdio: Stdio = {
      stdin: options.stdin ? `${dir}/stdin` : "",
      stdout: `${dir}/stdout`,
      // With a terminal, stderr shares the pty with stdout.
      stderr: options.terminal ? "" : `${dir}/stderr`,
      terminal: options.terminal,
    };
    for (const p of [stdio.stdin, stdio.stdout, stdio.stderr]) if (p) await mkfifo(p);
    const io = new CliStdio(stdio);
    if (stdio.stdin) io.#stdin = new FifoEnd(stdio.stdin, true);
    io.#outputs = [stdio.stdout, stdio.stderr].filter(Boolean).map((p) => new FifoEnd(p, false));
    return io;
  }

  /**
   * Starts copying: container output to our stdout/stderr, our stdin to the
   * container; onStdinEnd runs when our stdin reaches EOF (CloseIO).
   */
  async attach(onStdinEnd: () => Promise<void>): Promise<void> {
    const sinks = [Deno.stdout, Deno.stderr];
    for (const [i, end] of this.#outputs.entries()) {
      const file = await end.opened;
      this.#copies.push(
        file.readable.pipeTo(sinks[i]!.writable, { preventClose: true }).catch(() => {}),
      );
    }
    if (this.#stdin) {
      const fifo = await this.#stdin.opened;
      // pipeTo closes the FIFO at our EOF; the runtime then sees EOF too once CloseIO drops its writer.
      this.#input = Deno.stdin.readable.pipeTo(fifo.writable)
        .then(onStdinEnd, () => {})
        .catch(() => {});
    }
  }

  /** Resolves once the container's output has been copied, or after timeoutMs. */
  async drained(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#copies),
      new Promise<void>((r) => timer = setTimeout(r, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  /** Unblocks opens that never completed (Create failed) and closes what is open. */
  async close(): Promise<void> {
    for (const end of [...this.#outputs, ...(this.#stdin ? [this.#stdin] : [])]) {
      await end.unblock();
    }
    void this.#input;
  }
}
