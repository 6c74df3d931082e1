/**
 * ttrpc framing (PROTOCOLS.md §1): a 10-byte big-endian header — data length
 * (u32, at most 4 MiB), stream id (u32), type (u8), flags (u8) — then the
 * data. Shared by the server and the client.
 * @module
 */

/** Largest data length either side sends or accepts. */
export const MAX_MESSAGE_LENGTH = 4 << 20;
export const HEADER_LENGTH = 10;

export const MessageType = { Request: 1, Response: 2, Data: 3 } as const;

/** One frame as read. `oversized` frames had their data discarded. */
export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  data: Uint8Array;
  /** The declared length exceeded MAX_MESSAGE_LENGTH; data is empty. */
  oversized: boolean;
  length: number;
}

/** The byte stream a frame reader needs (a Deno.Conn fits). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}

/** The byte stream a frame writer needs (a Deno.Conn fits). */
export interface ByteWriter {
  write(p: Uint8Array): Promise<number>;
}

/** The connection ended in the middle of a frame. */
export class TruncatedFrameError extends Error {
  constructor(expected: number, got: number) {
    super(`ttrpc: connection closed mid-frame (${got} of ${expected} bytes)`);
    this.name = "TruncatedFrameError";
  }
}

/** Encodes a frame header followed by its data. */
export function encodeFrame(
  streamId: number,
  type: number,
  flags: number,
  data: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  view.setUint32(4, streamId);
  out[8] = type;
  out[9] = flags;
  out.set(data, HEADER_LENGTH);
  return out;
}

/** Reads whole frames from a byte stream, buffering as needed. */
export class FrameReader {
  #source: ByteReader;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  constructor(source: ByteReader) {
    this.#source = source;
  }

  /** Fills the buffer until it holds n bytes; false on EOF. */
  async #fill(n: number): Promise<boolean> {
    if (this.#end - this.#start >= n) return true;
    if (this.#buf.length - this.#start < n) {
      const size = Math.max(n, this.#buf.length);
      const next = new Uint8Array(size);
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = next;
    }
    while (this.#end - this.#start < n) {
      const got = await this.#source.read(this.#buf.subarray(this.#end));
      if (got === null) return false;
      this.#end += got;
    }
    return true;
  }

  /** Skips n bytes without keeping them. */
  async #discard(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const have = this.#end - this.#start;
      if (have === 0) {
        this.#start = this.#end = 0;
        const got = await this.#source.read(this.#buf);
        if (got === null) throw new TruncatedFrameError(n, n - left);
        this.#end = got;
        continue;
      }
      const step = Math.min(have, left);
      this.#start += step;
      left -= step;
    }
  }

  /**
   * The next frame, or null at a clean end of stream (between frames).
   * Throws TruncatedFrameError when the stream ends inside a frame.
   */
  async next(): Promise<Frame | null> {
    if (!(await this.#fill(HEADER_LENGTH))) {
      if (this.#end - this.#start === 0) return null;
      throw new TruncatedFrameError(HEADER_LENGTH, this.#end - this.#start);
    }
    const view = new DataView(this.#buf.buffer, this.#start, HEADER_LENGTH);
    const length = view.getUint32(0);
    const streamId = view.getUint32(4);
    const type = this.#buf[this.#start + 8]!;
    const flags = this.#buf[this.#start + 9]!;
    this.#start += HEADER_LENGTH;
    if (length > MAX_MESSAGE_LENGTH) {
      await this.#discard(length);
      return { streamId, type, flags, data: new Uint8Array(0), oversized: true, length };
    }
    if (!(await this.#fill(length))) {
      throw new TruncatedFrameError(length, this.#end - this.#start);
    }
    const data = this.#buf.slice(this.#start, this.#start + length);
    this.#start += length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { streamId, type, flags, data, oversized: false, length };
  }
}

/** Writes whole frames, one at a time, so concurrent senders never interleave. */
export class FrameWriter {
  #sink: ByteWriter;
  #tail: Promise<void> = Promise.resolve();

  constructor(sink: ByteWriter) {
    this.#sink = sink;
  }

  write(streamId: number, type: number, flags: number, data: Uint8Array): Promise<void> {
    const bytes = encodeFrame(streamId, type, flags, data);
    const done = this.#tail.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await this.#sink.write(bytes.subarray(off));
    });
    this.#tail = done.catch(() => {});
    return done;
  }
}
