import { assert, assertEquals, assertIncludes, assertRejects } from "../../lib/assert.ts";
import { JoeyError } from "../../../src/errors.ts";
import { BuiltinHypervisor, deviceSpec } from "../../../src/hypervisor/builtin/mod.ts";
import type { Hypervisor } from "../../../src/hypervisor/mod.ts";
import { guest, skipReason } from "./_guests.ts";

Deno.test("deviceSpec() gives the library's type and spec text", () => {
  assertEquals(deviceSpec({ kind: "vsock", socket: "/run/a.sock" }), {
    type: "vsock",
    spec: "cid=3,uds=/run/a.sock",
  });
  assertEquals(deviceSpec({ kind: "net", tap: "tap0", mac: "02:00:00:00:00:01" }), {
    type: "net",
    spec: "tap=tap0,mac=02:00:00:00:00:01",
  });
});

Deno.test({
  name: "BuiltinHypervisor: the Hypervisor lifecycle with a test guest",
  ignore: skipReason !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-hv-" });
    const hv: Hypervisor = new BuiltinHypervisor({}, { agentVsock: false });
    try {
      await hv.prepare({
        id: "t1",
        dir,
        vcpus: 1,
        memoryMiB: 16,
        kernel: guest("loop"),
        initrd: null,
        cmdline: "",
      });
      assertEquals(hv.agentSocket(), `${dir}/agent.sock`);
      assert(hv.capabilities().pause);
      await hv.start(5000);
      await hv.pause();
      await hv.resume();
      const { rssKiB } = await hv.metrics();
      assert(rssKiB > 0 && rssKiB < 16 * 1024, `guest resident ${rssKiB} KiB`);
      await hv.stop();
      await hv.stop();
      const err = await assertRejects(() => hv.pause(), JoeyError);
      assertIncludes(err.message, "prepare() was not called");
    } finally {
      await hv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "BuiltinHypervisor: start rejects when the guest ends before running",
  ignore: skipReason !== null,
  async fn() {
    const hv = new BuiltinHypervisor({}, { agentVsock: false });
    try {
      await hv.prepare({
        id: "t2",
        dir: "/tmp",
        vcpus: 1,
        memoryMiB: 8,
        kernel: guest("hello"),
        initrd: null,
        cmdline: "x".repeat(5000),
      });
      const err = await assertRejects(() => hv.start(5000), JoeyError);
      assertIncludes(
        err.message,
        "kernel command line is 5000 bytes; the kernel accepts at most 4095",
      );
    } finally {
      await hv.stop();
    }
  },
});

Deno.test({
  name: "BuiltinHypervisor: prepare adds the agent vsock, or fails cleanly without it",
  ignore: skipReason !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-hv-" });
    const hv = new BuiltinHypervisor();
    try {
      const spec = {
        id: "t3",
        dir,
        vcpus: 1,
        memoryMiB: 8,
        kernel: guest("hello"),
        initrd: null,
        cmdline: "",
      };
      if (hv.capabilities().hybridVsock) {
        await hv.prepare(spec);
        await hv.stop();
      } else {
        const err = await assertRejects(() => hv.prepare(spec), JoeyError);
        assertIncludes(err.message, "unknown device type 'vsock'");
        // The half-made VM is gone: prepare can run again.
        await assertRejects(() => hv.prepare(spec), JoeyError);
      }
    } finally {
      await hv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
