/**
 * Node shim mode (issue 9), what tests/containerd/node_mode_test.ts does not
 * cover: the containers' own init processes (not execs) of 10 pods, run in
 * the foreground with `ctr run --rm` at the same time, each get their own
 * stdout and exit code from the one node daemon, and nothing is left after.
 */
import { NODE_GROUP, socketAddress } from "../../src/shim/address.ts";
import { assertEquals } from "../lib/assert.ts";
import { waitFor, withTempDir } from "../lib/tmp.ts";
import { Containerd, JOEY_RUNTIME, processesMatching } from "../containerd/harness.ts";
import { runRm } from "../containerd/scenarios.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const N = 10;

Deno.test({
  name:
    "node mode: 10 pods' init processes run at once by one daemon, each with its output and exit code",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/joey.toml`, `[runtime]\nshim_mode = "node"\n`);
      const c = await Containerd.start({ env: { JOEY_CONFIG: `${dir}/joey.toml` } });
      const tag = Math.random().toString(36).slice(2, 6);
      const ids = Array.from({ length: N }, (_, i) => `nrun-${i}-${tag}`);
      const daemons = () => processesMatching("main.ts", c.address, "-mode node");
      try {
        const runs = Promise.all(ids.map((id, i) =>
          runRm(c, {
            runtime: JOEY_RUNTIME,
            id,
            flags: ["--annotation", `io.kubernetes.cri.sandbox-id=pod-${i}-${tag}`],
            // Long enough for all ten to be live together on a loaded host.
            argv: ["sh", "-c", `sleep 8; echo out-${i}; exit ${i + 1}`],
            timeoutMs: 90_000,
          })
        ));
        // While all ten are running: one daemon, and every task's address is its socket.
        const expected = await socketAddress(c.address, c.namespace, NODE_GROUP);
        const state = `${c.dir}/state/io.containerd.runtime.v2.task/${c.namespace}`;
        await waitFor(
          async () => {
            for (const id of ids) await Deno.stat(`${state}/${id}/address`);
            return true;
          },
          "all ten tasks to exist",
          60_000,
        );
        for (const id of ids) {
          assertEquals((await Deno.readTextFile(`${state}/${id}/address`)).trim(), expected, id);
        }
        assertEquals((await daemons()).length, 1, "one shim daemon serves all ten pods");

        const results = await runs;
        results.forEach((r, i) => {
          assertEquals(r.stdout, `out-${i}\n`, `${ids[i]} stdout (${r.stderr})`);
          assertEquals(r.code, i + 1, `${ids[i]} exit code`);
        });
        await waitFor(async () => (await c.leftovers(ids)).length === 0, "cleanup", 30_000)
          .catch(() => {});
        assertEquals(await c.leftovers(ids), []);
      } finally {
        await c.stop();
      }
    });
  },
});
