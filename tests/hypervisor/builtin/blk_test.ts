/**
 * A virtio-blk disk added through the TypeScript binding
 * (BuiltinHypervisor.addDevice({ kind: "blk", … })) and read by a test guest
 * (tests/devices/guests/blk_read.c): the guest's checksum of what it read
 * must be the host file's, and GET_ID / read-only must be what was asked.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertIncludes, assertThrows } from "../../lib/assert.ts";
import { JoeyError } from "../../../src/errors.ts";
import { BuiltinHypervisor, deviceSpec } from "../../../src/hypervisor/builtin/mod.ts";
import { skipReason } from "./_guests.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const BLK_READ = `${root}build/devices/guests/blk_read.elf`;
const KIB = 256;

function blkSkip(): string | null {
  if (skipReason) return skipReason;
  try {
    Deno.statSync(BLK_READ);
    return null;
  } catch {
    return "blk_read.elf is not built (run make devices)";
  }
}
const skip = blkSkip();
if (skip && !skipReason) console.log(`blk binding test skipped: ${skip}`);

/** FNV-1a 64, as the guest computes it. */
function fnv1a64(data: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of data) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}

Deno.test("deviceSpec() for a disk: path, read-only, id; bad values refused", () => {
  assertEquals(deviceSpec({ kind: "blk", path: "/var/a.img" }), {
    type: "blk",
    spec: "path=/var/a.img",
  });
  assertEquals(deviceSpec({ kind: "blk", path: "/a.img", readOnly: true, id: "disk-1" }), {
    type: "blk",
    spec: "path=/a.img,ro=1,id=disk-1",
  });
  const err = assertThrows(() => deviceSpec({ kind: "blk", path: "/a,b.img" }), JoeyError);
  assertIncludes(err.message, "','");
  assertThrows(() => deviceSpec({ kind: "blk", path: "/a.img", id: "x".repeat(21) }), JoeyError);
});

Deno.test({
  name: "BuiltinHypervisor: a blk disk added through the binding is read by a test guest",
  ignore: skip !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-blk-" });
    const hv = new BuiltinHypervisor({}, { agentVsock: false });
    try {
      const image = `${dir}/disk.img`;
      const data = new Uint8Array(KIB * 1024 * 2); // the guest reads the first half
      for (let off = 0; off < data.length; off += 65536) {
        crypto.getRandomValues(data.subarray(off, off + 65536));
      }
      await Deno.writeFile(image, data);
      await hv.prepare({
        id: "blk1",
        dir,
        vcpus: 1,
        memoryMiB: 32,
        kernel: BLK_READ,
        initrd: null,
        cmdline: `kib=${KIB}`,
      });
      await hv.addDevice({ kind: "blk", path: image, readOnly: true, id: "joey-ts-disk" });
      await hv.start(10_000);
      const exit = await hv.wait();
      const out = hv.vm.console();
      assertEquals(exit.reason, "shutdown", `${exit.message}\n${out}`);
      assertEquals(exit.code, 0, out);
      assertIncludes(out, `blk_read: id joey-ts-disk sectors ${data.length / 512} ro 1\n`);
      const want = fnv1a64(data.subarray(0, KIB * 1024)).toString(16).padStart(16, "0");
      assertIncludes(out, `blk_read: fnv1a 0x${want}\n`);
      assert(hv.vm.deviceErrors().length === 0, hv.vm.deviceErrors().join("; "));
    } finally {
      await hv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "BuiltinHypervisor: a disk whose file is missing fails addDevice with the reason",
  ignore: skip !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-blk-" });
    const hv = new BuiltinHypervisor({}, { agentVsock: false });
    try {
      await hv.prepare({
        id: "blk2",
        dir,
        vcpus: 1,
        memoryMiB: 16,
        kernel: BLK_READ,
        initrd: null,
        cmdline: "",
      });
      let error: unknown = null;
      try {
        await hv.addDevice({ kind: "blk", path: `${dir}/missing.img` });
      } catch (err) {
        error = err;
      }
      assert(error instanceof JoeyError, `addDevice did not fail: ${error}`);
      assertIncludes(error.message, "missing.img");
    } finally {
      await hv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
