/**
 * Reaps the processes the shim watches (its own spawned children and the
 * container processes reparented to it) through pidfds, so it never takes
 * a child from Deno: one thread waits for all of them, and only while at
 * least one is watched.
 * @module
 */
import { check, os } from "./ffi.ts";

/** Exit status as a shell reports it: the code, or 128 + the killing signal; -1 if unknown. */
export type ExitStatus = number;

class Reaper {
  #handle: Deno.PointerValue = null;
  #waiters = new Map<number, (status: ExitStatus) => void>();
  #running = false;

  /**
   * Resolves with pid's exit status. pid must be a process that will be
   * (or already is) this process's child and that nobody else reaps.
   */
  watch(pid: number): Promise<ExitStatus> {
    if (this.#waiters.has(pid)) throw new Error(`Process ${pid} is already watched`);
    if (this.#handle === null) {
      const out = new BigUint64Array(1);
      check(os().joey_reaper__new(out), "reaper");
      this.#handle = Deno.UnsafePointer.create(out[0]!);
    }
    check(os().joey_reaper__watch(this.#handle, pid), `pidfd_open(${pid})`);
    const done = new Promise<ExitStatus>((resolve) => this.#waiters.set(pid, resolve));
    if (!this.#running) this.#run();
    return done;
  }

  /** How many processes are watched. */
  get watched(): number {
    return this.#waiters.size;
  }

  async #run(): Promise<void> {
    this.#running = true;
    const out = new Int32Array(32);
    try {
      while (this.#waiters.size > 0) {
        const n = check(await os().joey_reaper__wait(this.#handle, out, 16), "reaper wait");
        for (let i = 0; i < n; i++) {
          const pid = out[2 * i]!;
          const resolve = this.#waiters.get(pid);
          this.#waiters.delete(pid);
          resolve?.(out[2 * i + 1]!);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}

let instance: Reaper | undefined;

/** The process-wide reaper. */
export function reaper(): Reaper {
  instance ??= new Reaper();
  return instance;
}
