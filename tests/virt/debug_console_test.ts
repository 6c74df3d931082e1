/**
 * `[hypervisor.qemu] enable_debug = true`: the guest's console reaches the
 * shim log (containerd's log), tagged with the sandbox id, and the kernel
 * runs without `quiet`.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { IMAGE_NAME, JOEY_RUNTIME } from "../containerd/harness.ts";
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
      const r = await c.ctr(["run", "--rm", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "true"], {
        timeoutMs: 120_000,
      });
      assertEquals(r.code, 0, r.stderr);
      const lines = (await c.log()).split("\n")
        .filter((l) => l.includes('msg="guest console"') && l.includes(`sandbox=${id}`));
      assert(lines.some((l) => l.includes("Linux version")), "kernel banner (no quiet)");
      assert(lines.some((l) => l.includes("joey-agent: ready")), `agent line: ${lines.length}`);
    } finally {
      await c.stop();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
