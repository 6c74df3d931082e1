/**
 * Structured log lines in logrus' text format, which is what containerd
 * copies from the bundle's `log` FIFO into its own log:
 * `time="…" level=info msg="…" key=value`. In daemon mode the sink is that
 * FIFO; elsewhere it is stderr (never stdout: `start` must print only the
 * address, and `delete` only its protobuf).
 * @module
 */

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Where lines go. */
export interface LogSink {
  write(p: Uint8Array): Promise<number>;
}

function quote(value: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(value) ? value : JSON.stringify(value);
}

/** A logger with fixed fields (e.g. runtime, namespace, id). */
/** What a logger and the children made with `with` share. */
interface Output {
  sink: LogSink | null;
  level: Level;
  tail: Promise<unknown>;
}

export class Logger {
  #out: Output;
  #fields: Record<string, string>;
  #encoder = new TextEncoder();

  constructor(sink: LogSink | null, level: Level = "info", fields: Record<string, string> = {}) {
    this.#out = { sink, level, tail: Promise.resolve() };
    this.#fields = fields;
  }

  /** A logger with extra fields, sharing this one's sink, level and ordering. */
  with(fields: Record<string, string>): Logger {
    const child = new Logger(null, "info", { ...this.#fields, ...fields });
    child.#out = this.#out;
    return child;
  }

  /** Replaces the sink (e.g. once the log FIFO is open), for this logger and its children. */
  setSink(sink: LogSink | null): void {
    this.#out.sink = sink;
  }

  setLevel(level: Level): void {
    this.#out.level = level;
  }

  debug(msg: string, fields?: Record<string, unknown>) {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>) {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>) {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>) {
    this.#log("error", msg, fields);
  }

  /** Resolves once every line so far has been written. */
  flush(): Promise<unknown> {
    return this.#out.tail;
  }

  #log(level: Level, msg: string, fields: Record<string, unknown> = {}) {
    const out = this.#out;
    if (ORDER[level] < ORDER[out.level] || !out.sink) return;
    const parts = [
      `time="${new Date().toISOString()}"`,
      `level=${level}`,
      `msg=${JSON.stringify(msg)}`,
    ];
    for (const [k, v] of Object.entries({ ...this.#fields, ...fields })) {
      parts.push(`${k}=${quote(v instanceof Error ? v.message : String(v))}`);
    }
    const line = this.#encoder.encode(parts.join(" ") + "\n");
    const sink = out.sink;
    // Lines are written in order; a broken sink must never take the shim down.
    out.tail = out.tail.then(() => sink.write(line)).catch(() => {});
  }
}

/** The process-wide logger; the shim points its sink at the log FIFO. */
export const log = new Logger(Deno.stderr, "info", { runtime: "io.containerd.joey.v2" });
