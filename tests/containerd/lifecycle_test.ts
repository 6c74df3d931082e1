/**
 * Shim process lifecycle through a real containerd, for joey and the runc
 * shim side by side: socket address derivation, pod grouping, cleanup after
 * a killed shim (`containerd-shim-joey-v2 delete`), and a graceful SIGTERM.
 */
import { socketAddress } from "../../src/shim/address.ts";
import { assert, assertEquals } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import {
  type Containerd,
  IMAGE_NAME,
  JOEY_RUNTIME,
  processesMatching,
  RUNC_RUNTIME,
} from "./harness.ts";
import { SharedContainerd } from "./shared.ts";

const RUNTIMES = [["joey", JOEY_RUNTIME], ["runc", RUNC_RUNTIME]] as const;
const opts = { sanitizeOps: false, sanitizeResources: false };

const shared = new SharedContainerd();
const containerd = () => shared.get();
const newId = (r: string, what: string) => shared.newId(r, what);
const addressOf = async (c: Containerd, id: string) =>
  (await Deno.readTextFile(
    `${c.dir}/state/io.containerd.runtime.v2.task/${c.namespace}/${id}/address`,
  )).trim();

async function removeContainer(c: Containerd, id: string): Promise<void> {
  await c.ctr(["tasks", "kill", "-s", "KILL", id]);
  await waitFor(
    async () =>
      (await c.ctr(["tasks", "delete", id])).code === 0 || (await c.taskStatus(id)) === "",
    `${id} task deleted`,
    15_000,
  );
  assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
}

/** The long-running shim daemon serving a container id (not `start`). */
async function shimDaemonPid(c: Containerd, id: string): Promise<number> {
  let pid = 0;
  await waitFor(async () => {
    const pids = await processesMatching("containerd-shim", c.address, `-id ${id}`);
    const deno = await processesMatching("main.ts", c.address, `-id ${id}`);
    pid = [...pids, ...deno][0] ?? 0;
    return pid !== 0;
  }, `shim daemon of ${id}`);
  return pid;
}

for (const [name, runtime] of RUNTIMES) {
  Deno.test({
    name: `${name}: the shim address is containerd's derivation of address, namespace and group`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "addr");
      assertEquals(
        (await c.ctr(["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", "60"])).code,
        0,
      );
      try {
        assertEquals(await addressOf(c, id), await socketAddress(c.address, c.namespace, id));
      } finally {
        await removeContainer(c, id);
      }
    },
  });

  Deno.test({
    name:
      `${name}: containers with one io.kubernetes.cri.sandbox-id share one shim, which exits after the last`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const pod = `pod-${name}-${Math.random().toString(36).slice(2, 7)}`;
      const a = newId(name, "poda");
      const b = newId(name, "podb");
      shared.usedIds.push(pod);
      for (const id of [a, b]) {
        const r = await c.ctr([
          "run",
          "-d",
          "--runtime",
          runtime,
          "--annotation",
          `io.kubernetes.cri.sandbox-id=${pod}`,
          IMAGE_NAME,
          id,
          "sleep",
          "60",
        ]);
        assertEquals(r.code, 0, r.stderr);
      }
      const address = await addressOf(c, a);
      assertEquals(await addressOf(c, b), address);
      assertEquals(address, await socketAddress(c.address, c.namespace, pod));
      const socket = address.replace("unix://", "");
      await removeContainer(c, a);
      assertEquals(
        (await Deno.stat(socket)).isSocket,
        true,
        "the shim stays while a container remains",
      );
      assertEquals(await c.taskStatus(b), "RUNNING");
      await removeContainer(c, b);
      await waitFor(
        async () => {
          try {
            await Deno.stat(socket);
            return false;
          } catch {
            return true;
          }
        },
        "the pod shim to exit and remove its socket",
        10_000,
      );
    },
  });

  Deno.test({
    name:
      `${name}: kill -9 of the shim daemon: containerd's delete cleans up and reports the task exited`,
    ...opts,
    fn: async () => {
      const c = await containerd();
      const id = newId(name, "crash");
      assertEquals(
        (await c.ctr(["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", "120"])).code,
        0,
      );
      await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`);
      const pid = await shimDaemonPid(c, id);
      Deno.kill(pid, "SIGKILL");
      // containerd notices the lost shim, runs `<shim> delete` and marks the task stopped.
      await waitFor(
        async () => (await c.taskStatus(id)) !== "RUNNING",
        `${id} to stop after the shim died`,
        20_000,
      );
      await c.ctr(["tasks", "delete", id]);
      assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
      // containerd's cleanup of a dead shim runs in the background: bounded waits.
      await waitFor(
        async () => (await processesMatching("sleep 120")).length === 0,
        "the container's process to be killed",
        20_000,
      )
        .catch(() => {});
      assertEquals(
        await processesMatching("sleep 120"),
        [],
        "the container's process was killed by delete",
      );
      // The Go runc shim never removes the socket of a killed shim (the next
      // start for that address replaces it); joey's delete removes it.
      const expected = async () =>
        (await c.leftovers([id])).filter((l) => name === "joey" || !l.startsWith("shim socket"));
      await waitFor(
        async () => (await expected()).length === 0,
        "cleanup after the dead shim",
        20_000,
      ).catch(() => {});
      assertEquals(await expected(), []);
      if (name === "runc") await Deno.remove(await c.shimSocket(id)).catch(() => {});
    },
  });
}

Deno.test({
  name:
    "joey: SIGTERM stops the shim daemon gracefully: containers stopped, socket removed, nothing left",
  ...opts,
  fn: async () => {
    const c = await containerd();
    const id = newId("joey", "term");
    assertEquals(
      (await c.ctr(["run", "-d", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sleep", "120"])).code,
      0,
    );
    await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`);
    const socket = (await addressOf(c, id)).replace("unix://", "");
    const pid = await shimDaemonPid(c, id);
    Deno.kill(pid, "SIGTERM");
    await waitFor(
      async () => (await processesMatching(`-id ${id}`, c.address)).length === 0,
      "the daemon to exit",
      15_000,
    );
    let socketGone = false;
    try {
      await Deno.stat(socket);
    } catch {
      socketGone = true;
    }
    assert(socketGone, "the daemon removed its socket");
    await waitFor(async () => (await c.taskStatus(id)) !== "RUNNING", `${id} stopped`, 20_000);
    await c.ctr(["tasks", "delete", id]);
    assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
    assertEquals(await c.leftovers([id]), []);
  },
});

shared.afterwardsTest("afterwards (lifecycle): nothing left behind");
