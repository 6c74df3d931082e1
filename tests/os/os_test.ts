/**
 * src/os over the real library: pidfd reaping next to Deno's own children,
 * exit statuses, cancellable fd I/O, the console socket, mounts and mount
 * option parsing.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../lib/assert.ts";
import { within, withTempDir } from "../lib/tmp.ts";
import {
  CancelledError,
  Canceller,
  ConsoleSocket,
  ioLoop,
  isMountPoint,
  mountWithOptions,
  MS,
  OsError,
  parseMountOptions,
  RawFd,
  reaper,
  setChildSubreaper,
  spawn,
  umountAll,
} from "../../src/os/mod.ts";

const libMissing = await Deno.stat(new URL("../../build/os/libjoeyos.so", import.meta.url))
  .then(() => false, () => true);
if (libMissing) console.log("skipping src/os tests: build/os/libjoeyos.so missing (make build)");
const isRoot = Deno.uid() === 0;
if (!isRoot) console.log("skipping mount tests: they need root");

const te = new TextEncoder();
const td = new TextDecoder();

Deno.test({
  name: "reaper() gives shell-style statuses and leaves Deno's children to Deno",
  ignore: libMissing,
  async fn() {
    const codes = spawn(["sh", "-c", "exit 3"], { stdin: null, stdout: null, stderr: null });
    const killed = spawn(["sh", "-c", "kill -9 $$"], { stdin: null, stdout: null, stderr: null });
    // A Deno child exiting meanwhile must still be waited by Deno itself.
    const denoChild = new Deno.Command("sh", { args: ["-c", "sleep 0.2; exit 5"] }).spawn();
    const [a, b, c] = await within(
      Promise.all([reaper().watch(codes), reaper().watch(killed), denoChild.status]),
      10_000,
      "exits",
    );
    assertEquals(a, 3);
    assertEquals(b, 128 + 9);
    assertEquals(c.code, 5);
    assertEquals(reaper().watched, 0);
  },
});

Deno.test({
  name: "as child subreaper, an orphaned grandchild is reaped with its status",
  ignore: libMissing,
  async fn() {
    setChildSubreaper();
    const [r, w] = RawFd.pipe();
    const cancel = new Canceller();
    try {
      const sh = spawn(["sh", "-c", "(sleep 0.3; exit 6) & echo $!"], {
        stdin: null,
        stdout: w,
        stderr: null,
      });
      w.close();
      assertEquals(await reaper().watch(sh), 0);
      const buf = new Uint8Array(32);
      const orphan = Number(td.decode(buf.subarray(0, await r.read(buf, cancel))).trim());
      assert(orphan > 0);
      // Its parent is gone; as subreaper this process inherited it.
      assertEquals(await within(reaper().watch(orphan), 5000, "orphan exit"), 6);
    } finally {
      r.close();
      w.close();
      cancel.close();
    }
  },
});

Deno.test({
  name: "spawn() hands pipe ends to the child; ioLoop().copy() moves the bytes and the EOF",
  ignore: libMissing,
  async fn() {
    const [inR, inW] = RawFd.pipe();
    const [outR, outW] = RawFd.pipe();
    const [sinkR, sinkW] = RawFd.pipe();
    const cancel = new Canceller();
    try {
      const pid = spawn(["cat"], { stdin: inR, stdout: outW, stderr: null });
      inR.close();
      outW.close();
      outR.setNonblocking();
      sinkW.setNonblocking();
      const copying = ioLoop().copy(outR, sinkW).done;
      // The loop holds its own duplicates: closing ours lets EOF through.
      outR.close();
      sinkW.close();
      await inW.write(te.encode("round trip"), cancel);
      inW.close();
      assertEquals(await reaper().watch(pid), 0);
      assertEquals(await copying, 0);
      const buf = new Uint8Array(64);
      const n = await sinkR.read(buf, cancel);
      assertEquals(td.decode(buf.subarray(0, n)), "round trip");
      assertEquals(await sinkR.read(buf, cancel), 0);
    } finally {
      for (const fd of [inR, inW, outR, outW, sinkR, sinkW]) fd.close();
      cancel.close();
    }
  },
});

Deno.test({
  name: "ioLoop() runs many copies at once without parking Deno threads; cancel ends them",
  ignore: libMissing,
  async fn() {
    // More streams than Deno has blocking workers (32): each waits on input.
    const pipes = Array.from({ length: 48 }, () => [RawFd.pipe(), RawFd.pipe()] as const);
    const copies = pipes.map(([[r], [, w]]) => {
      r.setNonblocking();
      w.setNonblocking();
      return ioLoop().copy(r, w);
    });
    const cancel = new Canceller();
    try {
      // Deno's own blocking work still runs while all of them wait.
      await within(Deno.readTextFile("/proc/self/stat"), 5000, "a blocking fs op");
      const [[, w0], [r1]] = pipes[47]!;
      await w0.write(te.encode("last"), cancel);
      const buf = new Uint8Array(8);
      assertEquals(td.decode(buf.subarray(0, await r1.read(buf, cancel))), "last");
      for (const c of copies) ioLoop().cancel(c.id);
      const statuses = await Promise.all(copies.map((c) => c.done));
      assert(statuses.every((s) => s === -125), String(statuses));
      assertEquals(ioLoop().active, 0);
    } finally {
      for (const [[a, b], [c, d]] of pipes) [a, b, c, d].forEach((fd) => fd.close());
      cancel.close();
    }
  },
});

Deno.test({
  name: "a blocked read ends with CancelledError once cancelled",
  ignore: libMissing,
  async fn() {
    const [r, w] = RawFd.pipe();
    const cancel = new Canceller();
    try {
      const pending = r.read(new Uint8Array(8), cancel);
      setTimeout(() => cancel.cancel(), 20);
      await assertRejects(() => pending, CancelledError);
      assert(cancel.cancelled);
    } finally {
      r.close();
      w.close();
      cancel.close();
    }
  },
});

Deno.test({
  name: "ConsoleSocket.receive() is cancellable and close() removes the socket",
  ignore: libMissing,
  async fn() {
    // The C test and the runtime's terminal tests cover a real handover.
    await withTempDir(async (dir) => {
      const sock = ConsoleSocket.listen(`${dir}/c.sock`);
      const cancel = new Canceller();
      try {
        const got = sock.receive(cancel);
        setTimeout(() => cancel.cancel(), 20);
        await assertRejects(() => got, CancelledError);
      } finally {
        await sock.close();
        cancel.close();
      }
      await assertRejects(() => Deno.stat(`${dir}/c.sock`));
    });
  },
});

Deno.test("parseMountOptions() splits flags, propagation and data", () => {
  const p = parseMountOptions(["rbind", "ro", "nosuid", "rprivate", "lowerdir=/a", "upperdir=/b"]);
  assertEquals(p.flags, MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID);
  assertEquals(p.propagation, MS.PRIVATE | MS.REC);
  assertEquals(p.data, "lowerdir=/a,upperdir=/b");
  assertEquals(parseMountOptions(["ro", "rw"]).flags, 0);
});

Deno.test({
  name: "mountWithOptions() makes a read-only bind; umountAll() removes stacked mounts",
  ignore: libMissing || !isRoot,
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/src`);
      await Deno.mkdir(`${dir}/dst`);
      await Deno.writeTextFile(`${dir}/src/file`, "x");
      try {
        mountWithOptions("bind", `${dir}/src`, `${dir}/dst`, ["rbind", "ro"]);
        mountWithOptions("tmpfs", "tmpfs", `${dir}/dst`, ["size=1m"]);
        assert(await isMountPoint(`${dir}/dst`));
        umountAll(`${dir}/dst`);
        assert(!(await isMountPoint(`${dir}/dst`)));
        // Without the tmpfs on top, the read-only bind would still show; both are gone.
        await assertRejects(() => Deno.stat(`${dir}/dst/file`));
        mountWithOptions("bind", `${dir}/src`, `${dir}/dst`, ["bind", "ro"]);
        assertEquals(await Deno.readTextFile(`${dir}/dst/file`), "x");
        await assertRejects(() => Deno.writeTextFile(`${dir}/dst/file`, "y"));
      } finally {
        umountAll(`${dir}/dst`);
      }
      const err = assertThrows(
        () => mountWithOptions("nosuchfs", "none", `${dir}/dst`, []),
        OsError,
      );
      assert(err.errno > 0);
    });
  },
});
