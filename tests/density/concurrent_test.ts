/**
 * Density (issue 9) through the Deno binding: 50 test-guest VMs created and
 * started at once (every create and start is a nonblocking FFI call, so they
 * overlap off the JavaScript thread) and torn down at once, leaving fds,
 * VMM threads and RSS at their starting level; and a lowered RLIMIT_NOFILE
 * refusing the VM beyond the budget with a message that names the limit.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { BuiltinVm } from "../../src/hypervisor/builtin/mod.ts";
import { fds, guest, skipReason, vmmThreads } from "../hypervisor/builtin/_guests.ts";

const N = 50;

function rssKiB(): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]);
}

/** Creates and starts n idle guests concurrently; resolves once all said "ready". */
async function liveVms(n: number): Promise<BuiltinVm[]> {
  const made = await Promise.allSettled(
    Array.from({ length: n }, async () => {
      const vm = await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: guest("idle") });
      await vm.start();
      return vm;
    }),
  );
  const vms = made.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const failed = made.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
  if (failed.length) {
    await Promise.all(vms.map((vm) => vm.destroy()));
    throw new Error(`${failed.length} of ${n} VMs failed: ${failed[0]}`);
  }
  try {
    await Promise.all(vms.map((vm) => vm.waitForOutput("ready\n", 20_000)));
  } catch (err) {
    await Promise.all(vms.map((vm) => vm.destroy()));
    throw err;
  }
  return vms;
}

Deno.test({
  name: "50 VMs started concurrently and torn down leave fds, threads and RSS as they were",
  ignore: skipReason !== null,
  async fn() {
    // Warm-up round: library, allocator arenas and Deno's blocking pool grow once.
    await Promise.all((await liveVms(N)).map((vm) => vm.destroy()));
    const fd0 = fds();
    const rss0 = rssKiB();
    assertEquals(vmmThreads(), 0, "VMM threads before");

    const t0 = performance.now();
    const vms = await liveVms(N);
    const upMs = performance.now() - t0;
    const live = { fds: fds() - fd0, threads: vmmThreads(), rss: rssKiB() - rss0 };
    for (const vm of vms) assertEquals(vm.state(), "running");
    // One vCPU thread and three fds (VM, guest RAM, vCPU) per VM, plus the
    // process-wide /dev/kvm fd.
    assertEquals(live.threads, N, "one vCPU thread per live VM");
    assertEquals(live.fds, 3 * N + 1, "fds of the live VMs");
    const guestKiB = vms.reduce((s, vm) => s + vm.guestResidentBytes() / 1024, 0) / N;
    // Lazily populated: an idle guest touched a few pages of its 8 MiB.
    assert(guestKiB < 1024, `guest pages per idle VM: ${guestKiB} KiB`);

    const t1 = performance.now();
    await Promise.all(vms.map((vm) => vm.destroy()));
    const downMs = performance.now() - t1;
    console.log(
      `${N} VMs up in ${upMs.toFixed(0)} ms, down in ${downMs.toFixed(0)} ms; live: ` +
        `${live.fds} fds, ${live.threads} VMM threads, ${(live.rss / N).toFixed(0)} KiB RSS ` +
        `per VM (${guestKiB.toFixed(0)} KiB guest pages); after: fds ${fds() - fd0}, RSS ` +
        `${rssKiB() - rss0} KiB`,
    );
    assertEquals(fds(), fd0, "file descriptors after teardown");
    assertEquals(vmmThreads(), 0, "VMM threads after teardown");
    // The allocator may keep some freed memory; a leak of even 100 KiB per
    // VM would exceed this.
    assert(rssKiB() - rss0 < 4096, `RSS grew by ${rssKiB() - rss0} KiB`);
  },
});

/** Run in a child: lowers its own RLIMIT_NOFILE to fit 2 VMs, makes 3. */
const CHILD = `
import { BuiltinVm } from ${
  JSON.stringify(new URL("../../src/hypervisor/builtin/mod.ts", import.meta.url).href)
};
const open = [...Deno.readDirSync("/proc/self/fd")].length;
// 32 fds stay reserved; 2 VMs of 3 fds; 1 for the shared /dev/kvm fd.
const limit = open + 32 + 2 * 3 + 1;
const p = new Deno.Command("prlimit", { args: ["--pid", String(Deno.pid), "--nofile=" + limit + ":" + limit] });
if ((await p.output()).code !== 0) throw new Error("prlimit failed");
const vms = [];
let error = "";
try {
  for (let i = 0; i < 3; i++) vms.push(await BuiltinVm.create({ vcpus: 1, memoryMiB: 8, kernel: Deno.args[0] }));
} catch (err) {
  error = (err as Error).name + ": " + (err as Error).message + " kind=" + ((err as { kind?: string }).kind ?? "");
}
await Promise.all(vms.map((vm) => vm.destroy()));
console.log(JSON.stringify({ made: vms.length, error, limit }));
`;

Deno.test({
  name: "a lowered RLIMIT_NOFILE refuses the VM beyond the budget with the limit and numbers",
  ignore: skipReason !== null,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", CHILD, guest("hello")],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(text.trim().split("\n").pop()!);
    console.log(result);
    assertEquals(result.made, 2, "two VMs fit the budget");
    assert(
      result.error.includes(`RLIMIT_NOFILE (open files) soft limit ${result.limit}`),
      result.error,
    );
    assert(/\d+ fds open, a VM needs 3 more/.test(result.error), result.error);
    assert(result.error.includes("kind=ResourceExhausted"), result.error);
  },
});
