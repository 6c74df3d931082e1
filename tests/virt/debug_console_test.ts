/**
 * `[hypervisor.qemu] enable_debug = true`: the guest's console reaches the
 * shim log (containerd's log), tagged with the sandbox id, and the kernel
 * runs without `quiet`; the agent's lines about a container (create, start,
 * exec, exit, remove) carry its id, and an exec's id, as log fields.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { IMAGE_NAME, JOEY_RUNTIME } from "../containerd/harness.ts";
import { waitFor } from "../lib/tmp.ts";
import { startVirtContainerd, virtSkipReason } from "./virt_harness.ts";

const skip = await virtSkipReason();
if (skip) console.log(`SKIP virt debug console: ${skip}`);

Deno.test({
  name: "virt: enable_debug copies the guest console into the shim log",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "joey-dbgcon-" });
    const stateDir = `/run/joey-test-${Math.random().toString(36).slice(2, 8)}`;
    await Deno.writeTextFile(`${work}/joey.toml`, "[hypervisor.qemu]\nenable_debug = true\n");
    const c = await startVirtContainerd(stateDir, "qemu", `${work}/joey.toml`);
    try {
      const id = `virt-dbg-${Math.random().toString(36).slice(2, 7)}`;
      const r = await c.ctr(
        ["run", "-d", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sleep", "60"],
        {
          timeoutMs: 120_000,
        },
      );
      assertEquals(r.code, 0, r.stderr);
      await waitFor(async () => (await c.taskStatus(id)) === "RUNNING", `${id} RUNNING`);
      const e = await c.ctr(["tasks", "exec", "--exec-id", "dbg-e1", id, "sh", "-c", "exit 3"]);
      assertEquals(e.code, 3, e.stderr);
      assertEquals((await c.ctr(["tasks", "kill", "-s", "KILL", id])).code, 0);
      await waitFor(async () => (await c.taskStatus(id)) === "STOPPED", `${id} STOPPED`);
      assertEquals((await c.ctr(["tasks", "delete", id])).code, 0);
      assertEquals((await c.ctr(["containers", "delete", id])).code, 0);
      const lines = (await c.log()).split("\n")
        .filter((l) => l.includes('msg="guest console"') && l.includes(`sandbox=${id}`));
      assert(lines.some((l) => l.includes("Linux version")), "kernel banner (no quiet)");
      assert(lines.some((l) => l.includes("joey-agent: ready")), `agent line: ${lines.length}`);
      // The ids are log fields of their own (before line=), not only words in the line.
      const tagged = (what: string, exec?: string) => {
        const ids = `container=${id}${exec ? ` exec=${exec}` : ""}`;
        return lines.some((l) => l.includes(` ${ids} line="joey-agent: ${ids} ${what}`));
      };
      const agentLines = lines.filter((l) => l.includes("joey-agent: container=")).join("\n");
      for (
        const [what, exec] of [
          ["created, init pid", undefined],
          ["started", undefined],
          ["exec started, pid", "dbg-e1"],
          ["exited with status 3", "dbg-e1"],
          ["exited with status 137", undefined],
          ["removed", undefined],
        ] as const
      ) {
        assert(tagged(what, exec), `"${what}" tagged ${exec ?? "(init)"}:\n${agentLines}`);
      }
    } finally {
      await c.stop();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
