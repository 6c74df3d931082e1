/**
 * The built-in VMM behind virt-container, end to end through containerd:
 * the same `ctr run` scenario as with QEMU (guest kernel release, stdout
 * and stderr apart, exit 7). It needs hardware virtualization (VMX/SVM): on
 * a PVM host a real Linux guest dies in emulation after its banner, so the
 * test is skipped there with the reason printed.
 */
import { assertEquals, assertIncludes } from "../lib/assert.ts";
import { JOEY_RUNTIME } from "../containerd/harness.ts";
import { runRm } from "../containerd/scenarios.ts";
import { hardwareVirtualization } from "../../src/hypervisor/select.ts";
import { guestKernel } from "./guest_fixture.ts";
import { REPO, startVirtContainerd, virtSkipReason } from "./virt_harness.ts";

const flag = await hardwareVirtualization();
const skip = flag ? await virtSkipReason() : "no VMX/SVM on this CPU (e.g. a PVM host): the " +
  "built-in VMM cannot boot a real Linux guest here";
if (skip) console.log(`SKIP virt-container with the built-in VMM: ${skip}`);

Deno.test({
  name: "virt (builtin VMM): ctr run --rm shows the guest kernel, stdout/stderr apart, exits 7",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const kernel = await guestKernel(REPO);
    if (typeof kernel === "string") throw new Error(kernel);
    const stateDir = `/run/joey-test-${Math.random().toString(36).slice(2, 8)}`;
    const c = await startVirtContainerd(stateDir, "builtin");
    try {
      const r = await runRm(c, {
        runtime: JOEY_RUNTIME,
        id: `virt-builtin-${Math.random().toString(36).slice(2, 7)}`,
        argv: ["sh", "-c", "uname -r; echo out; echo err >&2; exit 7"],
        timeoutMs: 120_000,
      });
      assertEquals(r.stdout, `${kernel.release}\nout\n`, r.stderr);
      assertIncludes(r.stderr, "err\n");
      assertEquals(r.code, 7, r.stderr);
      const left = await Array.fromAsync(Deno.readDir(stateDir)).catch(() => []);
      assertEquals(left.map((e) => e.name), [], "sandbox state left behind");
    } finally {
      await c.stop();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
