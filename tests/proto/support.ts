/**
 * Shared pieces of the proto tests: a seeded PRNG, a random-message
 * generator driven by joey's descriptors, protobufjs loaded the way the old
 * registry loaded it (the oracle), and normalisation for comparing the two.
 * @module
 */
import protobuf from "protobufjs";
import {
  Kind,
  type MessageInfo,
  type ProtoRegistry,
  type ValueInfo,
} from "../../src/proto/schema.ts";

/** protobufjs's toObject options the old registry used. */
export const CONVERSION: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
};

/** A small seeded PRNG (mulberry32), so failures reproduce. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const CHARS = ["a", "Z", "0", " ", "/", "é", "ß", "中", "€", "😀", "\n", "\u0000", "~"];
const INT32 = [0, 1, -1, 127, 128, 300, -300, 2147483647, -2147483648, 65535];
const UINT32 = [0, 1, 127, 128, 300, 65535, 2147483648, 4294967295];
const INT64 = [
  0,
  1,
  -1,
  300,
  2147483648,
  -2147483649,
  4294967296,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  2 ** 62,
  -(2 ** 63),
  2 ** 63 - 1024, // largest double below 2^63
];
const UINT64 = [
  0,
  1,
  300,
  4294967295,
  4294967296,
  Number.MAX_SAFE_INTEGER,
  2 ** 63,
  2 ** 64 - 2048,
];
const DOUBLES = [0, -0, 1.5, -2.25, 1e300, -1e-300, Math.PI, Infinity, -Infinity, NaN];

/** Options of the generator. */
export interface GenOptions {
  /** Include explicit default values for implicit-presence fields (encoders must skip them). */
  defaults: boolean;
  maxDepth: number;
}

/** A random plain object for message t, in the shape callers pass to encode. */
export function randomMessage(
  rng: Rng,
  t: MessageInfo,
  opts: GenOptions,
  depth = 0,
): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  const oneofsTaken = new Set<string>();
  for (const f of t.fields) {
    if (f.oneof !== undefined) {
      if (oneofsTaken.has(f.oneof) || !rng.chance(0.4)) continue;
      if (f.kind === Kind.MESSAGE && depth >= opts.maxDepth) continue;
      oneofsTaken.add(f.oneof);
      // Presence: a oneof member may be set to its default and must still travel.
      obj[f.name] = randomValue(rng, f, opts, depth);
      continue;
    }
    const roll = rng.next();
    if (roll < 0.25) continue; // absent
    if (roll < 0.3) {
      obj[f.name] = null;
      continue;
    }
    if (f.mapKey !== undefined) {
      if (!supportedMapKey(f.mapKey)) continue;
      if (f.kind === Kind.MESSAGE && depth >= opts.maxDepth) continue;
      const map: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) {
        map[String(randomKey(rng, f.mapKey))] = randomValue(rng, f, opts, depth);
      }
      obj[f.name] = map;
    } else if (f.repeated) {
      if (f.kind === Kind.MESSAGE && depth >= opts.maxDepth) continue;
      const list: unknown[] = [];
      for (let i = rng.int(5); i > 0; i--) list.push(randomValue(rng, f, opts, depth));
      obj[f.name] = list;
    } else if (f.kind === Kind.MESSAGE) {
      if (depth >= opts.maxDepth) continue;
      obj[f.name] = randomMessage(rng, f.message!, opts, depth + 1);
    } else {
      const v = randomValue(rng, f, opts, depth);
      if (!opts.defaults && isDefaultValue(f, v)) continue;
      obj[f.name] = v;
    }
  }
  return obj;
}

/** protobufjs turns bool and 64-bit map keys into strings it then mis-encodes; only compare the rest. */
export function supportedMapKey(k: Kind): boolean {
  return k === Kind.STRING || k === Kind.INT32 || k === Kind.UINT32 || k === Kind.SINT32 ||
    k === Kind.FIXED32 || k === Kind.SFIXED32;
}

function randomKey(rng: Rng, k: Kind): string | number {
  if (k === Kind.STRING) return randomString(rng);
  if (k === Kind.UINT32 || k === Kind.FIXED32) return rng.pick(UINT32);
  return rng.pick(INT32);
}

function randomString(rng: Rng): string {
  let s = "";
  for (let n = rng.int(12); n > 0; n--) s += rng.pick(CHARS);
  return s;
}

/** One random value of a field's kind. */
export function randomValue(rng: Rng, v: ValueInfo, opts: GenOptions, depth: number): unknown {
  switch (v.kind) {
    case Kind.DOUBLE:
      return rng.pick(DOUBLES);
    case Kind.FLOAT:
      return Math.fround(rng.pick(DOUBLES));
    case Kind.INT32:
    case Kind.SINT32:
    case Kind.SFIXED32:
      return rng.chance(0.4)
        ? rng.pick(INT32)
        : rng.chance(0.5)
        ? rng.int(9) - 4
        : rng.int(2000) - 1000;
    case Kind.UINT32:
    case Kind.FIXED32:
      return rng.chance(0.4) ? rng.pick(UINT32) : rng.chance(0.5) ? rng.int(9) : rng.int(100000);
    case Kind.INT64:
    case Kind.SINT64:
    case Kind.SFIXED64:
      // "|| 0": never -0, which is an integer zero to both encoders.
      return rng.chance(0.6)
        ? rng.pick(INT64)
        : (rng.int(2 ** 31) * (rng.chance(0.5) ? -1 : 1) * 1024 || 0);
    case Kind.UINT64:
    case Kind.FIXED64:
      return rng.chance(0.6) ? rng.pick(UINT64) : rng.int(2 ** 31) * 4096;
    case Kind.BOOL:
      return rng.chance(0.5);
    case Kind.STRING:
      return randomString(rng);
    case Kind.BYTES:
      return rng.bytes(rng.int(6));
    case Kind.ENUM: {
      const names = [...v.enumInfo!.byName.keys()];
      const roll = rng.next();
      if (roll < 0.7) return rng.pick(names);
      if (roll < 0.9) return v.enumInfo!.byName.get(rng.pick(names));
      return 1000 + rng.int(50); // unknown numbers stay numbers (open enums)
    }
    case Kind.MESSAGE:
      return randomMessage(rng, v.message!, opts, depth + 1);
  }
}

function isDefaultValue(v: ValueInfo, x: unknown): boolean {
  if (x instanceof Uint8Array) return x.length === 0;
  if (v.kind === Kind.ENUM) return x === 0 || x === v.enumInfo!.defaultName;
  return x === "" || x === false || Object.is(x, 0);
}

/** obj without implicit-presence fields at their default, recursively (what protobufjs needs to emit canonical bytes). */
export function stripDefaults(
  t: MessageInfo,
  obj: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of t.fields) {
    if (!(f.name in obj)) continue;
    const x = obj[f.name];
    if (x === null || x === undefined) continue;
    if (f.kind === Kind.MESSAGE && f.mapKey === undefined) {
      out[f.name] = f.repeated
        ? (x as Record<string, unknown>[]).map((m) => stripDefaults(f.message!, m))
        : stripDefaults(f.message!, x as Record<string, unknown>);
    } else if (f.mapKey !== undefined && f.kind === Kind.MESSAGE) {
      out[f.name] = Object.fromEntries(
        Object.entries(x as Record<string, Record<string, unknown>>).map((
          [k, m],
        ) => [k, stripDefaults(f.message!, m)]),
      );
    } else if (
      !f.repeated && f.mapKey === undefined && f.oneof === undefined && isDefaultValue(f, x)
    ) {
      continue;
    } else out[f.name] = x;
  }
  return out;
}

/** Deep copy with every byte array (Buffer included) as a plain Uint8Array, for deepStrictEqual. */
export function normalize(x: unknown): unknown {
  if (x instanceof Uint8Array) return Uint8Array.from(x);
  if (Array.isArray(x)) return x.map(normalize);
  if (x !== null && typeof x === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = normalize(v);
    return out;
  }
  return x;
}

/** protobufjs over the same files, as the old registry loaded them. */
export function loadProtobufjs(dir: string, registry: ProtoRegistry): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith("google/protobuf/") ? target : dir + target;
  // google/protobuf/* resolve to protobufjs's own copies of the well-known types.
  root.loadSync([...registry.files.keys()], { keepCase: true });
  root.resolveAll();
  return root;
}

/** protobufjs over sources given as strings (each parsed alone, then resolved together). */
export function protobufjsFromSources(sources: ReadonlyMap<string, string>): protobuf.Root {
  const root = new protobuf.Root();
  for (const src of sources.values()) protobuf.parse(src, root, { keepCase: true });
  root.resolveAll();
  return root;
}
