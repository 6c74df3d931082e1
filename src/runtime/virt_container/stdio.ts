/**
 * Stdio of a process in the VM: copies between containerd's FIFOs on the
 * host and the agent's streams (ReadStdout/ReadStderr long polls that
 * answer empty at EOF; WriteStdin, then CloseStdin at the FIFO's EOF). As
 * in the runc shim, the shim keeps its own reader on each output FIFO and
 * a writer on the stdin FIFO, so a late client loses nothing and stdin
 * ends only after CloseIO and the client closing its side.
 * @module
 */
import type { Stdio } from "../mod.ts";
import { Canceller, type RawFd } from "../../os/mod.ts";
import { openOutput, openStdin } from "../stdio_fifo.ts";
import type { AgentConnection } from "./agent_conn.ts";

const CHUNK = 64 * 1024;

/** The agent-side identity of a process's streams. */
type StreamId = {
  container_id: string;
  exec_id: string;
};

/** The stdio copies of one process. */
export class AgentIo {
  readonly stdio: Stdio;
  #cancel = new Canceller();
  #fds: RawFd[] = [];
  #stdin: RawFd | null = null;
  #stdinKeepAlive: RawFd | null = null;
  #stdout: RawFd | null = null;
  #stderr: RawFd | null = null;
  #outputs: Promise<void> = Promise.resolve();
  #input: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(stdio: Stdio) {
    this.stdio = stdio;
  }

  /** Opens containerd's FIFOs. */
  static async open(stdio: Stdio): Promise<AgentIo> {
    const io = new AgentIo(stdio);
    try {
      if (stdio.stdin) {
        const fifo = await openStdin(stdio.stdin);
        io.#stdin = io.#own(fifo.reader);
        if (fifo.keepAlive) io.#stdinKeepAlive = io.#own(fifo.keepAlive);
      }
      if (stdio.stdout) io.#stdout = io.#own(await openOutput(stdio.stdout));
      // With a terminal, stderr is the same pty as stdout.
      if (stdio.stderr && !stdio.terminal) io.#stderr = io.#own(await openOutput(stdio.stderr));
    } catch (err) {
      await io.close();
      throw err;
    }
    return io;
  }

  #own(fd: RawFd): RawFd {
    this.#fds.push(fd);
    return fd;
  }

  /** Starts copying for the process id in the agent. */
  start(agent: AgentConnection, id: StreamId): void {
    const outs: Promise<void>[] = [];
    if (this.#stdout) outs.push(this.#pumpOut(agent, "ReadStdout", id, this.#stdout));
    else outs.push(this.#pumpOut(agent, "ReadStdout", id, null));
    if (!this.stdio.terminal) outs.push(this.#pumpOut(agent, "ReadStderr", id, this.#stderr));
    this.#outputs = Promise.all(outs).then(() => {});
    if (this.#stdin) this.#input = this.#pumpIn(agent, id, this.#stdin);
  }

  /** Agent stream → FIFO until the agent answers empty (EOF) or the copy stops. */
  async #pumpOut(
    agent: AgentConnection,
    method: "ReadStdout" | "ReadStderr",
    id: StreamId,
    dst: RawFd | null,
  ): Promise<void> {
    let sink = dst;
    try {
      while (!this.#cancel.cancelled) {
        const res = await agent.call(method, { ...id, len: CHUNK }, {
          request: "grpc.ReadStreamRequest",
          response: "grpc.ReadStreamResponse",
          timeoutMs: 0,
        });
        const data = res.data as Uint8Array;
        if (!data || data.length === 0) return;
        if (!sink) continue; // nobody listens: drain so the process never blocks
        try {
          await sink.write(new Uint8Array(data), this.#cancel);
        } catch {
          if (this.#cancel.cancelled) return;
          sink = null;
        }
      }
    } catch { /* the container or the connection went away */ }
  }

  /** FIFO → WriteStdin until the FIFO's EOF, then CloseStdin. */
  async #pumpIn(agent: AgentConnection, id: StreamId, src: RawFd): Promise<void> {
    const buf = new Uint8Array(CHUNK);
    try {
      while (true) {
        const n = await src.read(buf, this.#cancel);
        if (n === 0) break;
        let data = buf.slice(0, n);
        while (data.length > 0) {
          const res = await agent.call("WriteStdin", { ...id, data }, {
            request: "grpc.WriteStreamRequest",
            response: "grpc.WriteStreamResponse",
          });
          const written = Number(res.len ?? 0);
          if (written <= 0) return;
          data = data.slice(written);
        }
      }
      await agent.call("CloseStdin", id);
    } catch { /* cancelled, or the process is gone */ }
  }

  /** CloseIO: stdin ends once the client has closed its side too. */
  closeStdin(): void {
    this.#stdinKeepAlive?.close();
  }

  /** Resolves when the outputs reached EOF, or after timeoutMs. */
  async drained(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#outputs, new Promise<void>((r) => timer = setTimeout(r, timeoutMs))]);
    clearTimeout(timer);
  }

  /** Stops every copy and closes every fd. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancel.cancel();
    await Promise.race([
      Promise.allSettled([this.#input, this.#outputs]),
      new Promise((r) => setTimeout(r, 1000)),
    ]);
    for (const fd of this.#fds) fd.close();
    this.#cancel.close();
  }
}
