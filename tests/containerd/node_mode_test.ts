/**
 * `[runtime] shim_mode = "node"`: one shim daemon per containerd namespace
 * serves the containers of every pod, and recovers from its own crash.
 */
import { NODE_GROUP, socketAddress } from "../../src/shim/address.ts";
import { assert, assertEquals } from "../lib/assert.ts";
import { waitFor, withTempDir } from "../lib/tmp.ts";
import { Containerd, IMAGE_NAME, JOEY_RUNTIME, processesMatching } from "./harness.ts";
import { runRm } from "./scenarios.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** The node daemon(s) of this containerd: shim processes that stay (started with -mode node). */
const nodeDaemons = (c: Containerd) => processesMatching("main.ts", c.address, "-mode node");

Deno.test({
  name:
    "node mode: 10 containers of different pods share one shim daemon, each with its own output and exit code",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/joey.toml`, `[runtime]\nshim_mode = "node"\n`);
      const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
      const ids = Array.from(
        { length: 10 },
        (_, i) => `node-${i}-${Math.random().toString(36).slice(2, 6)}`,
      );
      try {
        const runs = await Promise.all(ids.map((id, i) =>
          c.ctr([
            "run",
            "-d",
            "--runtime",
            JOEY_RUNTIME,
            "--annotation",
            `io.kubernetes.cri.sandbox-id=pod-${i}`,
            IMAGE_NAME,
            id,
            "sleep",
            "60",
          ], { timeoutMs: 60_000 })
        ));
        runs.forEach((r, i) => assertEquals(r.code, 0, `${ids[i]}: ${r.stderr}`));
        const expected = await socketAddress(c.address, c.namespace, NODE_GROUP);
        for (const id of ids) {
          const address = await Deno.readTextFile(
            `${c.dir}/state/io.containerd.runtime.v2.task/${c.namespace}/${id}/address`,
          );
          assertEquals(address.trim(), expected, `${id} is served by the node shim`);
        }
        assertEquals((await nodeDaemons(c)).length, 1, "exactly one shim daemon");

        const execs = await Promise.all(
          ids.map((id, i) =>
            c.ctr([
              "tasks",
              "exec",
              "--exec-id",
              "x",
              id,
              "sh",
              "-c",
              `echo from-${i}; exit ${i + 1}`,
            ])
          ),
        );
        execs.forEach((r, i) => {
          assertEquals(r.stdout, `from-${i}\n`);
          assertEquals(r.code, i + 1);
        });

        // A crash of the node shim: containerd sees every task exit, delete
        // cleans every container, and the next start brings a fresh daemon.
        const [daemon] = await nodeDaemons(c);
        Deno.kill(daemon!, "SIGKILL");
        for (const id of ids) {
          await waitFor(
            async () => (await c.taskStatus(id)) !== "RUNNING",
            `${id} to stop after the crash`,
            20_000,
          );
          await c.ctr(["tasks", "delete", id]);
          assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
        }
        await waitFor(
          async () => (await processesMatching("sleep 60")).length === 0,
          "the containers to be killed",
          20_000,
        )
          .catch(() => {});
        assertEquals(
          await processesMatching("sleep 60"),
          [],
          "delete killed every container of the crashed shim",
        );
        await waitFor(async () => (await c.leftovers(ids)).length === 0, "cleanup", 20_000).catch(
          () => {},
        );
        assertEquals(await c.leftovers(ids), []);

        const again = await runRm(c, {
          runtime: JOEY_RUNTIME,
          id: `node-again-${Date.now()}`,
          argv: ["sh", "-c", "echo back; exit 4"],
        });
        assertEquals(again.stdout, "back\n", again.stderr);
        assertEquals(again.code, 4);
        const fresh = await nodeDaemons(c);
        assert(
          fresh.length <= 1 && !fresh.includes(daemon!),
          "a fresh daemon (or none, once idle)",
        );
        // Idle node daemons exit on their own.
        await waitFor(
          async () => (await nodeDaemons(c)).length === 0,
          "the idle node shim to exit",
          20_000,
        );
      } finally {
        await c.stop();
      }
    });
  },
});
