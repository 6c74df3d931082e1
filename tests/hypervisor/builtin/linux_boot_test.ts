/**
 * Linux loader smoke test through the FFI binding: the real guest kernel
 * (build/guest/kernel/bzImage when built, else the Debian cloud kernel)
 * prints its banner, the exact command line and the e820 map the VMM built.
 * With VMX/SVM it must reach /init; on PVM it stops (or crawls) after that.
 */
import { assert, assertIncludes } from "../../lib/assert.ts";
import { BuiltinVm } from "../../../src/hypervisor/builtin/mod.ts";
import { hasVmxSvm, skipReason } from "./_guests.ts";

function pickKernel(): { kernel: string; initrd: string | null } | null {
  const exists = (p: string) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  };
  const boot = [...Deno.readDirSync("/boot")].map((e) => e.name);
  const cloud = (prefix: string) => {
    const name = boot.find((n) => n.startsWith(prefix) && n.endsWith("-cloud-amd64"));
    return name ? `/boot/${name}` : null;
  };
  // The project's kernel first: its vmlinux (entered directly, no
  // decompressor to emulate), else its bzImage; then the Debian cloud kernel.
  const own = ["build/guest/kernel/vmlinux", "build/guest/kernel/bzImage"].find(exists);
  if (own) {
    return {
      kernel: own,
      initrd: exists("build/guest/initrd.img") ? "build/guest/initrd.img" : cloud("initrd.img-"),
    };
  }
  const kernel = cloud("vmlinuz-");
  return kernel ? { kernel, initrd: cloud("initrd.img-") } : null;
}

const picked = pickKernel();
if (!picked) console.log("Linux smoke test skipped: no guest kernel and no cloud kernel in /boot");

Deno.test({
  name: "builtin VMM loads Linux: banner, exact command line and e820 map on the console",
  ignore: skipReason !== null || picked === null,
  async fn() {
    const cmdline = "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 " +
      "joey.smoke=deno rdinit=/init";
    const memoryMiB = 256;
    const vm = await BuiltinVm.create({
      vcpus: 1,
      memoryMiB,
      kernel: picked!.kernel,
      initrd: picked!.initrd,
      cmdline,
      consoleRingBytes: 1 << 20,
    });
    try {
      vm.start();
      const high = `BIOS-e820: [mem 0x0000000000100000-0x${
        (memoryMiB * 1024 * 1024 - 1).toString(16).padStart(16, "0")
      }] usable`;
      const out = await vm.waitForOutput(high, 60_000);
      assertIncludes(out, "Linux version ");
      assert(
        new RegExp(`Command line: ${cmdline.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\r?\n`).test(
          out,
        ),
        "exact command line missing",
      );
      assertIncludes(out, "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable");
      assertIncludes(out, "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved");
      if (hasVmxSvm()) {
        await vm.waitForOutput("Run /init", 60_000);
      } else {
        const ended = await Promise.race([
          vm.wait(),
          new Promise<null>((r) => setTimeout(() => r(null), 5000)),
        ]);
        console.log(
          ended
            ? `no VMX/SVM (PVM): the kernel stopped at the known limit: ${ended.reason} ${ended.message}`
            : "no VMX/SVM (PVM): guest kernel code is emulated; still running 5 s after the e820 map",
        );
      }
    } finally {
      await vm.destroy();
    }
  },
});
