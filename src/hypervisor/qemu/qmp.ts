/**
 * A QMP client (QEMU Machine Protocol): JSON objects, one per line, over a
 * unix socket. After the greeting, `qmp_capabilities` leaves negotiation
 * mode; each `execute` gets one `return` or `error` in order, with
 * asynchronous `event` objects in between.
 * @module
 */
import { JoeyError } from "../../errors.ts";

interface Waiter {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** One QMP connection. */
export class QmpClient {
  #conn: Deno.UnixConn;
  #queue: Waiter[] = [];
  #events: { event: string; data?: unknown }[] = [];
  #closed = false;
  readonly done: Promise<void>;
  #greeting: Promise<void>;
  #greeted!: () => void;

  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
    this.#greeting = new Promise((r) => this.#greeted = r);
    this.done = this.#readLoop();
  }

  /** Connects to the QMP socket and negotiates capabilities. */
  static async connect(path: string): Promise<QmpClient> {
    const client = new QmpClient(await Deno.connect({ transport: "unix", path }));
    try {
      await client.#greeting;
      await client.execute("qmp_capabilities");
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  async #readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        buffered += decoder.decode(buf.subarray(0, n), { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) this.#dispatch(JSON.parse(line));
        }
      }
    } catch { /* connection reset: pending calls fail below */ }
    this.#closed = true;
    for (const w of this.#queue.splice(0)) {
      w.reject(new JoeyError("Unavailable", "QMP: connection closed"));
    }
  }

  #dispatch(msg: Record<string, unknown>): void {
    if ("QMP" in msg) return this.#greeted();
    if ("event" in msg) {
      this.#events.push({ event: String(msg.event), data: msg.data });
      return;
    }
    const w = this.#queue.shift();
    if (!w) return;
    if ("error" in msg) {
      const e = msg.error as { class?: string; desc?: string };
      w.reject(new JoeyError("Internal", `QMP: ${e.class ?? "error"}: ${e.desc ?? ""}`));
    } else {
      w.resolve(msg.return);
    }
  }

  /** Runs a QMP command; resolves with its `return` value. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.#closed) throw new JoeyError("Unavailable", `QMP: ${command}: connection closed`);
    const result = new Promise<unknown>((resolve, reject) => {
      this.#queue.push({ resolve, reject });
    });
    const line = JSON.stringify(
      args ? { execute: command, arguments: args } : { execute: command },
    );
    const bytes = new TextEncoder().encode(line + "\n");
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    return await result;
  }

  /** The events received so far (e.g. STOP, RESUME, SHUTDOWN), oldest first. */
  get events(): readonly { event: string; data?: unknown }[] {
    return this.#events;
  }

  /** Closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}
