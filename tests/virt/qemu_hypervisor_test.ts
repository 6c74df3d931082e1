/**
 * The QEMU hypervisor with a real Linux guest under TCG (or KVM where
 * VMX/SVM exist): boots through joey's vhost-user vsock back end with a
 * virtiofsd share and a read-only raw disk; the guest reads and writes the
 * share and reads the disk; QMP pause stops
 * the guest's progress counter and resume restarts it; stop leaves no
 * process behind.
 */
import { assert, assertEquals, assertIncludes, assertThrows } from "../lib/assert.ts";
import { JoeyError } from "../../src/errors.ts";
import { waitFor } from "../lib/tmp.ts";
import { REPO } from "../containerd/harness.ts";
import { buildInitrd, guestKernel } from "./guest_fixture.ts";
import { QemuHypervisor } from "../../src/hypervisor/qemu/mod.ts";
import { qemuArgv } from "../../src/hypervisor/qemu/command.ts";
import { startVirtiofsd } from "../../src/resource/share_fs/virtiofsd.ts";
import { SandboxLayout } from "../../src/resource/layout.ts";
import { isAlive, stopDaemon } from "../../src/resource/daemon.ts";
import { loadConfig } from "../../src/config/mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("qemuArgv() puts RAM in a shared memfd and wires vsock, fs and tap devices", () => {
  const argv = qemuArgv({
    binary: "qemu",
    name: "joey-x",
    machineType: "microvm",
    accel: "tcg",
    vcpus: 2,
    memoryMiB: 128,
    kernel: "/k",
    initrd: "/i",
    cmdline: "console=ttyS0",
    consolePath: "/d/console.log",
    qmpSocket: "/d/qmp.sock",
    pidFile: "/d/qemu.pid",
    devices: [
      { kind: "vsock", socket: "/d/v.sock" },
      { kind: "fs", socket: "/d/fs.sock", tag: "joeyfs" },
      { kind: "net", tap: "tap0_joey", mac: "02:00:00:00:00:01" },
      { kind: "blk", path: "/d/a,b.img", readOnly: true, id: "disk-1" },
    ],
  });
  const s = argv.join(" ");
  assertIncludes(s, "-M microvm,memory-backend=mem");
  assertIncludes(s, "memory-backend-memfd,id=mem,size=128M,share=on");
  assertIncludes(s, "-accel tcg");
  assertIncludes(s, "-device vhost-user-vsock-device,chardev=vsock0");
  assertIncludes(s, "-device vhost-user-fs-device,chardev=fs1,tag=joeyfs");
  assertIncludes(s, "tap,id=net2,ifname=tap0_joey,script=no,downscript=no");
  assertIncludes(s, "virtio-net-device,netdev=net2,mac=02:00:00:00:00:01");
  assertIncludes(s, "-drive file=/d/a,,b.img,if=none,id=blk3,format=raw,readonly=on");
  assertIncludes(s, "-device virtio-blk-device,drive=blk3,serial=disk-1");
  assert(!s.includes("-cpu"), "TCG keeps QEMU's default CPU model");
});

Deno.test("qemuArgv() refuses a disk serial longer than virtio-blk's 20 bytes", () => {
  const base = {
    binary: "qemu",
    name: "joey-x",
    machineType: "microvm",
    accel: "tcg" as const,
    vcpus: 1,
    memoryMiB: 64,
    kernel: "/k",
    initrd: null,
    cmdline: "",
    consolePath: "/d/c",
    qmpSocket: "/d/q",
    pidFile: "/d/p",
  };
  const err = assertThrows(
    () => qemuArgv({ ...base, devices: [{ kind: "blk", path: "/d/x.img", id: "x".repeat(21) }] }),
    JoeyError,
  );
  assertIncludes(err.message, "blk id");
});

const kernel = await guestKernel(REPO);
if (typeof kernel === "string") console.log(`SKIP qemu hypervisor boot: ${kernel}`);

Deno.test({
  name:
    "QemuHypervisor boots Linux with virtio-fs and a raw disk; pause/resume via QMP; stop leaves nothing",
  ignore: typeof kernel === "string",
  ...opts,
  fn: async () => {
    if (typeof kernel === "string") return;
    const work = await Deno.makeTempDir({ prefix: "joey-qemu-" });
    const layout = new SandboxLayout(work, "sb1");
    const { config } = await loadConfig({ env: {} });
    const section = config.hypervisor.qemu;
    const hv = new QemuHypervisor({ ...section, accel: "auto" });
    let virtiofsd: Awaited<ReturnType<typeof startVirtiofsd>> | null = null;
    try {
      await Deno.mkdir(layout.vmDir, { recursive: true });
      await Deno.mkdir(layout.sharedDir, { recursive: true });
      await Deno.writeTextFile(`${layout.sharedDir}/hello.txt`, "hello-from-host\n");
      // A raw disk: its first bytes read back in the guest prove the blk mapping.
      const disk = new Uint8Array(64 * 1024);
      disk.set(new TextEncoder().encode("joey-disk-magic"));
      await Deno.writeFile(`${work}/disk.img`, disk);
      await buildInitrd(
        `/bin/busybox mount -t virtiofs joeyfs /mnt && /bin/busybox cat /mnt/hello.txt
echo "release=$(/bin/busybox uname -r)"
echo "disk=$(/bin/busybox head -c 15 /dev/vda) ro=$(/bin/busybox cat /sys/block/vda/ro)"
echo written-by-guest > /mnt/guest.txt && /bin/busybox sync
i=0; while true; do i=$((i+1)); echo "tick $i"; /bin/busybox usleep 100000; done`,
        work,
        `${work}/initrd.gz`,
      );
      virtiofsd = await startVirtiofsd(layout, section);
      await hv.prepare({
        id: "sb1",
        dir: layout.vmDir,
        vcpus: 1,
        memoryMiB: 256,
        kernel: kernel.path,
        initrd: `${work}/initrd.gz`,
        cmdline: "console=ttyS0 panic=-1 quiet",
      });
      hv.addDevice({ kind: "fs", socket: layout.virtiofsdSocket, tag: "joeyfs" });
      hv.addDevice({ kind: "blk", path: `${work}/disk.img`, readOnly: true, id: "joey-test" });
      await hv.start(10_000);
      const consolePath = `${layout.vmDir}/console.log`;
      const console = () => Deno.readTextFile(consolePath).catch(() => "");
      await waitFor(async () => (await console()).includes("tick 3"), "guest ticking", 90_000)
        .catch(async (e) => {
          throw new Error(`${e.message}\n${await hv.diagnostics()}`);
        });
      const text = await console();
      assertIncludes(text, "hello-from-host");
      assertIncludes(text, `release=${kernel.release}`);
      assertIncludes(text, "disk=joey-disk-magic ro=1");
      assertEquals(await Deno.readTextFile(`${layout.sharedDir}/guest.txt`), "written-by-guest\n");
      assertEquals(await hv.status(), "running");

      const ticks = async () => Number(/tick (\d+)\s*$/.exec(await console())?.[1] ?? 0);
      await hv.pause();
      assertEquals(await hv.status(), "paused");
      const paused = await ticks();
      await new Promise((r) => setTimeout(r, 1000));
      assert((await ticks()) <= paused + 1, "the guest made progress while paused");
      await hv.resume();
      await waitFor(async () => (await ticks()) > paused + 2, "progress after resume", 20_000);

      const m = await hv.metrics();
      assert(m.rssKiB > 1000, `QEMU RSS ${m.rssKiB} KiB`);
      const procs = hv.processes().daemons;
      assertEquals(procs.map((d) => d.name).sort(), ["joey-vhost-vsock", "qemu"]);
      await hv.stop();
      for (const d of procs) assert(!(await isAlive(d)), `${d.name} (${d.pid}) still alive`);
    } finally {
      await hv.stop();
      if (virtiofsd) await stopDaemon(virtiofsd);
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
