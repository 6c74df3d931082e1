/**
 * Host daemons a sandbox runs (QEMU, virtiofsd, the vhost-user vsock back
 * end): spawned detached from the shim's stdio with their stderr in a log
 * file, so they keep running (and keep logging) if the shim dies; waited for
 * by the socket they create; stopped by pid, also from a later process that
 * only has the persisted state (shim `delete` after a crash).
 * @module
 */
import { JoeyError } from "../errors.ts";

/** A daemon as persisted: enough to find and stop it from another process. */
export interface DaemonRecord {
  name: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat at spawn, so a recycled pid is never signalled. */
  startTime: string;
}

/** A running daemon spawned by this process. */
export interface Daemon extends DaemonRecord {
  /** Resolves with the exit code once the daemon has exited. */
  readonly exited: Promise<number>;
  readonly logPath: string;
}

/** The start time of pid (field 22 of /proc/<pid>/stat), or null when it is gone. */
export async function processStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces; fields after it are plain.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Spawns argv with stdin and stdout from /dev/null and stderr appended to
 * logPath. A shell does the redirection and then execs, so the pid is the
 * daemon's own.
 */
export async function spawnDaemon(
  name: string,
  argv: string[],
  logPath: string,
): Promise<Daemon> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" 2>>"$log"', "sh", logPath, ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const startTime = await processStartTime(child.pid) ?? "";
  return {
    name,
    pid: child.pid,
    startTime,
    logPath,
    exited: child.status.then((s) => s.code),
  };
}

/** Whether the daemon of record is still the same live process. */
export async function isAlive(record: DaemonRecord): Promise<boolean> {
  const now = await processStartTime(record.pid);
  if (now === null) return false;
  // A zombie has exited already; only its parent's wait is missing.
  try {
    const stat = await Deno.readTextFile(`/proc/${record.pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
  } catch {
    return false;
  }
  return record.startTime === "" || now === record.startTime;
}

/** The last lines of a log file, for error messages. */
export async function logTail(path: string, lines = 12): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * Waits until path exists (a daemon's socket), the daemon exits, or
 * timeoutMs passes; the last two are errors naming the daemon and its log.
 */
export async function waitForPath(daemon: Daemon, path: string, timeoutMs: number): Promise<void> {
  let exitCode: number | null = null;
  daemon.exited.then((c) => exitCode = c);
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      await Deno.lstat(path);
      return;
    } catch { /* not yet */ }
    if (exitCode !== null) {
      throw new JoeyError(
        "Internal",
        `${daemon.name} exited with code ${exitCode} before creating "${path}": ${await logTail(
          daemon.logPath,
        )}`,
      );
    }
    if (Date.now() > deadline) {
      throw new JoeyError(
        "DeadlineExceeded",
        `${daemon.name} did not create "${path}" within ${timeoutMs} ms: ${await logTail(
          daemon.logPath,
        )}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Stops a daemon: SIGTERM, then SIGKILL after graceMs; resolves once it is
 * gone. Works on a record from persisted state (not our child) too.
 */
export async function stopDaemon(record: DaemonRecord, graceMs = 2000): Promise<void> {
  if (!(await isAlive(record))) return;
  const signal = (sig: Deno.Signal) => {
    try {
      Deno.kill(record.pid, sig);
    } catch { /* gone */ }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (await isAlive(record)) {
    if (Date.now() > deadline) {
      signal("SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let i = 0; i < 500 && await isAlive(record); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
}
