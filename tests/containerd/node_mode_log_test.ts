/**
 * Node mode (one shim daemon per namespace): the daemon's log keeps
 * reaching containerd after the container whose `log` FIFO it wrote to is
 * deleted. containerd reads each container's FIFO only until that
 * container's shim connection closes, so the daemon must move to the FIFO
 * of a container it still serves.
 */
import { assertEquals } from "../lib/assert.ts";
import { waitFor, withTempDir } from "../lib/tmp.ts";
import { Containerd, IMAGE_NAME, JOEY_RUNTIME, processesMatching } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** containerd log lines that are the shim's debug line for RPC `method` on container `id`. */
async function rpcLines(c: Containerd, method: string, id: string): Promise<string[]> {
  return (await c.log()).split("\n").filter((l) =>
    l.includes('msg="rpc"') && l.includes(`method=${method} `) && l.includes(`id=${id} `)
  );
}

Deno.test({
  name: "node mode: shim log lines still reach containerd after the first container is deleted",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(
        `${dir}/joey.toml`,
        `[runtime]\nshim_mode = "node"\ndebug = true\n`,
      );
      const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
      const suffix = Math.random().toString(36).slice(2, 6);
      const [first, second] = [`nodelog-a-${suffix}`, `nodelog-b-${suffix}`];
      try {
        for (const [i, id] of [first, second].entries()) {
          const r = await c.ctr([
            "run",
            "-d",
            "--runtime",
            JOEY_RUNTIME,
            "--annotation",
            `io.kubernetes.cri.sandbox-id=nodelog-pod-${i}-${suffix}`,
            IMAGE_NAME,
            id,
            "sleep",
            "45",
          ]);
          assertEquals(r.code, 0, r.stderr);
        }
        const daemons = await processesMatching("main.ts", c.address, "-mode node");
        assertEquals(daemons.length, 1, "one node daemon serves both");

        // While the first container lives, its FIFO carries the log.
        assertEquals((await c.ctr(["tasks", "ps", first])).code, 0);
        await waitFor(async () => (await rpcLines(c, "Pids", first)).length > 0, "Pids log line");

        // Delete the container that started the daemon (its FIFO is the one in use).
        await c.ctr(["tasks", "kill", "-s", "KILL", first]);
        await waitFor(
          async () => (await c.ctr(["tasks", "delete", first])).code === 0,
          `${first} deleted`,
          15_000,
        );
        assertEquals((await c.ctr(["containers", "delete", first])).code, 0);
        assertEquals(
          await processesMatching("main.ts", c.address, "-mode node"),
          daemons,
          "the same daemon still serves the second container",
        );

        // A line the daemon writes now must reach containerd through the second container's FIFO.
        assertEquals((await c.ctr(["tasks", "ps", second])).code, 0);
        await waitFor(
          async () => (await rpcLines(c, "Pids", second)).length > 0,
          "the daemon's log line after the first container's deletion in containerd's log",
          10_000,
        );
        // And later lines too (the move is not a one-off).
        assertEquals((await c.ctr(["tasks", "pause", second])).code, 0);
        assertEquals((await c.ctr(["tasks", "resume", second])).code, 0);
        await waitFor(
          async () => (await rpcLines(c, "Resume", second)).length > 0,
          "a later log line",
          10_000,
        );

        await c.ctr(["tasks", "kill", "-s", "KILL", second]);
        await waitFor(
          async () => (await c.ctr(["tasks", "delete", second])).code === 0,
          `${second} deleted`,
          15_000,
        );
        await c.ctr(["containers", "delete", second]);
        await waitFor(
          async () => (await c.leftovers([first, second])).length === 0,
          "cleanup",
          20_000,
        ).catch(() => {});
        assertEquals(await c.leftovers([first, second]), []);
      } finally {
        await c.stop();
      }
    });
  },
});
