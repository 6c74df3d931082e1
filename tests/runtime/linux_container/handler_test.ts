/**
 * The linux-container handler driven directly (no containerd) with real
 * runc and crun on a busybox rootfs: lifecycle, stdio, terminals, exec,
 * signals, pause/resume, update, pids, stats, delete and error kinds.
 */
import { assert, assertEquals, assertIncludes, assertRejects } from "../../lib/assert.ts";
import { waitFor, within } from "../../lib/tmp.ts";
import { JoeyError } from "../../../src/errors.ts";
import { messageType } from "../../../src/proto/registry.ts";
import { alive, FifoReader, Fixture, type Fixture as F, mounted, skipReason } from "./fixture.ts";

const RUNTIMES = ["runc", "crun"];

/** Registers fn once per OCI runtime, each with a fresh fixture and a time bound. */
function lcTest(name: string, fn: (f: F) => Promise<void>, timeoutMs = 60_000): void {
  for (const runtime of RUNTIMES) {
    const reason = skipReason(runtime);
    if (reason) console.log(`skipping "${name}" with ${runtime}: ${reason}`);
    Deno.test({
      name: `linux-container [${runtime}] ${name}`,
      ignore: reason !== null,
      async fn() {
        const f = await Fixture.create(runtime);
        try {
          await within(fn(f), timeoutMs, name);
        } finally {
          await f.dispose();
        }
      },
    });
  }
}

async function assertKind(kind: string, fn: () => Promise<unknown>): Promise<void> {
  const err = await assertRejects(fn, JoeyError);
  assertEquals(err.kind, kind, `expected ${kind}, got ${err.kind}: ${err.message}`);
}

const te = new TextEncoder();

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

lcTest("create/start/exit code, stdout and stderr apart; delete leaves nothing", async (f) => {
  const b = await f.bundle({ args: ["sh", "-c", "echo out; echo err >&2; exit 3"] });
  const out = new FifoReader(b.stdio.stdout);
  const err = new FifoReader(b.stdio.stderr);
  const pid = await f.create(b);
  assert(pid > 0);
  assertEquals((await f.handler.state(b.id, "")).status, "created");
  assert(await mounted(`${b.bundle}/rootfs`), "rootfs mounted at create");
  assertEquals((await f.handler.start(b.id, "")).pid, pid);
  const exit = await f.handler.wait(b.id, "");
  assertEquals(exit.exitStatus, 3);
  await Promise.all([out.done, err.done]);
  assertEquals(out.text, "out\n");
  assertEquals(err.text, "err\n");
  const state = await f.handler.state(b.id, "");
  assertEquals(state.status, "stopped");
  assertEquals(state.exitStatus, 3);
  const del = await f.handler.delete(b.id, "");
  assertEquals([del.pid, del.exitStatus], [pid, 3]);
  assertEquals(f.recorder.exitsOf(b.id).map((e) => e.exitStatus), [3]);
  assert(!(await f.runtimeKnows(b.id)), "no runtime state after delete");
  assert(!(await mounted(`${b.bundle}/rootfs`)), "rootfs unmounted after delete");
  assert(!alive(pid), "init reaped");
  assert(!(await exists(`${b.bundle}/.joey`)), "the shim's files removed");
  assert(!(await exists(`/sys/fs/cgroup/memory${b.cgroupsPath}`)), "v1 cgroup removed");
  assert(!(await exists(`/sys/fs/cgroup${b.cgroupsPath}`)), "v2 cgroup removed");
  assertEquals(f.handler.containerCount(), 0);
});

lcTest("stdin round trip; EOF only after closeIO and the client's close", async (f) => {
  const b = await f.bundle({ args: ["sh", "-c", "cat; echo done"], stdin: true });
  const out = new FifoReader(b.stdio.stdout);
  await f.create(b);
  await f.handler.start(b.id, "");
  const w = await Deno.open(b.stdio.stdin, { write: true });
  await w.write(te.encode("hello\n"));
  await out.waitFor("hello\n");
  w.close();
  // The shim's own writer keeps stdin open until CloseIO.
  await new Promise((r) => setTimeout(r, 300));
  assertEquals((await f.handler.state(b.id, "")).status, "running");
  await f.handler.closeIO(b.id, "");
  assertEquals((await f.handler.wait(b.id, "")).exitStatus, 0);
  await out.done;
  assertEquals(out.text, "hello\ndone\n");
  await f.handler.delete(b.id, "");
});

lcTest("terminal through the console socket: size, echo and answer", async (f) => {
  const b = await f.bundle({
    args: ["sh", "-c", "stty size; read x; echo got:$x; exit 4"],
    terminal: true,
    stdin: true,
  });
  const out = new FifoReader(b.stdio.stdout);
  await f.create(b);
  await f.handler.resizePty(b.id, "", 100, 40);
  await f.handler.start(b.id, "");
  await out.waitFor("40 100");
  const w = await Deno.open(b.stdio.stdin, { write: true });
  await w.write(te.encode("abc\n"));
  assertEquals((await f.handler.wait(b.id, "")).exitStatus, 4);
  w.close();
  await out.done;
  // The terminal echoes the input, then the program answers.
  assertIncludes(out.text, "abc\r\n");
  assertIncludes(out.text, "got:abc\r\n");
  await f.handler.delete(b.id, "");
});

lcTest("exec with and without a terminal; pids name the exec", async (f) => {
  const b = await f.bundle({ args: ["sleep", "100"] });
  await f.create(b);
  await f.handler.start(b.id, "");
  const base = (await f.handler.state(b.id, "")).bundle;
  const proc = (args: string[], terminal: boolean) => ({
    terminal,
    args,
    cwd: "/",
    env: ["PATH=/bin"],
    user: { uid: 0, gid: 0 },
  });
  // Without a terminal: separate streams and the exit code.
  const outPath = await f.fifo(base, "e1-out");
  const errPath = await f.fifo(base, "e1-err");
  const out = new FifoReader(outPath);
  const err = new FifoReader(errPath);
  await f.handler.exec({
    id: b.id,
    execId: "e1",
    stdio: { stdin: "", stdout: outPath, stderr: errPath, terminal: false },
    process: proc(["sh", "-c", "echo exec-out; echo exec-err >&2; exit 5"], false),
  });
  assertEquals((await f.handler.state(b.id, "e1")).status, "created");
  await assertKind("AlreadyExists", () =>
    f.handler.exec({
      id: b.id,
      execId: "e1",
      stdio: { stdin: "", stdout: "", stderr: "", terminal: false },
      process: proc(["true"], false),
    }));
  const { pid: e1 } = await f.handler.start(b.id, "e1");
  assert(e1 > 0);
  assertEquals((await f.handler.wait(b.id, "e1")).exitStatus, 5);
  await Promise.all([out.done, err.done]);
  assertEquals([out.text, err.text], ["exec-out\n", "exec-err\n"]);
  assertEquals((await f.handler.delete(b.id, "e1")).exitStatus, 5);
  await assertKind("NotFound", () => f.handler.state(b.id, "e1"));

  // With a terminal: the process sees a pty.
  const ttyPath = await f.fifo(base, "e2-out");
  const tty = new FifoReader(ttyPath);
  await f.handler.exec({
    id: b.id,
    execId: "e2",
    stdio: { stdin: "", stdout: ttyPath, stderr: "", terminal: true },
    process: proc(["sh", "-c", "tty; stty size"], true),
  });
  await f.handler.start(b.id, "e2");
  await f.handler.resizePty(b.id, "e2", 90, 30).catch(() => {}); // may race the exit
  assertEquals((await f.handler.wait(b.id, "e2")).exitStatus, 0);
  await tty.done;
  assertIncludes(tty.text, "/dev/pts/");
  await f.handler.delete(b.id, "e2");

  // pids maps a running exec's pid to its exec id.
  await f.handler.exec({
    id: b.id,
    execId: "e3",
    stdio: { stdin: "", stdout: "", stderr: "", terminal: false },
    process: proc(["sleep", "100"], false),
  });
  const { pid: e3 } = await f.handler.start(b.id, "e3");
  const pids = await f.handler.pids(b.id);
  assert(pids.some((p) => p.pid === e3 && p.execId === "e3"), JSON.stringify(pids));
  assert(pids.some((p) => p.pid === f.handler.containerPid(b.id) && p.execId === ""));
  await f.handler.kill(b.id, "e3", 9, false);
  assertEquals((await f.handler.wait(b.id, "e3")).exitStatus, 137);
  await assertKind("NotFound", () => f.handler.kill(b.id, "e3", 9, false));
  await f.handler.kill(b.id, "", 9, false);
  assertEquals((await f.handler.wait(b.id, "")).exitStatus, 137);
  await f.handler.delete(b.id, "");
  assertEquals(f.recorder.exitsOf(b.id, "e1").length, 1);
  assertEquals(f.recorder.exitsOf(b.id, "e3").length, 1);
});

lcTest("an exec whose program cannot run: Start fails, Wait returns, Delete works", async (f) => {
  if (f.runtime !== "runc") {
    // crun 1.8.1 (run here without the v2 mount, see fixture.ts) moves the
    // container's processes out of its cgroups when an exec fails, after
    // which not even SIGKILL ends the init: nothing this test could clean up.
    console.log("crun: skipped, a failed exec leaves its container unkillable");
    return;
  }
  const b = await f.bundle({ args: ["sleep", "100"] });
  await f.create(b);
  await f.handler.start(b.id, "");
  await f.handler.exec({
    id: b.id,
    execId: "bad",
    stdio: { stdin: "", stdout: "", stderr: "", terminal: false },
    process: { args: ["/no/such/program"], cwd: "/", env: ["PATH=/bin"], user: { uid: 0, gid: 0 } },
  });
  await assertKind("Unknown", () => f.handler.start(b.id, "bad"));
  assertEquals((await within(f.handler.wait(b.id, "bad"), 2000, "wait")).exitStatus, 255);
  await f.handler.delete(b.id, "bad");
  assertEquals(f.recorder.exitsOf(b.id, "bad").length, 0, "no exit for a process that never ran");
  await f.handler.kill(b.id, "", 9, true);
  assertEquals((await f.handler.wait(b.id, "")).exitStatus, 137);
  await f.handler.delete(b.id, "");
});

lcTest("kill delivers the signal; kill all stops every process", async (f) => {
  const b = await f.bundle({ args: ["sh", "-c", "trap 'exit 7' TERM; sleep 100 & wait"] });
  await f.create(b);
  await f.handler.start(b.id, "");
  await new Promise((r) => setTimeout(r, 300)); // let the trap be set
  await f.handler.kill(b.id, "", 15, false);
  assertEquals((await f.handler.wait(b.id, "")).exitStatus, 7);
  await assertKind("NotFound", () => f.handler.kill(b.id, "", 9, false));
  await f.handler.delete(b.id, "");

  // Without its own pid namespace the children survive a plain init kill,
  // so kill all must reach them.
  const h = await f.bundle({ args: ["sh", "-c", "sleep 100 & sleep 100 & wait"], hostPid: true });
  await f.create(h);
  await f.handler.start(h.id, "");
  await new Promise((r) => setTimeout(r, 300));
  const before = (await f.handler.pids(h.id)).map((p) => p.pid);
  assert(before.length >= 3, `expected init and two sleeps, got ${before}`);
  await f.handler.kill(h.id, "", 9, true);
  assertEquals((await f.handler.wait(h.id, "")).exitStatus, 137);
  await new Promise((r) => setTimeout(r, 200));
  // Orphaned to the shim (the subreaper) and killed, they are reaped too:
  // neither running nor left as zombies.
  await waitFor(
    () => before.every((pid) => !alive(pid)),
    `pids ${before} gone`,
    5000,
  );
  await f.handler.delete(h.id, "");
});

lcTest("without a pid namespace, an orphan that exits while the init runs is reaped", async (f) => {
  const b = await f.bundle({
    args: ["sh", "-c", "sh -c 'sleep 0.3 & echo $!'; sleep 100"],
    hostPid: true,
  });
  const out = new FifoReader(b.stdio.stdout);
  await f.create(b);
  await f.handler.start(b.id, "");
  const orphan = Number((await out.waitFor("\n")).trim());
  assert(orphan > 0);
  // Its parent exited at once: the shim, as subreaper, inherits it and must
  // reap it when it exits, not leave a zombie.
  await waitFor(() => !alive(orphan), `orphan ${orphan} reaped`, 5000);
  assertEquals((await f.handler.state(b.id, "")).status, "running");
  await f.handler.kill(b.id, "", 9, true);
  await f.handler.wait(b.id, "");
  await f.handler.delete(b.id, "");
});

lcTest("pause and resume show in state", async (f) => {
  const b = await f.bundle({ args: ["sleep", "100"] });
  await f.create(b);
  await f.handler.start(b.id, "");
  await f.handler.pause(b.id);
  assertEquals((await f.handler.state(b.id, "")).status, "paused");
  await assertKind("Unknown", () => f.handler.pause(b.id));
  await assertKind("Unknown", () => f.handler.delete(b.id, ""));
  await f.handler.resume(b.id);
  assertEquals((await f.handler.state(b.id, "")).status, "running");
  await assertKind("Unknown", () => f.handler.resume(b.id));
  // A container killed while paused still ends, and reads as stopped.
  await f.handler.pause(b.id);
  await f.handler.kill(b.id, "", 9, true);
  assertEquals(
    (await within(f.handler.wait(b.id, ""), 10_000, "exit while paused")).exitStatus,
    137,
  );
  assertEquals((await f.handler.state(b.id, "")).status, "stopped");
  await f.handler.delete(b.id, "");
});

lcTest("update sets cgroup resources; stats decode as containerd Metrics", async (f) => {
  const b = await f.bundle({ args: ["sleep", "100"] });
  await f.create(b);
  await f.handler.start(b.id, "");
  await f.handler.update(b.id, { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } });
  const stats = await f.handler.stats(b.id);
  const unified = stats.typeUrl.endsWith("v2.Metrics");
  // deno-lint-ignore no-explicit-any
  const m = messageType<any>(stats.typeUrl).decode(stats.value);
  if (unified) {
    assertEquals(stats.typeUrl, "io.containerd.cgroups.v2.Metrics");
    assertEquals(m.memory.usage_limit, 64 * 1024 * 1024);
    assertEquals(m.pids.limit, 50);
    assert(m.pids.current >= 1);
  } else {
    assertEquals(stats.typeUrl, "io.containerd.cgroups.v1.Metrics");
    assertEquals(m.memory.usage.limit, 64 * 1024 * 1024);
    assert(m.memory.usage.usage > 0, "memory usage");
    assertEquals(m.pids.limit, 50);
    assert(m.pids.current >= 1, "pids.current");
    assert(m.cpu.usage.total > 0, "cpu usage");
    assert(m.cpu.usage.per_cpu.length >= 1, "per-cpu usage");
    const limit = await Deno.readTextFile(
      `/sys/fs/cgroup/memory${b.cgroupsPath}/memory.limit_in_bytes`,
    );
    assertEquals(limit.trim(), String(64 * 1024 * 1024));
  }
  await f.handler.kill(b.id, "", 9, true);
  await f.handler.wait(b.id, "");
  await f.handler.delete(b.id, "");
});

lcTest("OOM is reported and the process ends with 137", async (f) => {
  const b = await f.bundle({
    args: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"],
    memoryLimit: 16 * 1024 * 1024,
  });
  await f.create(b);
  await f.handler.start(b.id, "");
  const exit = await f.handler.wait(b.id, "");
  // dd is killed; sh (pid 1) reports it as 128+9 and exits with that.
  assertEquals(exit.exitStatus, 137);
  const deadline = Date.now() + 5000;
  while (f.recorder.ooms.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(f.recorder.ooms, [b.id]);
  await f.handler.delete(b.id, "");
  assertEquals(f.recorder.ooms, [b.id], "no OOM reported for the cgroup's removal");
});

lcTest("wrong states and unknown ids give the runc shim's error kinds", async (f) => {
  await assertKind("NotFound", () => f.handler.state("nope", ""));
  await assertKind("NotFound", () => f.handler.start("nope", ""));
  await assertKind("NotFound", () => f.handler.kill("nope", "", 9, false));
  await assertKind("NotFound", () => f.handler.delete("nope", ""));
  const b = await f.bundle({ args: ["sleep", "100"] });
  await f.create(b);
  await assertKind("AlreadyExists", () => f.create(b));
  await assertKind("NotFound", () => f.handler.state(b.id, "no-exec"));
  await assertKind("Unknown", () => f.handler.pause(b.id));
  await f.handler.start(b.id, "");
  await assertKind("Unknown", () => f.handler.start(b.id, ""));
  await assertKind("Unknown", () => f.handler.delete(b.id, ""));
  await f.handler.exec({
    id: b.id,
    execId: "late",
    stdio: { stdin: "", stdout: "", stderr: "", terminal: false },
    process: { args: ["true"], cwd: "/", env: ["PATH=/bin"], user: { uid: 0, gid: 0 } },
  });
  await assertKind("FailedPrecondition", () => f.handler.kill(b.id, "late", 9, false));
  await f.handler.kill(b.id, "", 9, false);
  await f.handler.wait(b.id, "");
  await assertKind("Unknown", () => f.handler.start(b.id, "late"));
  await assertKind("Unknown", () =>
    f.handler.exec({
      id: b.id,
      execId: "after",
      stdio: { stdin: "", stdout: "", stderr: "", terminal: false },
      process: { args: ["true"], cwd: "/", env: ["PATH=/bin"], user: { uid: 0, gid: 0 } },
    }));
  await f.handler.delete(b.id, "late");
  await f.handler.delete(b.id, "");
  await assertKind("NotFound", () => f.handler.delete(b.id, ""));
});

lcTest("a created container can be deleted: its init is killed and reaped once", async (f) => {
  const b = await f.bundle({ args: ["sleep", "100"] });
  const pid = await f.create(b);
  assert(alive(pid));
  const exit = await f.handler.delete(b.id, "");
  assertEquals(exit.pid, pid);
  assert(!alive(pid), "created init killed and reaped");
  assertEquals(f.recorder.exitsOf(b.id).length, 1);
  assert(!(await f.runtimeKnows(b.id)));
  assert(!(await mounted(`${b.bundle}/rootfs`)));
});

lcTest("a program that cannot run fails with the runtime's message; nothing is left", async (f) => {
  const b = await f.bundle({ args: ["/no/such/program"] });
  // runc finds out at start, crun already at create.
  let failure: unknown = null;
  let created = false;
  try {
    await f.create(b);
    created = true;
    await f.handler.start(b.id, "");
  } catch (err) {
    failure = err;
  }
  assert(failure instanceof JoeyError, `expected a JoeyError, got ${failure}`);
  assertIncludes(failure.message, "OCI runtime");
  if (created) {
    await f.handler.kill(b.id, "", 9, true).catch(() => {});
    await f.handler.wait(b.id, "");
    await f.handler.delete(b.id, "");
  }
  assert(!(await mounted(`${b.bundle}/rootfs`)), "rootfs unmounted");
  assert(!(await f.runtimeKnows(b.id)), "no runtime state");
  assertEquals(f.handler.containerCount(), 0);
});

lcTest("lost-shim cleanup removes the runtime state and the rootfs mount", async (f) => {
  const b = await f.bundle({ args: ["sleep", "100"] });
  const pid = await f.create(b);
  await f.handler.start(b.id, "");
  const { linuxContainerFactory } = await import(
    "../../../src/runtime/linux_container/mod.ts"
  );
  await linuxContainerFactory.cleanup(b.id, b.bundle, { namespace: "joeytest", config: f.config });
  assert(!(await f.runtimeKnows(b.id)));
  assert(!(await mounted(`${b.bundle}/rootfs`)));
  const exit = await f.handler.wait(b.id, "");
  assertEquals(exit.exitStatus, 137);
  assert(!alive(pid));
  // For an id the runtime never knew, with its bundle gone, cleanup succeeds and makes nothing.
  const gone = `${f.dir}/no-such-bundle`;
  await linuxContainerFactory.cleanup("never-was", gone, {
    namespace: "joeytest",
    config: f.config,
  });
  assert(!(await exists(gone)), "cleanup created no bundle");
});

lcTest("20 containers run concurrently with their own output and exit codes", async (f) => {
  const results = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const b = await f.bundle({ args: ["sh", "-c", `echo c${i}; echo e${i} >&2; exit ${i}`] });
      const out = new FifoReader(b.stdio.stdout);
      const err = new FifoReader(b.stdio.stderr);
      await f.create(b);
      await f.handler.start(b.id, "");
      const exit = await f.handler.wait(b.id, "");
      await Promise.all([out.done, err.done]);
      await f.handler.delete(b.id, "");
      return [exit.exitStatus, out.text, err.text];
    }),
  );
  results.forEach((r, i) => assertEquals(r, [i, `c${i}\n`, `e${i}\n`]));
  assertEquals(f.recorder.exits.length, 20);
  assertEquals(f.handler.containerCount(), 0);
}, 120_000);
