/**
 * The process `joey exec` runs, as `ctr tasks exec` builds it: the
 * container's own `process` from its bundle's config.json (user,
 * additional gids, env, cwd, capabilities, rlimits), with the command, the
 * terminal and the operator's --user/--env/--cwd put over it. Where the
 * bundle cannot be read, the old defaults stand (root, a default PATH, /)
 * and the caller is told why.
 * @module
 */
import { UsageError } from "./usage.ts";

type Json = Record<string, unknown>;

/** What the operator put over the container's defaults (joey exec --user/--env/--cwd). */
export interface ExecOverrides {
  user?: { uid: number; gid?: number };
  /** KEY=VALUE entries; each replaces the container's KEY or is added. */
  env: string[];
  cwd?: string;
}

/** The defaults where the container's own are unknown. */
export const FALLBACK_PROCESS: Readonly<Json> = {
  user: { uid: 0, gid: 0, additionalGids: [] },
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  cwd: "/",
};

/** Parses --user UID[:GID] (numbers, as runc exec takes them); a UsageError otherwise. */
export function parseUser(value: string): { uid: number; gid?: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(value);
  if (!m) throw new UsageError("exec", `--user takes UID[:GID] as numbers, not "${value}"`);
  return m[2] === undefined ? { uid: Number(m[1]) } : { uid: Number(m[1]), gid: Number(m[2]) };
}

/** Checks --env KEY=VALUE entries; a UsageError names the first bad one. */
export function parseEnv(values: string[]): string[] {
  const bad = values.find((e) => !/^[^=]+=/.test(e));
  if (bad !== undefined) throw new UsageError("exec", `--env takes KEY=VALUE, not "${bad}"`);
  return values;
}

/** The `process` of the bundle's config.json; throws saying why it cannot be had. */
export async function bundleProcess(bundle: string): Promise<Json> {
  const path = `${bundle}/config.json`;
  const spec = JSON.parse(await Deno.readTextFile(path)) as Json;
  const process = spec.process;
  if (!process || typeof process !== "object" || Array.isArray(process)) {
    throw new Error(`${path} has no process object`);
  }
  return process as Json;
}

/** env with each KEY=VALUE of extra replacing the same KEY, or added at the end. */
export function mergeEnv(env: string[], extra: string[]): string[] {
  const key = (e: string) => e.slice(0, e.indexOf("=") + 1);
  const out = [...env];
  for (const e of extra) {
    const i = out.findIndex((x) => key(x) === key(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/**
 * The OCI process to exec: base (the container's process, or
 * FALLBACK_PROCESS) with argv, the terminal and its size, and the
 * overrides. With a terminal, TERM comes from ours when the container sets none.
 */
export function execProcess(
  base: Readonly<Json>,
  o: {
    argv: string[];
    tty: boolean;
    size: { columns: number; rows: number } | null;
    overrides: ExecOverrides;
  },
): Json {
  const user = { ...(base.user as Json | undefined ?? {}) };
  if (o.overrides.user) {
    user.uid = o.overrides.user.uid;
    if (o.overrides.user.gid !== undefined) user.gid = o.overrides.user.gid;
  }
  let env = Array.isArray(base.env) ? base.env.filter((e) => typeof e === "string") : [];
  if (o.tty && !env.some((e) => e.startsWith("TERM="))) {
    env.push(`TERM=${Deno.env.get("TERM") || "xterm"}`);
  }
  env = mergeEnv(env, o.overrides.env);
  return {
    ...base,
    terminal: o.tty,
    consoleSize: o.size ? { height: o.size.rows, width: o.size.columns } : undefined,
    user,
    args: o.argv,
    env,
    cwd: o.overrides.cwd ?? (typeof base.cwd === "string" && base.cwd ? base.cwd : "/"),
  };
}
