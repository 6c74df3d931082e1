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

/** The session id (field 6 of /proc/<pid>/stat) and state of a process, or null if gone. */
function sessionAndState(pid: number | string): { session: number; state: string } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name may hold spaces and parentheses: fields follow the last ")".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { session: Number(f[3]), state: f[0]! };
  } catch {
    return null;
  }
}

class Reaper {
  #handle: Deno.PointerValue = null;
  #waiters = new Map<number, (status: ExitStatus) => void>();
  #running = false;
  #sessions = new Set<number>();
  #onChild = () => this.reapOrphans();

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

  /**
   * Also reaps, from now on, orphans of the session `sid` that are
   * reparented to this process (the child subreaper) and exit: container
   * processes without a pid namespace of their own. The OCI runtimes make
   * each container process a session leader, and Deno's own children stay
   * in this process's session, so the session tells them apart.
   */
  adoptSession(sid: number): void {
    if (this.#sessions.size === 0) Deno.addSignalListener("SIGCHLD", this.#onChild);
    this.#sessions.add(sid);
  }

  /** Stops adopting the session's orphans, after reaping those already dead. */
  releaseSession(sid: number): void {
    if (!this.#sessions.has(sid)) return;
    this.reapOrphans();
    this.#sessions.delete(sid);
    if (this.#sessions.size === 0) Deno.removeSignalListener("SIGCHLD", this.#onChild);
  }

  /** Reaps every zombie child of an adopted session that nobody watches. */
  reapOrphans(): void {
    if (this.#sessions.size === 0) return;
    let tasks: string[];
    try {
      tasks = [...Deno.readDirSync("/proc/self/task")].map((t) => t.name);
    } catch {
      return;
    }
    for (const task of tasks) {
      let children: string[];
      try {
        children = Deno.readTextFileSync(`/proc/self/task/${task}/children`).trim().split(/\s+/);
      } catch {
        continue;
      }
      for (const child of children.filter(Boolean).map(Number)) {
        if (this.#waiters.has(child)) continue;
        const info = sessionAndState(child);
        if (info?.state !== "Z" || !this.#sessions.has(info.session)) continue;
        try {
          this.watch(child);
        } catch {
          // Reaped meanwhile.
        }
      }
    }
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
