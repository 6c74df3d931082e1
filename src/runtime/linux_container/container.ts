/**
 * One container on the host: its bundle, its init and exec processes, the
 * rootfs mounts, stdio, cgroup and OOM watch, driven through the OCI
 * runtime. Operations that change the container's lifecycle run one at a
 * time (a per-container lock), as in containerd's runc shim.
 * @module
 */
import type {
  AnyMessage,
  CreateContainerOptions,
  ExecOptions,
  ExitInfo,
  RuntimeListener,
} from "../mod.ts";
import { alreadyExists, failedPrecondition, JoeyError, notFound } from "../../errors.ts";
import { kill, OsError, reaper } from "../../os/mod.ts";
import { type CgroupPaths, cgroupPathsOf, metrics } from "./cgroup.ts";
import { OciRuntime, type StartProcessOptions } from "./oci_runtime.ts";
import { OomWatcher } from "./oom.ts";
import { Process, UNKNOWN_EXIT_STATUS } from "./process.ts";
import { mountRootfs, unmountRootfs } from "./rootfs.ts";
import { ProcessIo } from "./stdio.ts";

/** How long an exited process's output may still drain before its exit is reported. */
const DRAIN_MS = 2000;
/** How long the init's exit waits for its execs' exits to be reported first. */
const EXEC_EXIT_MS = 2000;
/** How long a runtime may take to hand over a pty after it succeeded. */
const CONSOLE_MS = 10_000;
/** How long delete and shutdown wait for a killed process to be reaped. */
const REAP_MS = 10_000;
const SIGKILL = 9;

/** Resolves with p's value, or with undefined after ms. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a container needs from the handler that owns it. */
export interface ContainerContext {
  ociRuntime: string;
  root: string;
  listener: RuntimeListener;
}

/** A container and its processes. */
export class Container {
  readonly id: string;
  readonly bundle: string;
  readonly init: Process;
  readonly execs = new Map<string, Process>();
  readonly #workDir: string;
  readonly #runtime: OciRuntime;
  readonly #listener: RuntimeListener;
  readonly #ownPidNamespace: boolean;
  #cgroup: CgroupPaths | null = null;
  #oom: OomWatcher | null = null;
  #lock: Promise<unknown> = Promise.resolve();
  #files = 0;

  private constructor(o: CreateContainerOptions, ctx: ContainerContext) {
    this.id = o.id;
    this.bundle = o.bundle;
    this.init = new Process(o.id, "", o.bundle, o.stdio);
    // The shim's own files live apart from containerd's, removed at delete.
    this.#workDir = `${o.bundle}/.joey`;
    this.#runtime = new OciRuntime(ctx.ociRuntime, ctx.root, `${this.#workDir}/log.json`);
    this.#listener = ctx.listener;
    this.#ownPidNamespace = hasOwnPidNamespace(o.spec);
  }

  /** Mounts the rootfs, sets up stdio and runs the OCI runtime's create. */
  static async create(o: CreateContainerOptions, ctx: ContainerContext): Promise<Container> {
    const c = new Container(o, ctx);
    await Deno.mkdir(c.#workDir, { recursive: true, mode: 0o700 });
    try {
      await mountRootfs(o.bundle, o.rootfs);
      await c.#startProcess(c.init, (opts) => c.#runtime.create(o.bundle, opts));
    } catch (err) {
      // Whatever a failed create left in the runtime's state goes too.
      await c.#runtime.delete(o.id, true).catch(() => {});
      await c.init.io?.close();
      unmountRootfs(o.bundle);
      await Deno.remove(c.#workDir, { recursive: true }).catch(() => {});
      throw err;
    }
    try {
      c.#cgroup = await cgroupPathsOf(c.init.pid);
      c.#oom = await OomWatcher.start(c.#cgroup, () => c.#listener.oom(c.id));
    } catch {
      // No cgroup to watch (the init already gone, or no memory controller).
    }
    return c;
  }

  /** Runs fn after every earlier lifecycle operation of this container. */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /**
   * Opens the process's stdio, runs the runtime command that starts it,
   * then watches its pid and starts copying.
   */
  async #startProcess(
    proc: Process,
    run: (o: StartProcessOptions) => Promise<void>,
  ): Promise<void> {
    const n = this.#files++;
    const pidFile = `${this.#workDir}/${n}.pid`;
    const consoleDir = proc.stdio.terminal ? await Deno.makeTempDir({ prefix: "joey-pty-" }) : null;
    try {
      proc.io = await ProcessIo.open(proc.stdio, `${consoleDir}/pty.sock`);
      const io = proc.io;
      const consoleReady = io.receiveConsole();
      consoleReady.catch(() => {});
      try {
        await run({ id: this.id, pidFile, consoleSocket: io.consoleSocket, stdio: io.childStdio });
      } catch (err) {
        io.abortConsole();
        await consoleReady.catch(() => {});
        throw err;
      } finally {
        io.closeChildSide();
      }
      const got = await within(consoleReady.then(() => true), CONSOLE_MS);
      if (!got) throw failedPrecondition(`${proc.name}: the runtime sent no terminal`);
      proc.pid = Number((await Deno.readTextFile(pidFile)).trim());
      const status = reaper().watch(proc.pid);
      // Without a pid namespace, its orphans are reparented to the shim.
      if (!this.#ownPidNamespace) reaper().adoptSession(proc.pid);
      io.start();
      this.#monitor(proc, status);
    } finally {
      if (consoleDir) await Deno.remove(consoleDir, { recursive: true }).catch(() => {});
    }
  }

  /** Reports the process's exit once its status and output are final. */
  async #monitor(proc: Process, statusReaped: Promise<number>): Promise<void> {
    const raw = await statusReaped;
    proc.reaped = true;
    const status = raw < 0 ? UNKNOWN_EXIT_STATUS : raw;
    if (proc === this.init) {
      // Frozen processes cannot die; containerd's shim thaws them too.
      if (proc.state === "paused") await this.#runtime.resume(this.id).catch(() => {});
      // Without a pid namespace of its own, the init's children outlive it.
      if (!this.#ownPidNamespace) await this.#runtime.kill(this.id, SIGKILL, true).catch(() => {});
      const running = [...this.execs.values()].filter((e) => e.pid > 0 && !e.exitedAt);
      await within(Promise.all(running.map((e) => e.exited)), EXEC_EXIT_MS);
    }
    await proc.io?.drained(DRAIN_MS);
    this.#listener.exited(proc.setExited(status));
  }

  /** SIGKILL to the init by pid, safe while it is not reaped (its pid cannot be reused). */
  #killInit(): void {
    if (this.init.pid <= 0 || this.init.reaped) return;
    try {
      kill(this.init.pid, SIGKILL);
    } catch {
      // Already gone.
    }
  }

  /** The process with execId ("" = init). */
  process(execId: string): Process {
    if (!execId) return this.init;
    const p = this.execs.get(execId);
    if (!p) throw notFound(`exec "${execId}" of container "${this.id}"`);
    return p;
  }

  /** Start: the init runs its program, or an added exec is run. */
  start(execId: string): Promise<number> {
    return this.#locked(async () => {
      const proc = this.process(execId);
      proc.expect("start", "created");
      if (proc === this.init) {
        await this.#runtime.start(this.id);
        if (proc.state === "created") proc.state = "running";
        return proc.pid;
      }
      this.init.expect(`start ${proc.name} in`, "created", "running");
      const processFile = `${this.#workDir}/${this.#files++}.json`;
      await Deno.writeTextFile(processFile, JSON.stringify(proc.spec));
      try {
        await this.#startProcess(proc, (o) => this.#runtime.exec(processFile, o));
      } catch (err) {
        await proc.io?.close();
        // As containerd's shim: Wait no longer blocks, Delete is allowed.
        if (!proc.pid) proc.abandon();
        throw err;
      }
      if (proc.state === "created") proc.state = "running";
      return proc.pid;
    });
  }

  /** Exec: adds a process to start later. */
  exec(o: ExecOptions): void {
    if (!o.execId) {
      throw new JoeyError("InvalidArgument", `Exec into "${this.id}" needs an exec id`);
    }
    if (this.execs.has(o.execId)) {
      throw alreadyExists(`exec "${o.execId}" of container "${this.id}"`);
    }
    this.init.expect("exec in", "created", "running");
    this.execs.set(o.execId, new Process(this.id, o.execId, this.bundle, o.stdio, o.process));
  }

  /** Kill: a signal to one process, or with all to every process of the container. */
  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const proc = this.process(execId);
    proc.expectAlive();
    if (proc === this.init) {
      try {
        await this.#runtime.kill(this.id, signal, all);
        // A SIGKILL must end the init even where the runtime lost track of
        // it. Unreaped, the pid is still our child's and cannot be reused.
        if (signal === SIGKILL) this.#killInit();
      } catch (err) {
        // The init exited (and was reaped) while its exit is still being reported.
        const gone = await Deno.stat(`/proc/${this.init.pid}`).then(() => false, () => true);
        if (gone || /not running|stopped/i.test(String(err))) {
          throw new JoeyError("NotFound", `${proc.name}: process already finished`);
        }
        throw err;
      }
      return;
    }
    if (proc.state === "created") throw failedPrecondition(`${proc.name}: process not started`);
    try {
      kill(proc.pid, signal);
    } catch (err) {
      if (err instanceof OsError) throw notFound(`${proc.name}: process`);
      throw err;
    }
  }

  /** Delete of an exec: forgets a finished (or never started) exec. */
  deleteExec(execId: string): Promise<ExitInfo> {
    return this.#locked(async () => {
      const proc = this.process(execId);
      proc.expect("delete", "created", "stopped");
      this.execs.delete(execId);
      await proc.io?.close();
      reaper().releaseSession(proc.pid);
      return proc.exitInfo();
    });
  }

  /**
   * Delete of the init: the runtime's state, stdio, OOM watch, rootfs and
   * the shim's files go; a created init is killed and reaped first.
   */
  delete(): Promise<ExitInfo> {
    return this.#locked(async () => {
      this.init.expect("delete", "created", "stopped");
      await this.#destroy();
      return this.init.exitInfo();
    });
  }

  /** Removes everything the container made; kills what still runs. */
  async #destroy(): Promise<void> {
    // First, so that neither a kill nor the cgroup's removal reads as an OOM.
    await this.#oom?.close();
    this.#oom = null;
    await this.#runtime.delete(this.id, true).catch((err) => {
      if (!/not ?exist|not found/i.test(String(err))) throw err;
    });
    this.#killInit();
    if (this.init.pid > 0) await within(this.init.exited, REAP_MS);
    for (const p of [this.init, ...this.execs.values()]) {
      await p.io?.close();
      reaper().releaseSession(p.pid);
    }
    unmountRootfs(this.bundle);
    await Deno.remove(this.#workDir, { recursive: true }).catch(() => {});
  }

  /** Shutdown: whatever state it is in, the container is killed and removed. */
  shutdown(): Promise<void> {
    return this.#locked(async () => {
      if (this.init.state === "paused") await this.#runtime.resume(this.id).catch(() => {});
      await this.#destroy();
    });
  }

  /** Pause: freezes every process. */
  pause(): Promise<void> {
    return this.#locked(async () => {
      this.init.expect("pause", "running");
      await this.#runtime.pause(this.id);
      if (this.init.state === "running") this.init.state = "paused";
    });
  }

  /** Resume: thaws a paused container. */
  resume(): Promise<void> {
    return this.#locked(async () => {
      this.init.expect("resume", "paused");
      await this.#runtime.resume(this.id);
      if (this.init.state === "paused") this.init.state = "running";
    });
  }

  /** Pids: every process in the container, execs named by their exec id. */
  async pids(): Promise<{ pid: number; execId: string }[]> {
    if (this.init.state === "stopped") return [];
    const byPid = new Map([...this.execs.values()].map((e) => [e.pid, e.execId]));
    return (await this.#runtime.ps(this.id)).map((pid) => ({ pid, execId: byPid.get(pid) ?? "" }));
  }

  /** Sets a process's terminal size (no-op without a terminal, as in containerd). */
  resize(execId: string, width: number, height: number): void {
    this.process(execId).io?.resize(width, height);
  }

  /** Update: new cgroup resources (OCI LinuxResources). */
  update(resources: Record<string, unknown>): Promise<void> {
    return this.#locked(async () => {
      this.init.expect("update", "created", "running", "paused");
      const file = `${this.#workDir}/${this.#files++}.resources.json`;
      await Deno.writeTextFile(file, JSON.stringify(resources));
      try {
        await this.#runtime.update(this.id, file);
      } finally {
        await Deno.remove(file).catch(() => {});
      }
    });
  }

  /** Stats: the container cgroup's Metrics. */
  stats(): Promise<AnyMessage> {
    if (!this.#cgroup) throw failedPrecondition(`container "${this.id}" has no cgroup`);
    return metrics(this.#cgroup);
  }
}

/** Whether the spec gives the container a pid namespace of its own. */
export function hasOwnPidNamespace(spec: Record<string, unknown>): boolean {
  const linux = spec.linux as { namespaces?: { type?: string; path?: string }[] } | undefined;
  return (linux?.namespaces ?? []).some((ns) => ns.type === "pid" && !ns.path);
}
