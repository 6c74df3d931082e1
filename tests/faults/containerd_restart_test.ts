/**
 * Fault: containerd crashes (SIGKILL) and restarts while tasks run. The shim
 * must be found again through the bundle's `address` file and keep its
 * tasks: same pid, still RUNNING, exec and kill and delete work through the
 * new containerd, and nothing is left afterwards. Run for joey
 * (linux-container) and the runc shim side by side, so the expected outcome
 * is the reference shim's. kill -9 of the shim itself is covered by
 * tests/containerd/lifecycle_test.ts ("cleanup after a killed shim").
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { IMAGE_NAME, JOEY_RUNTIME, RUNC_RUNTIME } from "../containerd/harness.ts";
import { RestartableContainerd } from "./restartable.ts";
import { describeLeaks, leaks, shimDaemons } from "./leaks.ts";
import { waitFor } from "../lib/tmp.ts";

const RUNTIMES = [["joey", JOEY_RUNTIME], ["runc", RUNC_RUNTIME]] as const;
const opts = { sanitizeOps: false, sanitizeResources: false };

/** `ctr tasks ls` rows as id → [pid, status]. */
async function tasks(c: RestartableContainerd): Promise<Map<string, [string, string]>> {
  const out = await c.ctd.ctr(["tasks", "ls"], { timeoutMs: 15_000 });
  const rows = new Map<string, [string, string]>();
  for (const line of out.stdout.split("\n").slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && pid && status) rows.set(id, [pid, status]);
  }
  return rows;
}

for (const [name, runtime] of RUNTIMES) {
  Deno.test({
    name: `${name}: containerd killed and restarted under a running task finds the shim again`,
    ...opts,
    fn: async () => {
      const c = await RestartableContainerd.start();
      const id = `${name}-restart-${Math.random().toString(36).slice(2, 7)}`;
      const marker = `${300 + Math.floor(Math.random() * 1000)}.${Date.now() % 100000}`;
      try {
        const run = await c.ctd.ctr(
          ["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", marker],
          { timeoutMs: 60_000 },
        );
        assertEquals(run.code, 0, run.stderr);
        const before = (await tasks(c)).get(id);
        assert(before && before[1] === "RUNNING", `task before restart: ${before}`);
        const shimsBefore = await shimDaemons(c.ctd);
        assertEquals(shimsBefore.length, 1, `shims: ${shimsBefore}`);

        await c.restart("SIGKILL");

        // The same shim process serves on; containerd reconnected through `address`.
        assertEquals(await shimDaemons(c.ctd), shimsBefore, "the shim survived the restart");
        const after = (await tasks(c)).get(id);
        assertEquals(after, before, "same pid and status after the restart");
        const exec = await c.ctd.ctr(
          ["tasks", "exec", "--exec-id", "after-restart", id, "sh", "-c", "echo alive"],
          { timeoutMs: 30_000 },
        );
        assertEquals(exec.code, 0, exec.stderr);
        assertEquals(exec.stdout.trim(), "alive");
        // A second restart, SIGTERM this time (an orderly containerd upgrade).
        await c.restart("SIGTERM");
        assertEquals((await tasks(c)).get(id), before);

        const kill = await c.ctd.ctr(["tasks", "kill", "-s", "SIGKILL", id]);
        assertEquals(kill.code, 0, kill.stderr);
        await waitFor(async () => (await tasks(c)).get(id)?.[1] === "STOPPED", "STOPPED", 15_000);
        assertEquals((await c.ctd.ctr(["tasks", "delete", id])).code, 0);
        assertEquals((await c.ctd.ctr(["containers", "delete", id])).code, 0);
        let left = "";
        await waitFor(
          async () => {
            left = describeLeaks(await leaks(c.ctd, [id], marker));
            return left === "";
          },
          "no leftovers",
          15_000,
        ).catch(() => {});
        assertEquals(left, "", "nothing left after delete");
      } finally {
        await c.stop();
      }
    },
  });
}
