/**
 * Translation between the task API's protobuf messages and the runtime's
 * internal types, kept apart from the service logic (translate at the edge).
 * @module
 */
import type { ExitInfo, Mount, ProcessState, ProcessStatus, Stdio } from "../runtime/mod.ts";
import { type Any, type Timestamp, toTimestamp } from "../proto/registry.ts";
import { invalidArgument } from "../errors.ts";

const STATUS_NAMES: Record<ProcessStatus, string> = {
  unknown: "UNKNOWN",
  created: "CREATED",
  running: "RUNNING",
  stopped: "STOPPED",
  paused: "PAUSED",
  pausing: "PAUSING",
};

/** The task API's Status enum name for a process status. */
export function statusName(status: ProcessStatus): string {
  return STATUS_NAMES[status];
}

/** containerd.types.Mount as decoded. */
export interface MountMessage {
  type: string;
  source: string;
  target: string;
  options: string[];
}

export function toMounts(mounts: MountMessage[]): Mount[] {
  return mounts.map((m) => ({
    type: m.type,
    source: m.source,
    target: m.target,
    options: [...m.options],
  }));
}

export function toStdio(
  m: { stdin: string; stdout: string; stderr: string; terminal: boolean },
): Stdio {
  return { stdin: m.stdin, stdout: m.stdout, stderr: m.stderr, terminal: m.terminal };
}

/** A timestamp field, or null for a process that has not exited. */
export function timestampOrNull(date: Date | null): Timestamp | null {
  return date ? toTimestamp(date) : null;
}

/** StateResponse fields for a process state. */
export function stateResponse(s: ProcessState): Record<string, unknown> {
  return {
    id: s.id,
    bundle: s.bundle,
    pid: s.pid,
    status: statusName(s.status),
    stdin: s.stdio.stdin,
    stdout: s.stdio.stdout,
    stderr: s.stdio.stderr,
    terminal: s.stdio.terminal,
    exit_status: s.exitStatus,
    exited_at: timestampOrNull(s.exitedAt),
    exec_id: s.execId,
  };
}

/** TaskExit event fields: `id` is the process id (exec id, or the container id for init). */
export function exitEvent(e: ExitInfo): Record<string, unknown> {
  return {
    container_id: e.id,
    id: e.execId || e.id,
    pid: e.pid,
    exit_status: e.exitStatus,
    exited_at: toTimestamp(e.exitedAt),
  };
}

/**
 * Decodes an Any that containerd filled with JSON (OCI Process for Exec,
 * LinuxResources for Update); `what` names the field in errors.
 */
export function jsonFromAny(any: Any | null, what: string): Record<string, unknown> {
  if (!any || any.value.length === 0) throw invalidArgument(`${what} is missing`);
  try {
    const value = JSON.parse(new TextDecoder().decode(any.value));
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error("not a JSON object");
    }
    return value;
  } catch (err) {
    throw invalidArgument(
      `${what} (${any.type_url}) is not valid JSON: ${err instanceof Error ? err.message : err}`,
    );
  }
}
