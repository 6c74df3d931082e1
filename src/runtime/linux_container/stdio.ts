/**
 * The stdio of one container process, as containerd's runc shim does it:
 * the process gets pipes (or a pty, for a terminal) and the shim copies
 * between those and the FIFOs containerd named. The shim keeps its own
 * reader on each output FIFO and its own writer on the stdin FIFO, so a
 * client that comes late or reconnects loses nothing and gets no early EOF;
 * CloseIO drops the stdin writer, so stdin ends when the client closes too.
 * The copying itself runs in the C I/O loop (src/os/io_loop.ts).
 * @module
 */
import type { Stdio } from "../mod.ts";
import {
  Canceller,
  ConsoleSocket,
  type CopyStatus,
  ioLoop,
  RawFd,
  resizePty,
  type SpawnStdio,
} from "../../os/mod.ts";
import { openOutput, openStdin, type StdinFifo } from "../stdio_fifo.ts";

/** Stdio of one process: copies run from start() until the process side ends or close(). */
export class ProcessIo {
  readonly stdio: Stdio;
  #cancel = new Canceller();
  #fds: RawFd[] = [];
  #child: SpawnStdio = { stdin: null, stdout: null, stderr: null };
  #stdinFifo: StdinFifo | null = null;
  #stdinPipe: RawFd | null = null;
  #outPipes: [RawFd, RawFd | null][] = [];
  #console: ConsoleSocket | null = null;
  #pty: RawFd | null = null;
  #copies = new Set<number>();
  #input: Promise<void> = Promise.resolve();
  #outputs: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(stdio: Stdio) {
    this.stdio = stdio;
  }

  /**
   * Opens the FIFOs and makes the process side: pipes, or for a terminal a
   * console socket at consolePath for the OCI runtime to send the pty to.
   */
  static async open(stdio: Stdio, consolePath: string): Promise<ProcessIo> {
    const io = new ProcessIo(stdio);
    try {
      await io.#open(consolePath);
    } catch (err) {
      await io.close();
      throw err;
    }
    return io;
  }

  async #open(consolePath: string): Promise<void> {
    const { stdin, stdout, stderr, terminal } = this.stdio;
    if (stdin) {
      this.#stdinFifo = await openStdin(stdin);
      this.#own(this.#stdinFifo.reader);
      if (this.#stdinFifo.keepAlive) this.#own(this.#stdinFifo.keepAlive);
    }
    if (terminal) {
      this.#console = ConsoleSocket.listen(consolePath);
      if (stdout) this.#outPipes.push([this.#own(await openOutput(stdout)), null]);
      return;
    }
    if (stdin) {
      const [r, w] = RawFd.pipe();
      this.#child.stdin = this.#own(r);
      this.#stdinPipe = this.#own(w.setNonblocking());
    }
    for (const [uri, slot] of [[stdout, "stdout"], [stderr, "stderr"]] as const) {
      if (!uri) continue;
      const target = this.#own(await openOutput(uri));
      const [r, w] = RawFd.pipe();
      this.#own(r.setNonblocking());
      this.#child[slot] = this.#own(w);
      this.#outPipes.push([target, r]);
    }
  }

  #own(fd: RawFd): RawFd {
    this.#fds.push(fd);
    return fd;
  }

  /** The console socket's path, for --console-socket (terminal only). */
  get consoleSocket(): string | null {
    return this.#console?.path ?? null;
  }

  /** The fds the OCI runtime (and so the process) gets as stdio. */
  get childStdio(): SpawnStdio {
    return this.#child;
  }

  /** Closes the process's pipe ends in the shim once the runtime holds them. */
  closeChildSide(): void {
    for (const fd of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) fd?.close();
    this.#child = { stdin: null, stdout: null, stderr: null };
  }

  /** Waits for the runtime to send the pty master (terminal only). */
  async receiveConsole(): Promise<void> {
    if (!this.#console) return;
    try {
      this.#pty = this.#own(await this.#console.receive(this.#cancel));
    } finally {
      await this.#console.close();
      this.#console = null;
    }
  }

  /** Stops waiting for a console that will not come (the runtime failed). */
  abortConsole(): void {
    this.#cancel.cancel();
  }

  /** Starts copying in both directions. */
  start(): void {
    const outputs: Promise<CopyStatus>[] = [];
    for (const [target, pipe] of this.#outPipes) {
      outputs.push(this.#copy(pipe ?? this.#pty!, target));
      // The loop holds its own copies; ours would keep the target open past EOF.
      target.close();
      pipe?.close();
    }
    this.#outputs = Promise.all(outputs).then(() => {});
    const sink = this.#pty ?? this.#stdinPipe;
    if (this.#stdinFifo && sink) {
      this.#input = this.#copy(this.#stdinFifo.reader, sink).then(() => {});
      this.#stdinFifo.reader.close();
      // Closing the pipe's write side ends the process's stdin with the copy.
      this.#stdinPipe?.close();
    }
  }

  #copy(src: RawFd, dst: RawFd): Promise<CopyStatus> {
    const { id, done } = ioLoop().copy(src, dst);
    this.#copies.add(id);
    return done.finally(() => this.#copies.delete(id));
  }

  /** CloseIO: stdin ends once the client has closed its side too. */
  closeStdin(): void {
    this.#stdinFifo?.keepAlive?.close();
  }

  /** Sets the terminal size (no-op without a terminal, as in containerd). */
  resize(width: number, height: number): void {
    if (this.#pty) resizePty(this.#pty, width, height);
  }

  /**
   * Resolves when all output has been copied (the process and everything
   * that shared its stdio closed it), or after timeoutMs.
   */
  async drained(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#outputs,
      new Promise<void>((r) => timer = setTimeout(r, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  /** Stops every copy and closes every fd and socket it made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancel.cancel();
    for (const id of this.#copies) ioLoop().cancel(id);
    await Promise.allSettled([this.#input, this.#outputs]);
    if (this.#console) await this.#console.close();
    for (const fd of this.#fds) fd.close();
    this.#cancel.close();
  }
}
