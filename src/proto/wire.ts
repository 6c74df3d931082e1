/**
 * Protobuf wire format: a strict reader over a byte array and a growable
 * writer. 64-bit integers travel as two unsigned 32-bit halves (lo, hi) so
 * that the hot path never needs BigInt. The reader trusts nothing: every
 * varint, length and fixed-width read is checked against the end of the
 * current message and throws an Error instead of reading past it.
 * @module
 */

/** Wire types (the low three bits of a tag). */
export const WireType = {
  VARINT: 0,
  I64: 1,
  LEN: 2,
  SGROUP: 3,
  EGROUP: 4,
  I32: 5,
} as const;

const TWO_32 = 4294967296;

/** A 64-bit value read as halves; reused to avoid allocating per read. */
export interface U64 {
  lo: number;
  hi: number;
}

/** Thrown for malformed input; a plain Error subclass so callers can tell it apart. */
export class ProtoDecodeError extends Error {
  override name = "ProtoDecodeError";
}

// Strings in proto3 must be valid UTF-8 (as Go's proto runtime enforces).
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Reads protobuf primitives from bytes[pos, end), throwing on anything out of bounds. */
export class Reader {
  pos: number;
  end: number;
  readonly #view: DataView;
  /** Values the decoder may still create (see codec.ts); the reader itself only carries it. */
  budget = Infinity;
  /** Halves of the last 64-bit read (varint64 / fixed64). */
  readonly u64: U64 = { lo: 0, hi: 0 };

  constructor(readonly bytes: Uint8Array) {
    this.pos = 0;
    this.end = bytes.length;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads a varint into this.u64; at most 10 bytes, no bits past 64. */
  varint64(): U64 {
    const b = this.bytes;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let byte = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= this.end) throw this.#truncated("varint");
      byte = b[pos++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.#done64(pos, lo >>> 0, 0);
    }
    // Fifth byte: 4 bits into lo, 3 into hi.
    if (pos >= this.end) throw this.#truncated("varint");
    byte = b[pos++]!;
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x7f) >> 4;
    if (byte < 0x80) return this.#done64(pos, lo >>> 0, hi);
    for (let shift = 3; shift < 31; shift += 7) {
      if (pos >= this.end) throw this.#truncated("varint");
      byte = b[pos++]!;
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.#done64(pos, lo >>> 0, hi >>> 0);
    }
    // Tenth byte carries only bit 63.
    if (pos >= this.end) throw this.#truncated("varint");
    byte = b[pos++]!;
    if (byte > 1) throw new ProtoDecodeError(`Varint overflows 64 bits at offset ${this.pos}`);
    hi |= byte << 31;
    return this.#done64(pos, lo >>> 0, hi >>> 0);
  }

  #done64(pos: number, lo: number, hi: number): U64 {
    this.pos = pos;
    this.u64.lo = lo;
    this.u64.hi = hi;
    return this.u64;
  }

  /** A varint truncated to its low 32 bits, unsigned (the int32/uint32/enum rule). */
  varint32(): number {
    // Fast path: one byte, the common case for tags and small values.
    if (this.pos < this.end) {
      const byte = this.bytes[this.pos]!;
      if (byte < 0x80) {
        this.pos++;
        return byte;
      }
    }
    return this.varint64().lo;
  }

  /** A length prefix that must fit in what is left of the current message. */
  length(): number {
    const start = this.pos;
    const { lo, hi } = this.varint64();
    if (hi !== 0 || lo > this.end - this.pos) {
      throw new ProtoDecodeError(
        `Length ${hi * TWO_32 + lo} at offset ${start} runs past the end of the message (${
          this.end - this.pos
        } bytes left)`,
      );
    }
    return lo;
  }

  fixed32(): number {
    if (this.end - this.pos < 4) throw this.#truncated("fixed32");
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads 8 bytes into this.u64. */
  fixed64(): U64 {
    if (this.end - this.pos < 8) throw this.#truncated("fixed64");
    const lo = this.#view.getUint32(this.pos, true);
    const hi = this.#view.getUint32(this.pos + 4, true);
    return this.#done64(this.pos + 8, lo, hi);
  }

  float(): number {
    if (this.end - this.pos < 4) throw this.#truncated("float");
    const v = this.#view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.end - this.pos < 8) throw this.#truncated("double");
    const v = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited byte string, copied so it outlives the input buffer. */
  bytesField(): Uint8Array {
    const n = this.length();
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A length-delimited UTF-8 string; invalid UTF-8 is an error. */
  string(): string {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    const b = this.bytes;
    // ASCII fast path: short field names and ids dominate.
    if (n <= 64) {
      let ascii = true;
      for (let i = start; i < start + n; i++) {
        if (b[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, b.subarray(start, start + n) as never);
    }
    try {
      return utf8Decoder.decode(b.subarray(start, start + n));
    } catch {
      throw new ProtoDecodeError(`Invalid UTF-8 in string at offset ${start}`);
    }
  }

  /** Skips the value of an unknown field; groups are rejected (proto3 has none). */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.VARINT:
        this.varint64();
        return;
      case WireType.I64:
        if (this.end - this.pos < 8) throw this.#truncated("fixed64");
        this.pos += 8;
        return;
      case WireType.LEN: {
        // Not `this.pos += this.length()`: that would add to pos as it was before the prefix.
        const n = this.length();
        this.pos += n;
        return;
      }
      case WireType.I32:
        if (this.end - this.pos < 4) throw this.#truncated("fixed32");
        this.pos += 4;
        return;
      default:
        throw new ProtoDecodeError(
          wireType === WireType.SGROUP || wireType === WireType.EGROUP
            ? `Group wire type ${wireType} at offset ${this.pos} is not supported`
            : `Invalid wire type ${wireType} at offset ${this.pos}`,
        );
    }
  }

  #truncated(what: string): ProtoDecodeError {
    return new ProtoDecodeError(`Truncated ${what} at offset ${this.pos}`);
  }
}

/** Appends protobuf primitives to a buffer that grows by doubling. */
export class Writer {
  buf: Uint8Array;
  pos = 0;
  #view: DataView;

  constructor(initial = 128) {
    this.buf = new Uint8Array(initial);
    this.#view = new DataView(this.buf.buffer);
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** An unsigned 32-bit varint (tags, lengths, uint32). */
  uint32(v: number): void {
    this.reserve(5);
    const b = this.buf;
    v >>>= 0;
    while (v >= 0x80) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[this.pos++] = v;
  }

  /** A signed 32-bit varint: negatives are sign-extended to ten bytes, as protoc does. */
  int32(v: number): void {
    if (v >= 0) this.uint32(v);
    else this.varint64(v >>> 0, 0xffffffff);
  }

  /** A 64-bit varint from its halves. */
  varint64(lo: number, hi: number): void {
    this.reserve(10);
    const b = this.buf;
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo >= 0x80) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  fixed32(v: number): void {
    this.reserve(4);
    this.#view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.reserve(8);
    this.#view.setUint32(this.pos, lo >>> 0, true);
    this.#view.setUint32(this.pos + 4, hi >>> 0, true);
    this.pos += 8;
  }

  float(v: number): void {
    this.reserve(4);
    this.#view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  double(v: number): void {
    this.reserve(8);
    this.#view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Length-prefixed raw bytes. */
  bytes(v: Uint8Array): void {
    this.uint32(v.length);
    this.reserve(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Length-prefixed UTF-8. */
  string(v: string): void {
    const len = v.length;
    if (len < 0x80) {
      // Short ASCII (ids, paths, names): copy the units, one-byte length prefix.
      this.reserve(1 + len);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = p;
        return;
      }
    }
    // UTF-8 needs at most 3 bytes per UTF-16 unit; encode in place, then fix the prefix.
    const max = len * 3;
    const start = this.fork(max);
    const { written } = utf8Encoder.encodeInto(v, this.buf.subarray(this.pos, this.pos + max));
    this.pos += written;
    this.join(start);
  }

  /**
   * Starts a length-delimited body: reserves one byte for the length (the
   * usual case) plus room for `hint` more, and returns the body's start.
   */
  fork(hint = 0): number {
    this.reserve(1 + hint);
    this.pos += 1;
    return this.pos;
  }

  /** Ends a body started with fork(): writes its length, moving the body if the prefix needs more than one byte. */
  join(start: number): void {
    const len = this.pos - start;
    if (len < 0x80) {
      this.buf[start - 1] = len;
      return;
    }
    let extra = 0;
    for (let v = len >>> 7; v > 0; v >>>= 7) extra++;
    this.reserve(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    const end = this.pos + extra;
    this.pos = start - 1;
    this.uint32(len);
    this.pos = end;
  }
}

/** Unsigned halves to a JS number (exact below 2^53, rounded above). */
export function u64ToNumber(lo: number, hi: number): number {
  return hi * TWO_32 + lo;
}

/** Two's-complement halves to a signed JS number. */
export function s64ToNumber(lo: number, hi: number): number {
  if (hi >>> 31) {
    // Negate: ~x + 1 across both halves.
    lo = (~lo + 1) >>> 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    return -(hi * TWO_32 + lo);
  }
  return hi * TWO_32 + lo;
}
