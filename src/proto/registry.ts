/**
 * Message codecs for every .proto file under proto/, by joey's own protobuf
 * implementation (parser.ts, schema.ts, codec.ts, wire.ts): files are parsed
 * on first use, only those a name needs, once per process. It replaced the
 * npm protobuf library, whose import alone cost 70–100 ms per shim process
 * under Deno's npm layer. Field names stay as written in the .proto files
 * (snake_case), 64-bit integers become numbers, enums their names, and
 * decoding fills defaults, so callers see plain objects.
 * @module
 */
import { decodeMessage, encodeMessage } from "./codec.ts";
import { ProtoRegistry } from "./schema.ts";

/** Encoder/decoder for one message type. */
export interface MessageType<T = Record<string, unknown>> {
  readonly name: string;
  encode(message: Partial<T>): Uint8Array;
  /** Throws on malformed input (wrong wire types, truncated fields). */
  decode(bytes: Uint8Array): T;
}

/** The folder holding joey's .proto files. */
export const PROTO_DIR = decodeURIComponent(new URL("../../proto/", import.meta.url).pathname);

// Parsed lazily: the first lookup of a name reads only the files its package needs.
const registry = new ProtoRegistry(PROTO_DIR);

const cache = new Map<string, MessageType>();

/** The codec for a fully qualified message name, e.g. "containerd.task.v2.CreateTaskRequest". */
export function messageType<T = Record<string, unknown>>(fullName: string): MessageType<T> {
  let type = cache.get(fullName);
  if (!type) {
    const info = registry.message(fullName.startsWith(".") ? fullName.slice(1) : fullName);
    if (!info) throw new Error(`Unknown protobuf message "${fullName}"`);
    type = {
      name: fullName,
      encode: (message) => encodeMessage(info, message as Record<string, unknown>),
      decode: (bytes) => decodeMessage(info, bytes),
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
