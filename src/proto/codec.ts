/**
 * Encode and decode driven by schema descriptors, with the plain-object
 * conventions joey's callers were written against (the npm library's toObject with
 * keepCase, longs: Number, enums: String, defaults, arrays, oneofs):
 * - decode fills defaults ("" / 0 / false / first enum name / empty bytes),
 *   repeated → [], map → {}, unset message → null; oneof members are present
 *   only when set, with the oneof's name holding the member's name;
 * - encode skips null/undefined everywhere and proto3 default scalars
 *   outside oneofs, packs repeated numbers, writes fields by number.
 * Decoding treats its input as hostile: wrong wire types, truncation,
 * invalid UTF-8, groups and nesting deeper than MAX_DEPTH all throw.
 * @module
 */
import { Kind, type MessageInfo, type ValueInfo, wireTypeOf } from "./schema.ts";
import { ProtoDecodeError, Reader, s64ToNumber, u64ToNumber, WireType, Writer } from "./wire.ts";

/** Deepest message nesting accepted either way (protoc's default recursion limit). */
export const MAX_DEPTH = 100;

/**
 * Decoding fills defaults, so a 2-byte empty sub-message can become an
 * object of dozens of properties: a hostile peer could turn a 4 MiB frame
 * into gigabytes. Each decode may create at most this many values (object
 * properties, list and map elements) plus EXPANSION per input byte.
 */
export const VALUE_BUDGET_FLOOR = 4096;
/** Values allowed per input byte beyond the floor; real messages stay well below 1. */
export const EXPANSION = 4;

/** A message's default-filled object, paid for from the reader's value budget. */
function fresh(t: MessageInfo, r: Reader): Obj {
  spend(r, t.fields.length + 1);
  return defaults(t);
}

function spend(r: Reader, n: number): void {
  if ((r.budget -= n) < 0) {
    throw new ProtoDecodeError(
      `Message expands to more than ${VALUE_BUDGET_FLOOR} + ${EXPANSION} values per byte`,
    );
  }
}

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------- decode

/** A message object with every non-oneof field at its default. */
export function defaults(t: MessageInfo): Obj {
  const obj: Obj = {};
  for (const f of t.fields) {
    if (f.oneof !== undefined) continue;
    if (f.mapKey !== undefined) obj[f.name] = {};
    else if (f.repeated) obj[f.name] = [];
    else obj[f.name] = defaultValue(f);
  }
  return obj;
}

function defaultValue(v: ValueInfo): unknown {
  switch (v.kind) {
    case Kind.STRING:
      return "";
    case Kind.BOOL:
      return false;
    case Kind.BYTES:
      return new Uint8Array(0);
    case Kind.ENUM:
      return v.enumInfo!.defaultName;
    case Kind.MESSAGE:
      return null;
    default:
      return 0;
  }
}

/** Decodes a whole buffer as message t. */
export function decodeMessage(t: MessageInfo, bytes: Uint8Array): Obj {
  const r = new Reader(bytes);
  r.budget = VALUE_BUDGET_FLOOR + EXPANSION * bytes.length;
  return decodeInto(t, r, bytes.length, fresh(t, r), 0);
}

function decodeInto(t: MessageInfo, r: Reader, end: number, obj: Obj, depth: number): Obj {
  if (depth > MAX_DEPTH) throw new ProtoDecodeError(`Messages nested deeper than ${MAX_DEPTH}`);
  const outerEnd = r.end;
  r.end = end;
  while (r.pos < end) {
    const at = r.pos;
    const { lo: tag, hi } = r.varint64();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (hi !== 0 || number === 0) {
      throw new ProtoDecodeError(`Invalid field number at offset ${at} in "${t.fullName}"`);
    }
    const f = t.byNumber.get(number);
    if (f === undefined) {
      r.skip(wireType);
      continue;
    }
    if (f.mapKey !== undefined) {
      expectWire(f.label, wireType, WireType.LEN, at);
      spend(r, 1);
      decodeMapEntry(f.mapKey, f, r, obj[f.name] as Obj, depth);
    } else if (f.repeated) {
      const list = obj[f.name] as unknown[];
      if (wireType === WireType.LEN && f.packable) {
        const n = r.length();
        const stop = r.pos + n;
        r.end = stop;
        while (r.pos < stop) {
          spend(r, 1);
          list.push(readValue(f, r, depth));
        }
        r.end = end;
      } else {
        expectWire(f.label, wireType, f.wireType, at);
        spend(r, 1);
        list.push(readValue(f, r, depth));
      }
    } else {
      expectWire(f.label, wireType, f.wireType, at);
      if (f.kind === Kind.MESSAGE) {
        // A repeated occurrence of a message field merges into the first.
        const prior = obj[f.name];
        const n = r.length();
        obj[f.name] = decodeInto(
          f.message!,
          r,
          r.pos + n,
          prior !== null && typeof prior === "object" ? prior as Obj : fresh(f.message!, r),
          depth + 1,
        );
        r.end = end;
      } else obj[f.name] = readValue(f, r, depth);
      if (f.oneof !== undefined) setOneof(t, obj, f.oneof, f.name);
    }
  }
  r.end = outerEnd;
  return obj;
}

/** Records which member of a oneof is set, clearing any other member seen before. */
function setOneof(t: MessageInfo, obj: Obj, oneof: string, name: string): void {
  for (const g of t.fields) {
    if (g.oneof === oneof && g.name !== name && g.name in obj) delete obj[g.name];
  }
  obj[oneof] = name;
}

function expectWire(label: string, got: number, want: number, at: number): void {
  if (got !== want) {
    throw new ProtoDecodeError(
      `Field "${label}" at offset ${at} has wire type ${got}, expected ${want}`,
    );
  }
}

/** One value of kind v.kind at r (length-prefixed for messages). */
function readValue(v: ValueInfo, r: Reader, depth: number): unknown {
  switch (v.kind) {
    case Kind.DOUBLE:
      return r.double();
    case Kind.FLOAT:
      return r.float();
    case Kind.INT64: {
      const { lo, hi } = r.varint64();
      return s64ToNumber(lo, hi);
    }
    case Kind.UINT64: {
      const { lo, hi } = r.varint64();
      return u64ToNumber(lo, hi);
    }
    case Kind.SINT64: {
      const { lo, hi } = r.varint64();
      const mask = -(lo & 1);
      return s64ToNumber((((lo >>> 1) | (hi << 31)) ^ mask) >>> 0, ((hi >>> 1) ^ mask) >>> 0);
    }
    case Kind.FIXED64: {
      const { lo, hi } = r.fixed64();
      return u64ToNumber(lo, hi);
    }
    case Kind.SFIXED64: {
      const { lo, hi } = r.fixed64();
      return s64ToNumber(lo, hi);
    }
    case Kind.INT32:
      return r.varint32() | 0;
    case Kind.UINT32:
      return r.varint32();
    case Kind.SINT32: {
      const n = r.varint32();
      return (n >>> 1) ^ -(n & 1);
    }
    case Kind.FIXED32:
      return r.fixed32();
    case Kind.SFIXED32:
      return r.fixed32() | 0;
    case Kind.BOOL: {
      const { lo, hi } = r.varint64();
      return lo !== 0 || hi !== 0;
    }
    case Kind.STRING:
      return r.string();
    case Kind.BYTES:
      return r.bytesField();
    case Kind.ENUM: {
      const n = r.varint32() | 0;
      return v.enumInfo!.byNumber.get(n) ?? n;
    }
    case Kind.MESSAGE: {
      const outer = r.end;
      const n = r.length();
      const out = decodeInto(v.message!, r, r.pos + n, fresh(v.message!, r), depth + 1);
      r.end = outer;
      return out;
    }
  }
}

function decodeMapEntry(
  keyKind: Kind,
  f: ValueInfo & { label: string },
  r: Reader,
  map: Obj,
  depth: number,
) {
  const outer = r.end;
  const n = r.length();
  const end = r.pos + n;
  r.end = end;
  const keyInfo: ValueInfo = { kind: keyKind, wireType: wireTypeOf(keyKind) };
  let key: unknown = defaultValue(keyInfo);
  let value: unknown = undefined;
  while (r.pos < end) {
    const at = r.pos;
    const { lo: tag, hi } = r.varint64();
    if (hi !== 0 || tag >>> 3 === 0) {
      throw new ProtoDecodeError(`Invalid field number at offset ${at} in map "${f.label}"`);
    }
    const wireType = tag & 7;
    if (tag >>> 3 === 1) {
      expectWire(`${f.label} (key)`, wireType, keyInfo.wireType, at);
      key = readValue(keyInfo, r, depth);
    } else if (tag >>> 3 === 2) {
      expectWire(`${f.label} (value)`, wireType, f.wireType, at);
      value = readValue(f, r, depth);
      r.end = end;
    } else r.skip(wireType);
  }
  r.end = outer;
  if (value === undefined) value = f.kind === Kind.MESSAGE ? fresh(f.message!, r) : defaultValue(f);
  const k = String(key);
  // A "__proto__" key must become an own property, never the object's prototype.
  if (k === "__proto__") {
    Object.defineProperty(map, k, { value, enumerable: true, writable: true, configurable: true });
  } else map[k] = value;
}

// ---------------------------------------------------------------- encode

/** One writer reused across calls (its buffer keeps the largest size seen, up to 1 MiB). */
let scratch: Writer | undefined = new Writer(1024);

/** Encodes obj as message t. */
export function encodeMessage(t: MessageInfo, obj: Obj): Uint8Array {
  // A getter or toString() in obj could call encode again: that call gets a fresh writer.
  const w = scratch ?? new Writer(256);
  scratch = undefined;
  w.pos = 0;
  try {
    writeFields(t, obj, w, 0);
    return w.buf.slice(0, w.pos);
  } finally {
    if (w.buf.length <= 1 << 20) scratch = w;
  }
}

function writeFields(t: MessageInfo, obj: Obj, w: Writer, depth: number): void {
  if (depth > MAX_DEPTH) throw new RangeError(`Messages nested deeper than ${MAX_DEPTH}`);
  let oneofsSet: Set<string> | undefined;
  for (const f of t.fields) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    if (f.mapKey !== undefined) {
      if (!v) continue;
      if (typeof v !== "object") throw new TypeError(`${f.label}: object expected`);
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as Obj);
      for (const [key, value] of entries) {
        if (value === undefined || value === null) {
          throw new TypeError(
            `${f.label}: map value for key ${JSON.stringify(String(key))} is ${value}`,
          );
        }
        w.uint32(f.tag);
        const start = w.fork();
        // Entries carry key and value even when they are defaults, as other encoders do.
        writeField(f.mapKey, 1, mapKey(f.mapKey, key, f.label), f, w, false, depth);
        writeField(f.kind, 2, value, f, w, false, depth);
        w.join(start);
      }
    } else if (f.repeated) {
      if (!v) continue;
      if (!Array.isArray(v)) throw new TypeError(`${f.label}: array expected`);
      if (v.length === 0) continue;
      for (const item of v) {
        if (item === undefined || item === null) throw new TypeError(`${f.label}: null element`);
      }
      if (f.packed) {
        w.uint32((f.number << 3 | WireType.LEN) >>> 0);
        const start = w.fork();
        for (const item of v) writeCoerced(f.kind, coerce(f.kind, item, f), w);
        w.join(start);
      } else {
        for (const item of v) writeField(f.kind, f.number, item, f, w, false, depth);
      }
    } else if (f.oneof !== undefined) {
      // Explicit presence: a set member travels even when it holds a default.
      oneofsSet ??= new Set();
      if (oneofsSet.has(f.oneof)) {
        throw new TypeError(`${t.fullName}: more than one field of oneof "${f.oneof}" is set`);
      }
      oneofsSet.add(f.oneof);
      writeField(f.kind, f.number, v, f, w, false, depth);
    } else {
      writeField(f.kind, f.number, v, f, w, true, depth);
    }
  }
}

/** A JS value converted for the wire: a number, string or bytes; 64-bit kinds leave theirs in `u64`. */
type Coerced = number | string | Uint8Array;

/**
 * Tag plus value; with skipDefault (proto3 implicit presence) a default
 * value writes nothing. `info` carries the enum or message type and the label.
 */
function writeField(
  kind: Kind,
  number: number,
  v: unknown,
  info: ValueInfo & { label: string },
  w: Writer,
  skipDefault: boolean,
  depth: number,
): void {
  if (kind === Kind.MESSAGE) {
    if (typeof v !== "object" || v === null) throw new TypeError(`${info.label}: object expected`);
    w.uint32((number << 3 | WireType.LEN) >>> 0);
    const start = w.fork();
    writeFields(info.message!, v as Obj, w, depth + 1);
    w.join(start);
    return;
  }
  const c = coerce(kind, v, info);
  if (skipDefault && isZero(kind, c)) return;
  w.uint32((number << 3 | wireTypeOf(kind)) >>> 0);
  writeCoerced(kind, c, w);
}

/** Converts a caller's value the way the npm library's fromObject did (Number, `| 0`, String, ...). */
function coerce(kind: Kind, v: unknown, info: ValueInfo & { label: string }): Coerced {
  switch (kind) {
    case Kind.DOUBLE:
    case Kind.FLOAT:
      return Number(v);
    case Kind.BOOL:
      return v ? 1 : 0;
    case Kind.STRING:
      return String(v);
    case Kind.BYTES:
      return toBytes(v, info.label);
    case Kind.ENUM:
      return enumNumber(v, info, info.label);
    case Kind.INT64:
    case Kind.UINT64:
    case Kind.SINT64:
    case Kind.FIXED64:
    case Kind.SFIXED64:
      toU64(v, kind === Kind.UINT64 || kind === Kind.FIXED64, info.label);
      return 0;
    default:
      return int32Of(kind, v);
  }
}

/** Whether a coerced value is its type's proto3 default (-0.0 is not: it has a sign bit to keep). */
function isZero(kind: Kind, c: Coerced): boolean {
  if (typeof c === "string") return c === "";
  if (typeof c !== "number") return c.length === 0;
  if (
    kind === Kind.INT64 || kind === Kind.UINT64 || kind === Kind.SINT64 || kind === Kind.FIXED64 ||
    kind === Kind.SFIXED64
  ) {
    return u64.lo === 0 && u64.hi === 0;
  }
  return c === 0 && !Object.is(c, -0);
}

/** A coerced value without its tag. */
function writeCoerced(kind: Kind, c: Coerced, w: Writer): void {
  switch (kind) {
    case Kind.DOUBLE:
      w.double(c as number);
      return;
    case Kind.FLOAT:
      w.float(c as number);
      return;
    case Kind.INT32:
    case Kind.ENUM:
      w.int32(c as number);
      return;
    case Kind.UINT32:
    case Kind.BOOL:
      w.uint32(c as number);
      return;
    case Kind.SINT32: {
      const n = c as number;
      w.uint32((n << 1) ^ (n >> 31));
      return;
    }
    case Kind.FIXED32:
    case Kind.SFIXED32:
      w.fixed32(c as number);
      return;
    case Kind.INT64:
    case Kind.UINT64:
      w.varint64(u64.lo, u64.hi);
      return;
    case Kind.SINT64: {
      const { lo, hi } = u64;
      const mask = hi >> 31;
      w.varint64((lo << 1) ^ mask, ((hi << 1) | (lo >>> 31)) ^ mask);
      return;
    }
    case Kind.FIXED64:
    case Kind.SFIXED64:
      w.fixed64(u64.lo, u64.hi);
      return;
    case Kind.STRING:
      w.string(c as string);
      return;
    case Kind.BYTES:
      w.bytes(c as Uint8Array);
      return;
    case Kind.MESSAGE:
      throw new TypeError("Messages are written by writeField");
  }
}

/** 32-bit integer coercion as the npm library's fromObject did it (`| 0` or `>>> 0`). */
function int32Of(kind: Kind, v: unknown): number {
  const n = typeof v === "bigint" ? Number(BigInt.asIntN(32, v)) : Number(v);
  return kind === Kind.UINT32 || kind === Kind.FIXED32 ? n >>> 0 : n | 0;
}

function enumNumber(v: unknown, info: ValueInfo, label: string): number {
  if (typeof v === "number") return v | 0;
  if (typeof v === "string") {
    const n = info.enumInfo!.byName.get(v);
    if (n === undefined) {
      throw new TypeError(`${label}: "${v}" is not a value of enum ${info.enumInfo!.fullName}`);
    }
    return n;
  }
  throw new TypeError(`${label}: enum name or number expected, got ${typeof v}`);
}

/** Scratch output of toU64 (the encoder is synchronous, so one suffices). */
const u64 = { lo: 0, hi: 0 };
const TWO_32 = 4294967296;
const TWO_63 = 9223372036854775808;
const TWO_64 = 18446744073709551616;

/**
 * Splits a 64-bit value into two's-complement halves in `u64`. Numbers are
 * truncated and clamped to the type's range (as Long.fromValue does);
 * bigints and decimal strings wrap modulo 2^64.
 */
function toU64(v: unknown, unsigned: boolean, label: string): void {
  if (typeof v === "number" || typeof v === "boolean") {
    let n = Math.trunc(Number(v));
    if (Number.isNaN(n)) n = 0;
    if (unsigned) n = n < 0 ? 0 : n >= TWO_64 ? TWO_64 - 1 : n;
    else n = n < -TWO_63 ? -TWO_63 : n >= TWO_63 ? TWO_63 - 1 : n;
    const a = Math.abs(n);
    let hi = Math.floor(a / TWO_32);
    let lo = a - hi * TWO_32;
    if (a >= TWO_64) { // TWO_64 - 1 rounds up to TWO_64 as a double
      hi = 0xffffffff;
      lo = 0xffffffff;
    }
    if (n < 0) {
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    u64.lo = lo >>> 0;
    u64.hi = hi >>> 0;
    return;
  }
  let big: bigint;
  if (typeof v === "bigint") big = v;
  else if (typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v)) big = BigInt(v.trim());
  else if (typeof v === "object" && v !== null && "low" in v && "high" in v) {
    const l = v as { low: number; high: number };
    u64.lo = l.low >>> 0;
    u64.hi = l.high >>> 0;
    return;
  } else throw new TypeError(`${label}: integer expected, got ${JSON.stringify(String(v))}`);
  big = BigInt.asUintN(64, big);
  u64.lo = Number(big & 0xffffffffn);
  u64.hi = Number(big >> 32n);
}

function toBytes(v: unknown, label: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (Array.isArray(v)) return Uint8Array.from(v as number[]);
  if (typeof v === "string") {
    // Base64 text is accepted for bytes fields, as the npm library did.
    try {
      return Uint8Array.from(atob(v), (c) => c.charCodeAt(0));
    } catch {
      throw new TypeError(`${label}: bytes expected, got a string that is not base64`);
    }
  }
  throw new TypeError(`${label}: bytes expected, got ${typeof v}`);
}

/** Map keys arrive as object property names (strings); convert to the key kind. */
function mapKey(kind: Kind, key: unknown, label: string): unknown {
  if (kind === Kind.STRING) return String(key);
  if (kind === Kind.BOOL) {
    if (key === true || key === "true") return true;
    if (key === false || key === "false") return false;
    throw new TypeError(`${label}: map key ${JSON.stringify(String(key))} is not a bool`);
  }
  if (typeof key === "number" || typeof key === "bigint") return key;
  const s = String(key);
  if (!/^\s*[+-]?\d+\s*$/.test(s)) {
    throw new TypeError(`${label}: map key ${JSON.stringify(s)} is not an integer`);
  }
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s.trim());
}
