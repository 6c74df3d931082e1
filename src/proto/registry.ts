/**
 * Message codecs for every .proto file under proto/, loaded once with
 * protobufjs (the library under @grpc/proto-loader). Field names stay as written in the .proto
 * files (snake_case), 64-bit integers become numbers, enums their names, and
 * decoding fills defaults, so callers see plain objects.
 * @module
 */
import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";

/** Encoder/decoder for one message type. */
export interface MessageType<T = Record<string, unknown>> {
  readonly name: string;
  encode(message: Partial<T>): Uint8Array;
  /** Throws on malformed input (wrong wire types, truncated fields). */
  decode(bytes: Uint8Array): T;
}

/** The folder holding joey's .proto files. */
export const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));

function listProtoFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir + prefix)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) out.push(...listProtoFiles(dir, rel + "/"));
    else if (entry.name.endsWith(".proto")) out.push(rel);
  }
  return out.sort();
}

let root: protobuf.Root | undefined;

function loadAll(): protobuf.Root {
  if (!root) {
    const r = new protobuf.Root();
    // Imports resolve against proto/; google/protobuf/* come from protobufjs.
    r.resolvePath = (_origin, target) =>
      target.startsWith("google/protobuf/") ? target : PROTO_DIR + target;
    r.loadSync(listProtoFiles(PROTO_DIR), { keepCase: true });
    r.resolveAll();
    root = r;
  }
  return root;
}

const conversion: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
};

const cache = new Map<string, MessageType>();

/** The codec for a fully qualified message name, e.g. "containerd.task.v2.CreateTaskRequest". */
export function messageType<T = Record<string, unknown>>(fullName: string): MessageType<T> {
  let type = cache.get(fullName);
  if (!type) {
    let pbType: protobuf.Type;
    try {
      pbType = loadAll().lookupType(fullName);
    } catch {
      throw new Error(`Unknown protobuf message "${fullName}"`);
    }
    type = {
      name: fullName,
      encode: (message) => pbType.encode(pbType.fromObject(message)).finish(),
      decode: (bytes) => pbType.toObject(pbType.decode(bytes), conversion),
    };
    cache.set(fullName, type);
  }
  return type as MessageType<T>;
}

/** google.protobuf.Any as decoded. */
export interface Any {
  type_url: string;
  value: Uint8Array;
}

/** google.protobuf.Timestamp as decoded. */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** A Date as a protobuf Timestamp. */
export function toTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/** A protobuf Timestamp as a Date. */
export function fromTimestamp(ts: Timestamp | null | undefined): Date | null {
  if (!ts) return null;
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6));
}

/** Packs a message into an Any whose type_url is the bare full name, as containerd does. */
export function packAny(fullName: string, message: Record<string, unknown>): Any {
  return { type_url: fullName, value: messageType(fullName).encode(message) };
}
