/**
 * The OCI runtime command line (runc, or crun which takes the same flags).
 * create and exec are spawned by the shim itself, because the process they
 * start inherits their stdio; every other command runs through
 * Deno.Command. Failures carry the runtime's own message, taken from its
 * JSON log (--log) or its stderr.
 * @module
 */
import { JoeyError } from "../../errors.ts";
import { reaper, spawn, type SpawnStdio } from "../../os/mod.ts";

/** A failed OCI runtime command. */
export class OciRuntimeError extends JoeyError {
  constructor(command: string, message: string) {
    super("Unknown", `OCI runtime ${command} failed: ${message}`);
    this.name = "OciRuntimeError";
  }
}

/** Options of create and exec that start a process. */
export interface StartProcessOptions {
  id: string;
  pidFile: string;
  consoleSocket: string | null;
  stdio: SpawnStdio;
}

/** One OCI runtime binary with one state root. */
export class OciRuntime {
  readonly binary: string;
  readonly root: string;
  readonly logPath: string;

  /** logPath: the JSON log the runtime writes its errors to (per container). */
  constructor(binary: string, root: string, logPath: string) {
    this.binary = binary;
    this.root = root;
    this.logPath = logPath;
  }

  #global(): string[] {
    return ["--root", this.root, "--log", this.logPath, "--log-format", "json"];
  }

  /** `create --bundle`: the container exists, its init waits for start. */
  create(bundle: string, o: StartProcessOptions): Promise<void> {
    const args = ["create", "--bundle", bundle, "--pid-file", o.pidFile];
    if (o.consoleSocket) args.push("--console-socket", o.consoleSocket);
    return this.#spawned("create", [...args, o.id], o.stdio);
  }

  /** `exec --detach`: a process described by processFile joins the container. */
  exec(processFile: string, o: StartProcessOptions): Promise<void> {
    const args = ["exec", "--detach", "--process", processFile, "--pid-file", o.pidFile];
    if (o.consoleSocket) args.push("--console-socket", o.consoleSocket);
    return this.#spawned("exec", [...args, o.id], o.stdio);
  }

  async #spawned(command: string, args: string[], stdio: SpawnStdio): Promise<void> {
    const logStart = await this.#logSize();
    const pid = spawn([this.binary, ...this.#global(), ...args], stdio);
    const status = await reaper().watch(pid);
    if (status !== 0) {
      const msg = await this.#lastError(logStart);
      throw new OciRuntimeError(command, msg || `exit status ${status}`);
    }
  }

  /** `start`: the created init runs its program. */
  async start(id: string): Promise<void> {
    await this.run("start", [id]);
  }

  /** `kill [--all]`. */
  async kill(id: string, signal: number, all: boolean): Promise<void> {
    await this.run("kill", [...(all ? ["--all"] : []), id, String(signal)]);
  }

  /** `delete [--force]`. */
  async delete(id: string, force: boolean): Promise<void> {
    await this.run("delete", [...(force ? ["--force"] : []), id]);
  }

  /** `pause` (cgroup freezer). */
  async pause(id: string): Promise<void> {
    await this.run("pause", [id]);
  }

  /** `resume`. */
  async resume(id: string): Promise<void> {
    await this.run("resume", [id]);
  }

  /** `update --resources FILE` with OCI LinuxResources JSON. */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.run("update", ["--resources", resourcesFile, id]);
  }

  /** `ps --format json`: the pids in the container's cgroup. */
  async ps(id: string): Promise<number[]> {
    const out = await this.run("ps", ["--format", "json", id]);
    const pids = JSON.parse(out.trim() || "[]");
    if (!Array.isArray(pids)) throw new OciRuntimeError("ps", `unexpected output ${out}`);
    return pids.map(Number);
  }

  /** `state`: the runtime's JSON view of the container. */
  async state(id: string): Promise<{ status: string; pid: number }> {
    return JSON.parse(await this.run("state", [id]));
  }

  /** Runs one short command and returns its stdout. */
  async run(command: string, args: string[]): Promise<string> {
    const logStart = await this.#logSize();
    const out = await new Deno.Command(this.binary, {
      args: [...this.#global(), command, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const msg = (await this.#lastError(logStart)) ||
        new TextDecoder().decode(out.stderr).trim() ||
        `exit status ${out.code}`;
      throw new OciRuntimeError(command, msg);
    }
    return new TextDecoder().decode(out.stdout);
  }

  async #logSize(): Promise<number> {
    return (await Deno.stat(this.logPath).catch(() => null))?.size ?? 0;
  }

  /** The last error the runtime logged after byte offset `from`. */
  async #lastError(from: number): Promise<string> {
    const text = await Deno.readTextFile(this.logPath).catch(() => "");
    let msg = "";
    for (const line of text.slice(from).split("\n")) {
      try {
        const entry = JSON.parse(line);
        if (entry.level === "error" || entry.level === "fatal") msg = String(entry.msg);
      } catch {
        // Not JSON: runtimes also print plain text to the log.
        if (line.trim()) msg = line.trim();
      }
    }
    return msg;
  }
}
