/**
 * The daemon's log sink follows the live containers' `log` FIFOs: when the
 * reader of the FIFO in use goes away (containerd stops reading a deleted
 * container's FIFO), the same line goes to another container's FIFO that is
 * still read, instead of being lost. Real FIFOs, real readers.
 */
import { LogFifo } from "../../src/shim/log_fifo.ts";
import { assertEquals } from "../lib/assert.ts";
import { within, withTempDir } from "../lib/tmp.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: [path] }).output();
  if (!out.success) throw new Error(`mkfifo ${path} failed`);
}

/** Reads one chunk from a FIFO reader (bounded in time). */
async function readChunk(file: Deno.FsFile): Promise<string> {
  const buf = new Uint8Array(4096);
  const n = await within(file.read(buf), 5000, "a log line");
  return n === null ? "" : dec.decode(buf.subarray(0, n));
}

Deno.test({
  name:
    "LogFifo writes to the first container's FIFO, then moves to a live one's when its reader goes",
  ...opts,
  fn: () =>
    withTempDir(async (dir) => {
      for (const b of ["a", "b", "c", "d"]) await Deno.mkdir(`${dir}/${b}`);
      for (const b of ["a", "b", "d"]) await mkfifo(`${dir}/${b}/log`);
      // c has no FIFO at all (e.g. its bundle is half gone): it is skipped.
      const readers: Deno.FsFile[] = [];
      const fifo = new LogFifo();
      try {
        // containerd opens each reader before the shim runs; a blocking open
        // of a FIFO waits for the writer, so these settle once LogFifo opens.
        const readerA = Deno.open(`${dir}/a/log`, { read: true });
        await within(fifo.openFirst("a", `${dir}/a`), 5000, "opening a's FIFO");
        readers.push(await readerA);
        const readerB = Deno.open(`${dir}/b/log`, { read: true });
        fifo.added("b", `${dir}/b`);
        fifo.added("c", `${dir}/c`);

        await fifo.write(enc.encode("one\n"));
        assertEquals(await readChunk(readers[0]!), "one\n");
        assertEquals(fifo.currentId, "a");

        // a is deleted: containerd closes its reader. The next line must not be lost.
        fifo.removed("a");
        readers[0]!.close();
        await within(fifo.write(enc.encode("two\n")), 5000, "writing after a's reader left");
        readers.push(await within(readerB, 5000, "b's reader"));
        assertEquals(await readChunk(readers[1]!), "two\n");
        assertEquals(fifo.currentId, "b");

        // Nobody reads any more: lines are dropped, never waited on.
        fifo.removed("b");
        readers[1]!.close();
        await within(fifo.write(enc.encode("three\n")), 5000, "writing with no reader");
        assertEquals(fifo.currentId, "");

        // A container created later brings a reader back.
        const readerD = Deno.open(`${dir}/d/log`, { read: true });
        fifo.added("d", `${dir}/d`);
        await within(fifo.write(enc.encode("four\n")), 5000, "writing to d");
        readers.push(await within(readerD, 5000, "d's reader"));
        assertEquals(await readChunk(readers[2]!), "four\n");
        assertEquals(fifo.currentId, "d");
      } finally {
        fifo.close();
        for (const r of readers) {
          try {
            r.close();
          } catch { /* closed above */ }
        }
      }
    }),
});
