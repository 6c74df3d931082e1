/**
 * Steps of the task scenarios that every runtime goes through with real
 * containerd and ctr: linux-container and runc (shim_test.ts) and
 * virt-container (tests/virt/ctr_run_test.ts) run the same steps with the
 * same assertions, so a behaviour checked for one is checked for all.
 * @module
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { messageType } from "../../src/proto/registry.ts";
import { TtrpcClient } from "../../src/ttrpc/client.ts";
import { type Containerd, type CtrResult, IMAGE_NAME } from "./harness.ts";
import { PtySession } from "./pty.ts";

/** How long a `ctr run` may take (a VM boots under it with virt-container). */
const RUN_MS = 120_000;

/** ctr's command line for a PtySession against c. */
function ctrLine(c: Containerd, args: string): string {
  return `ctr --address ${c.address} --namespace ${c.namespace} ${args}`;
}

/** What `ctr run` runs: runtime, container id, command, and extra ctr flags (before the image). */
export interface RunOptions {
  runtime: string;
  id: string;
  argv: string[];
  flags?: string[];
  /** How long ctr may take (default RUN_MS). */
  timeoutMs?: number;
}

function runArgs(mode: "-d" | "--rm", o: RunOptions): string[] {
  return ["run", mode, "--runtime", o.runtime, ...(o.flags ?? []), IMAGE_NAME, o.id, ...o.argv];
}

/** `ctr run --rm` to the end: its output and exit status. */
export function runRm(c: Containerd, o: RunOptions): Promise<CtrResult> {
  return c.ctr(runArgs("--rm", o), { timeoutMs: o.timeoutMs ?? RUN_MS });
}

/**
 * `ctr run --rm` as a child with piped stdin and stdout, for stdin tests
 * (ctr 1.6 attaches its own stdin to the task; it has no -i flag).
 */
export function spawnRunRm(
  c: Containerd,
  o: RunOptions,
  stderr: "piped" | "null",
): Deno.ChildProcess {
  return new Deno.Command("ctr", {
    args: ["--address", c.address, "--namespace", c.namespace, ...runArgs("--rm", o)],
    stdin: "piped",
    stdout: "piped",
    stderr,
  }).spawn();
}

/**
 * `ctr run -d` of argv (extra ctr flags first); waits until the task runs.
 * A failed run's message adds what diagnose returns (e.g. the shim's log).
 */
export async function runDetached(
  c: Containerd,
  o: RunOptions,
  diagnose: () => Promise<string> = () => Promise.resolve(""),
): Promise<void> {
  const run = await c.ctr(runArgs("-d", o), { timeoutMs: RUN_MS });
  assertEquals(run.code, 0, `${run.stderr}\n${await diagnose()}`);
  await waitFor(async () => (await c.taskStatus(o.id)) === "RUNNING", `${o.id} RUNNING`);
}

/** Deletes a stopped task; returns the exit code ctr 1.6 reports (it warns on non-zero). */
export async function deletedExitCode(c: Containerd, id: string): Promise<number> {
  const del = await c.ctr(["tasks", "delete", id]);
  assertEquals(del.code, 0, del.stderr);
  const m = /exit with non-zero exit code (\d+)/.exec(del.stderr);
  return m ? Number(m[1]) : 0;
}

/** `ctr tasks kill -s signal` (with all: `-a`), which must succeed. */
export async function killTask(
  c: Containerd,
  id: string,
  signal: string,
  all = false,
): Promise<void> {
  const k = await c.ctr(["tasks", "kill", ...(all ? ["-a"] : []), "-s", signal, id]);
  assertEquals(k.code, 0, k.stderr);
}

/** Waits for the task to stop, deletes it expecting exitCode, then deletes the container. */
export async function deleteStopped(
  c: Containerd,
  id: string,
  exitCode: number,
  stopMs?: number,
): Promise<void> {
  await waitFor(async () => (await c.taskStatus(id)) === "STOPPED", `${id} STOPPED`, stopMs);
  assertEquals(await deletedExitCode(c, id), exitCode, `exit status of ${id}`);
  assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
}

/** An exec writing to both streams: stdout and stderr stay apart, its exit status comes back. */
export async function execKeepsStreamsApart(c: Containerd, id: string): Promise<void> {
  const exec = await c.ctr(
    ["tasks", "exec", "--exec-id", "e1", id, "sh", "-c"]
      .concat(["echo in-exec; echo to-err >&2; exit 4"]),
  );
  assertEquals(exec.stdout, "in-exec\n", exec.stderr);
  assertIncludes(exec.stderr, "to-err");
  assertEquals(exec.code, 4);
}

/** `ctr tasks exec -t` of `sh -c script` on a pseudo-terminal: it prints expect and exits 6. */
export async function ttyExec(
  c: Containerd,
  id: string,
  script: string,
  expect: string,
): Promise<void> {
  const tty = new PtySession(
    ctrLine(c, `tasks exec -t --exec-id e2 ${id} sh -c '${script}; exit 6'`),
  );
  try {
    await tty.expect(expect);
    assertEquals(await tty.wait(), 6, tty.output);
  } finally {
    tty.kill();
  }
}

/** A detached exec ("bg", sleep 60), then `ctr tasks ps`: the pids it lists, init and exec among them. */
export async function psWithExec(c: Containerd, id: string): Promise<number[]> {
  const bg = await c.ctr(["tasks", "exec", "-d", "--exec-id", "bg", id, "sleep", "60"]);
  assertEquals(bg.code, 0, bg.stderr);
  const ps = await c.ctr(["tasks", "ps", id]);
  assertEquals(ps.code, 0, ps.stderr);
  const pids = ps.stdout.split("\n").slice(1).filter((l) => /^\s*\d+/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
  assert(pids.length >= 2, `ps lists init and the exec: ${ps.stdout}`);
  return pids;
}

/** Pause shows PAUSED, resume shows RUNNING again. */
export async function pauseResume(c: Containerd, id: string): Promise<void> {
  assertEquals((await c.ctr(["tasks", "pause", id])).code, 0);
  assertEquals(await c.taskStatus(id), "PAUSED");
  assertEquals((await c.ctr(["tasks", "resume", id])).code, 0);
  assertEquals(await c.taskStatus(id), "RUNNING");
}

/** `ctr tasks metrics`: memory and pids are reported; returns the text for more checks. */
export async function metricsText(c: Containerd, id: string): Promise<string> {
  const metrics = await c.ctr(["tasks", "metrics", id]);
  assertEquals(metrics.code, 0, metrics.stderr);
  assertIncludes(metrics.stdout, "memory.usage_in_bytes");
  assertIncludes(metrics.stdout, "pids.current");
  return metrics.stdout;
}

/** `ctr run -t --rm … sh` on a pseudo-terminal: input is echoed and answered, exit 5. */
export async function ttyRun(c: Containerd, runtime: string, id: string): Promise<void> {
  const pty = new PtySession(ctrLine(c, `run -t --rm --runtime ${runtime} ${IMAGE_NAME} ${id} sh`));
  try {
    await pty.expect("#");
    await pty.type("echo hello-$((40+2))\n");
    await pty.expect("echo hello-$((40+2))");
    await pty.expect("hello-42");
    await pty.type("exit 5\n");
    assertEquals(await pty.wait(), 5, pty.output);
  } finally {
    pty.kill();
  }
}

/** `kill -a -s KILL` stops the init and a running exec: the task ends with 137. */
export async function killAll(
  c: Containerd,
  o: { runtime: string; id: string },
  diagnose?: () => Promise<string>,
): Promise<void> {
  const id = o.id;
  await runDetached(c, { ...o, argv: ["sleep", "60"] }, diagnose);
  assertEquals(
    (await c.ctr(["tasks", "exec", "-d", "--exec-id", "x", id, "sleep", "60"])).code,
    0,
  );
  await killTask(c, id, "KILL", true);
  await deleteStopped(c, id, 137);
}

/**
 * Calls method of the Task service on the shim serving id, as containerd
 * does (its address file, the namespace in the metadata, bounded in time),
 * for RPCs ctr 1.6 cannot send (Update) or sends only racily (CloseIO).
 */
export async function callShimTask(
  c: Containerd,
  id: string,
  o: { method: string; type: string; request: Record<string, unknown> },
): Promise<void> {
  const address = `${c.dir}/state/io.containerd.runtime.v2.task/${c.namespace}/${id}/address`;
  const shim = await TtrpcClient.dial((await Deno.readTextFile(address)).trim());
  try {
    await shim.call(
      "containerd.task.v2.Task",
      o.method,
      messageType(`containerd.task.v2.${o.type}`).encode(o.request),
      { metadata: { "containerd-namespace-ttrpc": c.namespace }, timeoutMs: 10_000 },
    );
  } finally {
    shim.close();
  }
}
