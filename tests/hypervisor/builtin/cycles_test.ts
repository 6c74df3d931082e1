/**
 * Create/start/destroy cycles through the FFI binding leave no file
 * descriptors or threads behind in the Deno process.
 */
import { assertEquals } from "../../lib/assert.ts";
import { BuiltinVm } from "../../../src/hypervisor/builtin/mod.ts";
import { guest, skipReason } from "./_guests.ts";

function fds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]);
}

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
    // Deno's blocking-pool threads come and go with idle time: settle first.
    await new Promise((r) => setTimeout(r, 100));
    const fd0 = fds();
    const t0 = threads();
    for (let i = 0; i < 200; i++) await cycle();
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(fds(), fd0, "file descriptors");
    // vCPU threads are joined at destroy; Deno's own pool may only shrink.
    const t1 = threads();
    if (t1 > t0) throw new Error(`threads grew from ${t0} to ${t1}`);
  },
});
