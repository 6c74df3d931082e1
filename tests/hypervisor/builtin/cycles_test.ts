/**
 * Create/start/destroy cycles through the FFI binding leave no file
 * descriptors or VMM threads behind in the Deno process (Deno's own thread
 * pool grows and shrinks on its own, so threads are counted by name).
 */
import { assertEquals } from "../../lib/assert.ts";
import { BuiltinVm } from "../../../src/hypervisor/builtin/mod.ts";
import { fds, guest, skipReason, vmmThreads } from "./_guests.ts";

Deno.test({
  name: "BuiltinVm: 200 create/start/destroy cycles leave fds and threads as they were",
  ignore: skipReason !== null,
  async fn() {
    const cycle = async () => {
      const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: guest("hello") });
      vm.start();
      const exit = await vm.wait();
      await vm.destroy();
      assertEquals(exit.code, 42);
    };
    for (let i = 0; i < 10; i++) await cycle();
    // The count sees a live VM's vCPU thread (else the checks below are empty).
    const live = await BuiltinVm.create({ vcpus: 2, memoryMiB: 8, kernel: guest("loop") });
    live.start();
    await live.waitForOutput("loop started", 5000);
    assertEquals(vmmThreads(), 2, "vCPU threads of a running 2-vCPU VM");
    await live.destroy();
    const fd0 = fds();
    assertEquals(vmmThreads(), 0, "VMM threads before");
    for (let i = 0; i < 200; i++) await cycle();
    assertEquals(fds(), fd0, "file descriptors");
    assertEquals(vmmThreads(), 0, "VMM threads left after destroy");
  },
});
