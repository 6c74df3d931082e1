/**
 * Runs the `joey` CLI as an operator does: `main.ts` on the pinned Deno in
 * a child process (or any executable given), with bounded time.
 * @module
 */
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
export const DENO = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;

/** What a joey invocation gave. */
export interface JoeyResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of one invocation. */
export interface JoeyOptions {
  stdin?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Run this executable instead of main.ts on Deno (an installed or compiled joey). */
  executable?: string;
  cwd?: string;
}

/** The argv that runs joey from this checkout. */
export function joeyCommand(args: string[]): [string, string[]] {
  return [DENO, ["run", "-A", "--cached-only", "--no-prompt", `${REPO}/main.ts`, ...args]];
}

/** Runs joey with args; never throws for a non-zero exit. */
export async function joey(args: string[], options: JoeyOptions = {}): Promise<JoeyResult> {
  const [cmd, argv] = options.executable ? [options.executable, args] : joeyCommand(args);
  const child = new Deno.Command(cmd, {
    args: argv,
    cwd: options.cwd ?? REPO,
    // `joey run` in these tests uses linux-container unless a test says otherwise.
    env: {
      JOEY_CONFIG: "",
      ...(args[0] === "run" ? { JOEY_RUNTIME: "linux-container" } : {}),
      ...options.env,
    },
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, options.timeoutMs ?? 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Why tests that run containers cannot run here, or null when they can. */
export async function containerSkipReason(): Promise<string | null> {
  if (Deno.uid() !== 0) return "needs root to run containers";
  for (const bin of ["/usr/sbin/runc", "/bin/busybox"]) {
    if (!(await Deno.stat(bin).then(() => true, () => false))) return `${bin} is missing`;
  }
  return null;
}

/** joey left running with its stdout piped (stderr dropped), SIGKILLed after timeoutMs. */
export class RunningJoey {
  readonly child: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #timer: ReturnType<typeof setTimeout>;
  #dec = new TextDecoder();

  constructor(args: string[], timeoutMs = 60_000) {
    const [cmd, argv] = joeyCommand(args);
    this.child = new Deno.Command(cmd, {
      args: argv,
      env: { JOEY_CONFIG: "", JOEY_RUNTIME: "linux-container" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#reader = this.child.stdout.getReader();
    this.#timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
  }

  /** The next chunk of output ("" at EOF). */
  async read(): Promise<string> {
    const r = await this.#reader.read();
    return r.done ? "" : this.#dec.decode(r.value);
  }

  /** Everything until EOF. */
  async rest(): Promise<string> {
    let out = "";
    for (let chunk = await this.read(); chunk; chunk = await this.read()) out += chunk;
    return out;
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* exited */ }
  }

  /** Ends it (SIGTERM unless it exited), waits, and releases everything. */
  async close(): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    const status = await this.child.status;
    clearTimeout(this.#timer);
    await this.#reader.cancel().catch(() => {});
    return status;
  }
}
