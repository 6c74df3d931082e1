/**
 * Processes the shim itself spawns and reaps: the child subreaper flag,
 * spawning with chosen stdio fds, and signals by number.
 * @module
 */
import { check, cstrList, os } from "./ffi.ts";
import type { RawFd } from "./fd.ts";

/**
 * Makes this process the child subreaper, so orphaned descendants (the
 * container processes the OCI runtime leaves behind) become its children.
 */
export function setChildSubreaper(): void {
  check(os().joey_os__set_subreaper(), "prctl(PR_SET_CHILD_SUBREAPER)");
}

/** Sends signal number sig to pid. */
export function kill(pid: number, sig: number): void {
  check(os().joey_os__kill(pid, sig), `kill(${pid}, ${sig})`);
}

/** Stdio for spawn; null means /dev/null. */
export interface SpawnStdio {
  stdin: RawFd | null;
  stdout: RawFd | null;
  stderr: RawFd | null;
}

/**
 * Spawns argv[0] (found on PATH) with the given stdio and the current
 * environment. The child is NOT Deno's: wait for it with reaper().watch().
 */
export function spawn(argv: string[], stdio: SpawnStdio): number {
  const env = Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
  return check(
    os().joey_os__spawn(
      cstrList(argv),
      cstrList(env),
      stdio.stdin?.fd ?? -1,
      stdio.stdout?.fd ?? -1,
      stdio.stderr?.fd ?? -1,
    ),
    `spawn "${argv[0]}"`,
  );
}
