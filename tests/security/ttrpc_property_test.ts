/**
 * Property tests for the ttrpc decoder, the first code that touches bytes
 * from a peer (containerd on the shim socket; the guest agent's replies on
 * the client side). Seeded, so a failure prints the seed that reproduces it
 * (JOEY_PROP_SEED=<n> to rerun). Complements tests/ttrpc/ttrpc_test.ts (fixed
 * bad inputs) and tests/proto/hostile_test.ts (the protobuf codec).
 * - FrameReader: any sequence of frames, cut into any chunks, reads back
 *   exactly; a stream cut inside a frame throws TruncatedFrameError and never
 *   yields a partial frame; oversized frames are skipped and reading resumes
 *   in step; arbitrary bytes never produce a frame over 4 MiB or any other
 *   error.
 * - TtrpcServer: random garbage and random stream-id orders on one
 *   connection are answered with the status ttrpc requires or a closed
 *   connection, and a well-behaved client on another connection is served
 *   throughout.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import {
  encodeFrame,
  type Frame,
  FrameReader,
  MAX_MESSAGE_LENGTH,
  TruncatedFrameError,
} from "../../src/ttrpc/frame.ts";
import { Code, TtrpcClient, TtrpcServer } from "../../src/ttrpc/mod.ts";
import { within, withTempDir } from "../lib/tmp.ts";
import { RawPeer } from "../ttrpc/raw.ts";

const SEED = Number(Deno.env.get("JOEY_PROP_SEED") ?? Date.now() % 1_000_000);

/** xorshift32: small, seedable, good enough to pick test cases. */
function rng(seed: number): (n: number) => number {
  let s = (seed >>> 0) || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return n <= 0 ? 0 : s % n;
  };
}

/** A ByteReader over bytes that hands them out in random-sized chunks. */
function chunked(bytes: Uint8Array, rand: (n: number) => number, maxChunk: number) {
  let off = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (off >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, bytes.length - off, 1 + rand(maxChunk));
      p.set(bytes.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

interface Spec {
  streamId: number;
  type: number;
  flags: number;
  data: Uint8Array;
}

function randomFrames(rand: (n: number) => number, count: number): Spec[] {
  const specs: Spec[] = [];
  for (let i = 0; i < count; i++) {
    // Mostly small, sometimes past the reader's 64 KiB starting buffer.
    const len = rand(10) === 0 ? 60_000 + rand(80_000) : rand(300);
    const data = new Uint8Array(len);
    for (let j = 0; j < len; j += 1 + rand(64)) data[j] = rand(256);
    specs.push({ streamId: rand(0x7fffffff), type: rand(256), flags: rand(256), data });
  }
  return specs;
}

async function readAll(reader: FrameReader): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (let f = await reader.next(); f; f = await reader.next()) frames.push(f);
  return frames;
}

Deno.test(`FrameReader: random frames in random chunks read back exactly (seed ${SEED})`, async () => {
  const rand = rng(SEED);
  for (let round = 0; round < 60; round++) {
    const specs = randomFrames(rand, 1 + rand(12));
    const bytes = concat(specs.map((s) => encodeFrame(s.streamId, s.type, s.flags, s.data)));
    const frames = await readAll(new FrameReader(chunked(bytes, rand, 1 + rand(9000))));
    assertEquals(frames.length, specs.length, `round ${round}`);
    frames.forEach((f, i) => {
      const s = specs[i]!;
      assertEquals([f.streamId, f.type, f.flags, f.oversized], [
        s.streamId,
        s.type,
        s.flags,
        false,
      ]);
      assertEquals(f.data, s.data);
    });
  }
});

Deno.test(`FrameReader: a stream cut anywhere inside a frame is truncated, never misread (seed ${SEED})`, async () => {
  const rand = rng(SEED + 1);
  for (let round = 0; round < 200; round++) {
    const specs = randomFrames(rand, 1 + rand(5));
    const encoded = specs.map((s) => encodeFrame(s.streamId, s.type, s.flags, s.data));
    const bytes = concat(encoded);
    const cut = rand(bytes.length + 1);
    // Frame boundaries: a cut there is a clean end.
    const ends: number[] = [];
    encoded.reduce((off, e) => (ends.push(off + e.length), off + e.length), 0);
    const whole = ends.filter((e) => e <= cut).length;
    const reader = new FrameReader(chunked(bytes.subarray(0, cut), rand, 4096));
    const got: Frame[] = [];
    let truncated = false;
    try {
      for (let f = await reader.next(); f; f = await reader.next()) got.push(f);
    } catch (err) {
      assert(err instanceof TruncatedFrameError, `unexpected ${err}`);
      truncated = true;
    }
    assertEquals(got.length, whole, `round ${round}: frames before the cut`);
    got.forEach((f, i) => assertEquals(f.data, specs[i]!.data));
    assertEquals(truncated, cut !== 0 && !ends.includes(cut), `round ${round}: cut ${cut}`);
  }
});

Deno.test(`FrameReader: oversized frames are skipped and reading resumes in step (seed ${SEED})`, async () => {
  const rand = rng(SEED + 2);
  for (let round = 0; round < 4; round++) {
    const before = randomFrames(rand, 1 + rand(3));
    const after = randomFrames(rand, 1 + rand(3));
    const over = MAX_MESSAGE_LENGTH + 1 + rand(5000);
    const hdr = encodeFrame(7, 1, 0, new Uint8Array(0));
    new DataView(hdr.buffer).setUint32(0, over);
    const bytes = concat([
      ...before.map((s) => encodeFrame(s.streamId, s.type, s.flags, s.data)),
      hdr,
      new Uint8Array(over).fill(0xab),
      ...after.map((s) => encodeFrame(s.streamId, s.type, s.flags, s.data)),
    ]);
    const frames = await readAll(new FrameReader(chunked(bytes, rand, 1 << 16)));
    assertEquals(frames.length, before.length + 1 + after.length);
    const big = frames[before.length]!;
    assertEquals([big.oversized, big.length, big.data.length], [true, over, 0]);
    frames.slice(before.length + 1).forEach((f, i) => assertEquals(f.data, after[i]!.data));
  }
});

Deno.test(`FrameReader: arbitrary bytes give bounded frames or a truncation, nothing else (seed ${SEED})`, async () => {
  const rand = rng(SEED + 3);
  for (let round = 0; round < 300; round++) {
    const bytes = new Uint8Array(rand(2000));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rand(256);
    // Keep declared lengths mostly small so frames complete sometimes.
    if (bytes.length >= 4 && rand(2)) bytes.set([0, 0, 0, rand(256)], 0);
    const reader = new FrameReader(chunked(bytes, rand, 512));
    try {
      for (let f = await reader.next(); f; f = await reader.next()) {
        assert(f.data.length <= MAX_MESSAGE_LENGTH, "frame over the limit");
        assert(f.oversized || f.data.length === f.length, "length and data disagree");
      }
    } catch (err) {
      assert(err instanceof TruncatedFrameError, `round ${round}: unexpected ${err}`);
    }
  }
});

Deno.test(`TtrpcServer: random garbage and stream orders never stop it serving others (seed ${SEED})`, async () => {
  const rand = rng(SEED + 4);
  const enc = new TextEncoder();
  await withTempDir(async (dir) => {
    const server = new TtrpcServer();
    server.register("test.Echo", { Echo: (p) => Promise.resolve(p) });
    const path = `${dir}/s.sock`;
    const served = server.serve(Deno.listen({ transport: "unix", path }));
    const good = await TtrpcClient.dial(path);
    try {
      for (let round = 0; round < 40; round++) {
        const raw = await RawPeer.connect(path);
        try {
          if (rand(2)) {
            // Garbage: random frames with random payload bytes.
            for (let i = 0; i < 1 + rand(5); i++) {
              const data = new Uint8Array(rand(200));
              for (let j = 0; j < data.length; j++) data[j] = rand(256);
              await raw.writeAll(encodeFrame(rand(50), 1 + rand(3), rand(8), data));
            }
          } else {
            // Valid envelopes with a random stream-id order: only odd ids
            // above every earlier one may succeed.
            let last = 0;
            for (let i = 0; i < 1 + rand(6); i++) {
              const id = rand(20);
              await raw.sendRequest(id, "test.Echo", "Echo", enc.encode(`r${i}`));
              const r = await within(raw.readResponse(), 5000, `round ${round} reply`);
              if (r === null) break; // the server may close the connection instead
              const legal = id % 2 === 1 && id > last;
              assertEquals(
                r.status?.code ?? Code.OK,
                legal ? Code.OK : Code.InvalidArgument,
                `round ${round}: stream ${id} after ${last}`,
              );
              if (legal) last = id;
            }
          }
        } finally {
          raw.close();
        }
        const echo = await within(
          good.call("test.Echo", "Echo", enc.encode(`ok${round}`)),
          5000,
          "echo",
        );
        assertEquals(new TextDecoder().decode(echo), `ok${round}`);
      }
    } finally {
      good.close();
      server.close();
      await served;
    }
  });
});
