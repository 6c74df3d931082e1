import { assert, assertEquals, assertIncludes, assertRejects } from "../../lib/assert.ts";
import {
  BuiltinVm,
  deviceKnown,
  setShellPool,
  shellPoolReady,
} from "../../../src/hypervisor/builtin/mod.ts";
import { JoeyError } from "../../../src/errors.ts";
import { guest, skipReason } from "./_guests.ts";

const ignore = skipReason !== null;

Deno.test({
  name: "BuiltinVm: a test guest's UART output and debug-exit code arrive as events",
  ignore,
  async fn() {
    const vm = await BuiltinVm.create({
      vcpus: 1,
      memoryMiB: 16,
      kernel: guest("hello"),
      cmdline: "from=deno",
    });
    try {
      assertEquals(vm.state(), "created");
      vm.start();
      await vm.started;
      const exit = await vm.wait();
      assertEquals(exit, { reason: "shutdown", code: 42, message: "" });
      assert(vm.console().includes("hello from the test guest\n"), vm.console());
      assert(vm.console().includes("cmdline: from=deno\n"), vm.console());
      assertEquals(vm.state(), "stopped");
    } finally {
      await vm.destroy();
    }
  },
});

Deno.test({
  name: "BuiltinVm: the progress counter stops while paused and moves after resume",
  ignore,
  async fn() {
    const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 16, kernel: guest("loop") });
    const counter = () => new DataView(vm.readMemory(0x30000n, 8).buffer).getBigUint64(0, true);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      vm.start();
      await vm.waitForOutput("loop started\n", 5000);
      const a = counter();
      await sleep(50);
      assert(counter() > a, "counter does not move while running");
      await vm.pause();
      assertEquals(vm.state(), "paused");
      const p0 = counter();
      await sleep(200);
      assertEquals(counter(), p0, "counter moved while paused");
      vm.resume();
      assertEquals(vm.state(), "running");
      await sleep(100);
      assert(counter() > p0, "counter did not move after resume");
      await vm.stop();
      assertEquals((await vm.wait()).reason, "stopped");
    } finally {
      await vm.destroy();
    }
  },
});

Deno.test({
  name: "BuiltinVm: errors carry the library's message",
  ignore,
  async fn() {
    const missing = await assertRejects(
      () => BuiltinVm.create({ vcpus: 1, memoryMiB: 16, kernel: "/nonexistent/vmlinux" }),
      JoeyError,
    );
    assertEquals(missing.kind, "NotFound");
    assertIncludes(
      missing.message,
      "cannot open kernel '/nonexistent/vmlinux': No such file or directory",
    );
    const bad = await assertRejects(
      () => BuiltinVm.create({ vcpus: 0, memoryMiB: 16, kernel: guest("hello") }),
      JoeyError,
    );
    assertEquals(bad.kind, "InvalidArgument");
    assertIncludes(bad.message, "vCPU count 0 is invalid");
    const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 16, kernel: guest("hello") });
    try {
      const dev = await assertRejects(() => vm.addDevice("no-such-device", ""), JoeyError);
      assertIncludes(dev.message, "unknown device type 'no-such-device'");
      const pause = await assertRejects(() => vm.pause(), JoeyError);
      assertIncludes(pause.message, "cannot pause: it is not running");
    } finally {
      await vm.destroy();
    }
    assertIncludes((await assertRejects(() => vm.pause(), JoeyError)).message, "was destroyed");
  },
});

Deno.test({
  name: "BuiltinVm: resets and many concurrent VMs through the one pump",
  ignore,
  async fn() {
    const reset = await BuiltinVm.create({
      vcpus: 1,
      memoryMiB: 16,
      kernel: guest("reset"),
      cmdline: "joey.reset=triple",
    });
    const vms = await Promise.all(
      Array.from(
        { length: 8 },
        () => BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: guest("hello") }),
      ),
    );
    try {
      reset.start();
      for (const vm of vms) vm.start();
      const exits = await Promise.all(vms.map((vm) => vm.wait()));
      for (const exit of exits) assertEquals(exit.code, 42);
      const r = await reset.wait();
      assertEquals(r.reason, "reset");
      assertEquals(r.message, "vCPU 0: triple fault, guest reset");
    } finally {
      await Promise.all([reset, ...vms].map((vm) => vm.destroy()));
    }
  },
});

Deno.test({
  name: "BuiltinVm: two vCPUs",
  ignore,
  async fn() {
    const vm = await BuiltinVm.create({ vcpus: 2, memoryMiB: 16, kernel: guest("smp") });
    try {
      vm.start();
      const exit = await vm.wait();
      assertEquals(exit, { reason: "shutdown", code: 2, message: "" }, vm.console());
      assert(vm.console().includes("second vCPU is running"));
    } finally {
      await vm.destroy();
    }
  },
});

Deno.test({
  name: "setShellPool(): a VM made from a pre-built shell runs like a fresh one",
  ignore,
  async fn() {
    await setShellPool(1, 8);
    try {
      for (let i = 0; i < 200 && shellPoolReady() < 1; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assertEquals(shellPoolReady(), 1);
      const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: guest("hello") });
      try {
        vm.start();
        assertEquals((await vm.wait()).code, 42);
      } finally {
        await vm.destroy();
      }
    } finally {
      await setShellPool(0, 0);
    }
    assertEquals(shellPoolReady(), 0);
  },
});

Deno.test({
  name: "BuiltinVm: a device's failure arrives as a DEVICE_ERROR event with its text",
  ignore: ignore || !deviceKnown("vsock"),
  async fn() {
    const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: guest("hello") });
    try {
      // The vsock model reports a spec without uds= through vm__device_error.
      const err = await assertRejects(() => vm.addDevice("vsock", "cid=3"), JoeyError);
      assertIncludes(err.message, "needs uds=<path>");
      vm.start();
      await vm.wait();
      assertEquals(vm.deviceErrors().length, 1);
      assertIncludes(vm.deviceErrors()[0]!, "device vsock: spec 'cid=3' needs uds=<path>");
    } finally {
      await vm.destroy();
    }
  },
});
