/**
 * virt-container under faults and load, through a real containerd 1.6 and
 * QEMU (TCG here), each bounded in time and leak-counted afterwards
 * (processes, QEMU/virtiofsd/vhost-vsock, mounts, state folders, sandbox
 * cgroups, shim daemons and sockets):
 * - 20 create/start/wait/delete cycles (`ctr run --rm`, exit codes checked);
 * - virtiofsd killed under a running container: the task is reported
 *   exited with a status and delete cleans everything up;
 * - a privileged container sharing the agent's PID namespace signals PID 1
 *   (TERM, INT, KILL, SEGV): the agent ignores them and keeps serving;
 * - the guest crashing under a running container (panic_on_oom; an agent exit is
 *   a PID 1 exit, which panics the guest the same way): the task is reported
 *   exited with a status and delete cleans everything up.
 * Skipped, with the reason, where the guest kernel/initrd are not built.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { type Containerd, IMAGE_NAME, JOEY_RUNTIME, mountsUnder } from "../containerd/harness.ts";
import {
  programsMentioning,
  sandboxProcesses,
  startVirtContainerd,
  virtSkipReason,
} from "../virt/virt_harness.ts";
import { describeLeaks, leaks } from "./leaks.ts";

const skip = await virtSkipReason();
if (skip) console.log(`SKIP virt-container faults: ${skip}`);
const opts = { sanitizeOps: false, sanitizeResources: false, ignore: skip !== null };

/** Leaks of a virt-container containerd, on top of the common kinds. */
async function virtLeaks(c: Containerd, stateDir: string, ids: string[], marker: string) {
  const report = describeLeaks(await leaks(c, ids, marker));
  const extra: string[] = [];
  extra.push(...(await sandboxProcesses(stateDir)).map((p) => `sandbox process ${p}`));
  extra.push(...(await mountsUnder(stateDir)).map((m) => `mount ${m}`));
  const dirs = await Array.fromAsync(Deno.readDir(stateDir)).catch(() => []);
  extra.push(...dirs.map((d) => `state ${stateDir}/${d.name}`));
  for (const id of ids) {
    for await (const ctl of Deno.readDir("/sys/fs/cgroup")) {
      const cg = `/sys/fs/cgroup/${ctl.name}/joey/${id}`;
      if (await Deno.lstat(cg).then(() => true, () => false)) extra.push(`cgroup ${cg}`);
    }
  }
  return [report, ...extra].filter(Boolean).join("\n");
}

async function withVirt(fn: (c: Containerd, stateDir: string) => Promise<void>): Promise<void> {
  const stateDir = `/run/joey-faults-${Math.random().toString(36).slice(2, 8)}`;
  const c = await startVirtContainerd(stateDir);
  try {
    await fn(c, stateDir);
  } finally {
    await c.stop();
    for (const pid of await sandboxProcesses(stateDir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    for (const m of await mountsUnder(stateDir)) {
      await new Deno.Command("umount", { args: ["-l", m], stderr: "null" }).output();
    }
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

/** Waits (bounded) for the leak report of ids to be empty; returns the last report. */
async function settledLeaks(c: Containerd, stateDir: string, ids: string[], marker: string) {
  let left = "";
  await waitFor(
    async () => {
      left = await virtLeaks(c, stateDir, ids, marker);
      return left === "";
    },
    "a clean slate",
    30_000,
    200,
  ).catch(() => {});
  return left;
}

/** Kills the task, deletes task and container, and checks for a clean slate. */
async function removeAndCheck(c: Containerd, stateDir: string, id: string, marker: string) {
  await c.ctr(["tasks", "kill", "-a", "-s", "SIGKILL", id]);
  await c.ctr(["tasks", "delete", "-f", id], { timeoutMs: 30_000 });
  await c.ctr(["containers", "delete", id]);
  assertEquals(await settledLeaks(c, stateDir, [id], marker), "", "nothing left after delete");
}

/** `ctr run -d` of a long sleep carrying marker, with extra ctr flags. */
async function runSleeper(c: Containerd, id: string, marker: string, flags: string[] = []) {
  const r = await c.ctr(
    [
      "run",
      "-d",
      "--runtime",
      JOEY_RUNTIME,
      ...flags,
      IMAGE_NAME,
      id,
      "sh",
      "-c",
      `sleep 600; : ${marker}`,
    ],
    { timeoutMs: 120_000 },
  );
  assertEquals(r.code, 0, r.stderr);
}

/** Waits (bounded) for the task to be STOPPED; returns its last `ctr tasks ls` row. */
async function stoppedRow(c: Containerd, id: string): Promise<string[]> {
  let row: string[] = [];
  await waitFor(
    async () => {
      row = await c.taskRow(id);
      return row[2] === "STOPPED";
    },
    "the task to be reported STOPPED",
    30_000,
    200,
  ).catch(() => {});
  return row;
}

Deno.test({
  name: "virt-container: 20 ctr run --rm cycles leave no VM, virtiofsd, mount, state or shim",
  ...opts,
  fn: async () => {
    await withVirt(async (c, stateDir) => {
      const marker = `joeyvload${Date.now()}`;
      const ids: string[] = [];
      const start = Date.now();
      for (let i = 0; i < 20; i++) {
        const id = `vload-${i}-${Math.random().toString(36).slice(2, 6)}`;
        ids.push(id);
        const r = await c.ctr(
          ["run", "--rm", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sh", "-c", `exit ${i % 5}`],
          { timeoutMs: 120_000 },
        );
        assertEquals(r.code, i % 5, `cycle ${i}: ${r.stderr}`);
      }
      console.log(`20 virt-container cycles in ${((Date.now() - start) / 1000).toFixed(1)} s`);
      assertEquals(await settledLeaks(c, stateDir, ids, marker), "", "leaks after 20 cycles");
    });
  },
});

Deno.test({
  name: "virt-container: virtiofsd killed under a running container ends the task with a status",
  ...opts,
  fn: async () => {
    await withVirt(async (c, stateDir) => {
      const marker = `joeyvfs${Date.now()}`;
      const id = `vfs-${Math.random().toString(36).slice(2, 7)}`;
      await runSleeper(c, id, marker);
      assertEquals((await c.taskRow(id))[2], "RUNNING");
      const fsd = await programsMentioning("virtiofsd", stateDir);
      assert(fsd.length > 0, "a virtiofsd serves the sandbox");
      for (const pid of fsd) Deno.kill(pid, "SIGKILL");
      // Documented outcome: the sandbox cannot serve its rootfs any more, so
      // the shim ends it and reports the task exited with a status.
      const row = await stoppedRow(c, id);
      console.log(`after virtiofsd died: ${row.join(" ")}`);
      // Cleanup is checked whatever the status was, then the status.
      await removeAndCheck(c, stateDir, id, marker);
      assertEquals(row[2], "STOPPED", "task reported exited after virtiofsd died");
    });
  },
});

Deno.test({
  name: "virt-container: a container sharing the agent's PID namespace cannot signal it away",
  ...opts,
  fn: async () => {
    await withVirt(async (c, stateDir) => {
      const marker = `joeyvagent${Date.now()}`;
      const id = `vagent-${Math.random().toString(36).slice(2, 7)}`;
      // The guest's /proc/1/ns/pid: the container shares the agent's PID namespace.
      await runSleeper(c, id, marker, ["--privileged", "--with-ns", "pid:/proc/1/ns/pid"]);
      const exec = (name: string, cmd: string) =>
        c.ctr(["tasks", "exec", "--exec-id", name, id, "sh", "-c", cmd], { timeoutMs: 30_000 });
      assertEquals((await exec("who", "cat /proc/1/comm")).stdout.trim(), "init");
      // The kernel delivers to PID 1 only signals it handles, and the agent
      // as PID 1 handles TERM/INT without stopping.
      for (const sig of ["TERM", "INT", "KILL", "SEGV"]) {
        await exec(`kill-${sig.toLowerCase()}`, `kill -${sig} 1`);
      }
      const after = await exec("after", "echo still-served");
      assertEquals(after.stdout.trim(), "still-served", after.stderr);
      assertEquals((await c.taskRow(id))[2], "RUNNING");
      await removeAndCheck(c, stateDir, id, marker);
    });
  },
});

Deno.test({
  name: "virt-container: the guest crashing (agent and kernel gone) ends the task with a status",
  ...opts,
  fn: async () => {
    await withVirt(async (c, stateDir) => {
      const marker = `joeyvcrash${Date.now()}`;
      const id = `vcrash-${Math.random().toString(36).slice(2, 7)}`;
      await runSleeper(c, id, marker, ["--privileged"]);
      // An agent exit is a PID 1 exit, which panics the guest kernel; a
      // kernel panic (here: panic_on_oom) is the same end seen from the host: panic=-1
      // and QEMU's -no-reboot end the VM under the running container.
      const crash = await c.ctr(
        [
          "tasks",
          "exec",
          "--exec-id",
          "crash",
          id,
          "sh",
          "-c",
          // The minimal guest kernel has no sysrq: make the OOM killer panic instead.
          "echo 1 > /proc/sys/vm/panic_on_oom && tail /dev/zero",
        ],
        { timeoutMs: 30_000 },
      );
      console.log(`panic exec: exit ${crash.code} ${crash.stderr.trim()}`);
      const row = await stoppedRow(c, id);
      console.log(`after the guest crashed: ${row.join(" ")}`);
      const wait = await c.ctr(["tasks", "wait", id], { timeoutMs: 10_000 });
      await removeAndCheck(c, stateDir, id, marker);
      assertEquals(row[2], "STOPPED", "task reported exited after the guest crashed");
      console.log(`exit status reported by ctr tasks wait: ${wait.code}`);
      assert(wait.code !== 0, "a non-zero exit status for a task whose VM died");
    });
  },
});
