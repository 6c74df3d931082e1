/**
 * Hostile input: the decoder reads bytes from untrusted guests and the
 * network, so every malformed input must end in a ProtoDecodeError (never a
 * TypeError from inside the codec, a hang, a stack overflow or a huge
 * allocation), and well-formed unknown fields must be skipped.
 */
import { assert, assertEquals, assertIncludes, assertThrows } from "../lib/assert.ts";
import { messageType, PROTO_DIR } from "../../src/proto/registry.ts";
import {
  decodeMessage,
  encodeMessage,
  EXPANSION,
  MAX_DEPTH,
  VALUE_BUDGET_FLOOR,
} from "../../src/proto/codec.ts";
import { ProtoRegistry } from "../../src/proto/schema.ts";
import { ProtoDecodeError } from "../../src/proto/wire.ts";
import { randomMessage, Rng } from "./support.ts";
import { CORPUS } from "./corpus.ts";

const registry = new ProtoRegistry(PROTO_DIR);
registry.loadAll();
const corpus = new ProtoRegistry(
  null,
  new Map([...CORPUS, [
    "joeytest/node.proto",
    `syntax = "proto3";
package joeytest;
message Node { Node child = 1; string tag = 2; }
`,
  ]]),
);
corpus.loadAll();

/** Decodes; returns "ok" or "error", failing the test on anything but a ProtoDecodeError. */
function attempt(
  decode: (b: Uint8Array) => unknown,
  bytes: Uint8Array,
  what: string,
): "ok" | "error" {
  try {
    decode(bytes);
    return "ok";
  } catch (err) {
    if (err instanceof ProtoDecodeError) return "error";
    throw new Error(
      `${what}: expected ProtoDecodeError, got ${err instanceof Error ? err.stack : err}`,
    );
  }
}

function allTypes() {
  return [...registry.messages.values(), ...corpus.messages.values()];
}

Deno.test("proto decode: random bytes for every type end in a decode or a ProtoDecodeError", () => {
  const rng = new Rng(7);
  let errors = 0;
  let oks = 0;
  const started = performance.now();
  for (const info of allTypes()) {
    for (let i = 0; i < 60; i++) {
      const bytes = rng.bytes(rng.int(64));
      const r = attempt((b) => decodeMessage(info, b), bytes, `${info.fullName} random ${i}`);
      r === "ok" ? oks++ : errors++;
    }
  }
  console.log(
    `${oks} decoded, ${errors} rejected in ${(performance.now() - started).toFixed(0)} ms`,
  );
  assert(errors > 0 && oks > 0, "random input should produce both outcomes");
});

Deno.test("proto decode: every truncation and single-bit flip of valid messages is decoded or rejected cleanly", () => {
  const rng = new Rng(11);
  let rejected = 0;
  for (const info of allTypes()) {
    for (let i = 0; i < 8; i++) {
      const bytes = encodeMessage(info, randomMessage(rng, info, { defaults: false, maxDepth: 3 }));
      for (let n = 0; n < bytes.length; n++) {
        if (
          attempt(
            (b) => decodeMessage(info, b),
            bytes.subarray(0, n),
            `${info.fullName} prefix ${n}`,
          ) === "error"
        ) {
          rejected++;
        }
      }
      for (let k = 0; k < Math.min(bytes.length * 8, 64); k++) {
        const flipped = bytes.slice();
        const bit = rng.int(bytes.length * 8);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        attempt((b) => decodeMessage(info, b), flipped, `${info.fullName} flip ${bit}`);
      }
    }
  }
  assert(rejected > 100, `only ${rejected} truncations were rejected`);
});

Deno.test("proto decode: truncated fields are named errors", () => {
  const Req = messageType("ttrpc.Request");
  const full = Req.encode({
    service: "containerd.task.v2.Task",
    method: "Create",
    timeout_nano: 2 ** 40,
  });
  // Cut inside the service string, inside the method's length-delimited body, and inside the varint.
  for (const n of [3, 28, full.length - 1]) {
    const err = assertThrows(() => Req.decode(full.subarray(0, n)), ProtoDecodeError);
    assert(/Truncated|runs past the end/.test(err.message), err.message);
  }
  // A length far past the end (2^31) is rejected without allocating it.
  const huge = Uint8Array.of(0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x41);
  assertIncludes(
    assertThrows(() => Req.decode(huge), ProtoDecodeError).message,
    "runs past the end",
  );
  // An 11-byte varint, and a 10-byte one with bits past 64.
  const long = Uint8Array.of(0x20, ...new Array(10).fill(0xff), 0x01);
  assertThrows(() => Req.decode(long), ProtoDecodeError);
  const over = Uint8Array.of(0x20, ...new Array(9).fill(0xff), 0x02);
  assertIncludes(
    assertThrows(() => Req.decode(over), ProtoDecodeError).message,
    "overflows 64 bits",
  );
});

Deno.test("proto decode: wrong wire types for known fields are rejected with the field's name", () => {
  const Req = messageType("ttrpc.Request");
  // service (1) is a string: as a varint it is an error, not a silently misread value.
  assertIncludes(
    assertThrows(() => Req.decode(Uint8Array.of(0x08, 0x01)), ProtoDecodeError).message,
    "ttrpc.Request.service",
  );
  // timeout_nano (4) is int64: length-delimited is wrong.
  assertIncludes(
    assertThrows(() => Req.decode(Uint8Array.of(0x22, 0x00)), ProtoDecodeError).message,
    "ttrpc.Request.timeout_nano",
  );
  // metadata (5) is a message: a fixed32 is wrong.
  assertThrows(() => Req.decode(Uint8Array.of(0x2d, 1, 2, 3, 4)), ProtoDecodeError);
  // A map entry whose key has the wrong wire type.
  const Update = messageType("containerd.task.v2.UpdateTaskRequest");
  assertIncludes(
    assertThrows(() => Update.decode(Uint8Array.of(0x1a, 0x02, 0x08, 0x01)), ProtoDecodeError)
      .message,
    "annotations (key)",
  );
  // Packed repeated whose body cuts an element in half.
  const Usage = messageType("io.containerd.cgroups.v1.CPUUsage");
  assertEquals(Usage.decode(Uint8Array.of(0x22, 0x02, 0x01, 0x02)).per_cpu, [1, 2]);
  assertThrows(() => Usage.decode(Uint8Array.of(0x22, 0x02, 0x01, 0x80)), ProtoDecodeError);
});

Deno.test("proto decode: unknown fields of every wire type are skipped; groups, field 0 and bad wire types are rejected", () => {
  const Mount = messageType("containerd.types.Mount");
  const known = Mount.encode({ type: "bind", options: ["ro"] });
  const unknown = Uint8Array.of(
    0x98,
    0x06,
    0x96,
    0x01, // field 99 varint 150
    0x99,
    0x06,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8, // field 99 fixed64
    0x9a,
    0x06,
    0x03,
    0x61,
    0x62,
    0x63, // field 99 length-delimited "abc"
    0x9d,
    0x06,
    1,
    2,
    3,
    4, // field 99 fixed32
  );
  const mixed = new Uint8Array([...unknown.subarray(0, 4), ...known, ...unknown.subarray(4)]);
  assertEquals(Mount.decode(mixed), Mount.decode(known));
  assertEquals(Mount.decode(mixed).options, ["ro"]);
  for (
    const [bytes, text] of [
      [Uint8Array.of(0x9b, 0x06, 0x9c, 0x06), "Group"], // start + end group, field 99
      [Uint8Array.of(0x9c, 0x06), "Group"],
      [Uint8Array.of(0x9e, 0x06, 0x00), "Invalid wire type 6"],
      [Uint8Array.of(0x9f, 0x06, 0x00), "Invalid wire type 7"],
      [Uint8Array.of(0x02, 0x00), "Invalid field number"], // field 0
      [Uint8Array.of(0x9a, 0x06, 0x05, 0x61), "runs past the end"],
      [Uint8Array.of(0x0a, 0x02, 0xc3, 0x28), "Invalid UTF-8"],
    ] as const
  ) {
    assertIncludes(assertThrows(() => Mount.decode(bytes), ProtoDecodeError).message, text);
  }
});

/** `levels` Nodes, each the child of the one before, built from the inside out. */
function nested(levels: number): Uint8Array {
  let inner = new Uint8Array(0);
  for (let i = 0; i < levels; i++) {
    const len: number[] = [];
    for (let v = inner.length;; v >>>= 7) {
      if (v < 0x80) {
        len.push(v);
        break;
      }
      len.push((v & 0x7f) | 0x80);
    }
    const next = new Uint8Array(1 + len.length + inner.length);
    next[0] = 0x0a;
    next.set(len, 1);
    next.set(inner, 1 + len.length);
    inner = next;
  }
  return inner;
}

Deno.test("proto decode: nesting is bounded (at MAX_DEPTH it decodes, past it and at 20000 levels it is rejected quickly)", () => {
  const node = corpus.message("joeytest.Node")!;
  let obj = decodeMessage(node, nested(MAX_DEPTH));
  let depth = 0;
  while (obj.child) {
    obj = obj.child as Record<string, unknown>;
    depth++;
  }
  assertEquals(depth, MAX_DEPTH);
  assertIncludes(
    assertThrows(() => decodeMessage(node, nested(MAX_DEPTH + 1)), ProtoDecodeError).message,
    "nested deeper",
  );
  const started = performance.now();
  assertThrows(() => decodeMessage(node, nested(20_000)), ProtoDecodeError);
  // Bounded work, not a timing benchmark: this would take minutes if the depth limit were missing.
  assert(performance.now() - started < 5000);

  // The same through a recursive built-in type (ListValue → Value → ListValue ...).
  const List = messageType("google.protobuf.ListValue");
  let bytes = new Uint8Array(0);
  for (let i = 0; i < 200; i++) {
    const value = Uint8Array.of(0x32, bytes.length, ...bytes); // Value.list_value = 6
    if (value.length > 120) break;
    bytes = Uint8Array.of(0x0a, value.length, ...value); // ListValue.values = 1
  }
  assert(List.decode(bytes) !== null);

  // Encoding a cyclic object stops at the same bound instead of overflowing the stack.
  const cyclic: Record<string, unknown> = { tag: "x" };
  cyclic.child = cyclic;
  assertThrows(() => encodeMessage(node, cyclic), RangeError);
});

Deno.test("proto decode: well-formed unknown fields around any message change nothing", () => {
  const rng = new Rng(23);
  for (const info of allTypes()) {
    // Ten consecutive field numbers the type does not use.
    let unused = 90;
    while (info.fields.some((f) => f.number >= unused && f.number < unused + 10)) unused += 10;
    for (let i = 0; i < 10; i++) {
      const bytes = encodeMessage(info, randomMessage(rng, info, { defaults: false, maxDepth: 2 }));
      const noise = (n: number): number[] => {
        const out: number[] = [];
        for (let k = rng.int(3); k > 0; k--) {
          const wt = rng.pick([0, 1, 2, 5]);
          const tag = (n + k) * 8 + wt;
          for (let v = tag;; v = Math.floor(v / 128)) {
            if (v < 128) {
              out.push(v);
              break;
            }
            out.push((v & 0x7f) | 0x80);
          }
          if (wt === 0) out.push(0xff, 0xff, 0x03);
          else if (wt === 1) out.push(...rng.bytes(8));
          else if (wt === 5) out.push(...rng.bytes(4));
          else out.push(2, ...rng.bytes(2));
        }
        return out;
      };
      const wrapped = new Uint8Array([...noise(unused), ...bytes, ...noise(unused + 5)]);
      assertEquals(decodeMessage(info, wrapped), decodeMessage(info, bytes), info.fullName);
    }
  }
});

Deno.test("proto decode: a map entry for __proto__ stays an own property", () => {
  const Update = messageType<{ annotations: Record<string, string> }>(
    "containerd.task.v2.UpdateTaskRequest",
  );
  const bytes = Update.encode({ annotations: JSON.parse('{"__proto__": "x", "a": "b"}') });
  const out = Update.decode(bytes);
  assertEquals(Object.getPrototypeOf(out.annotations), Object.prototype);
  assertEquals(Object.getOwnPropertyDescriptor(out.annotations, "__proto__")?.value, "x");
  assertEquals(out.annotations.a, "b");
});

Deno.test("proto decode: default-filling cannot blow up memory (values per input byte are bounded)", () => {
  const Metrics = messageType<{ network: unknown[] }>("io.containerd.cgroups.v1.Metrics");
  // An empty NetworkStat entry is 2 bytes on the wire and 9 default properties when decoded.
  const entries = (n: number) => new Uint8Array(n * 2).map((_, i) => i % 2 === 0 ? 0x3a : 0x00);
  assertEquals(Metrics.decode(entries(300)).network.length, 300); // small: within the floor
  const started = performance.now();
  assertIncludes(
    assertThrows(() => Metrics.decode(entries(100_000)), ProtoDecodeError).message,
    `${EXPANSION} values per byte`,
  );
  assert(performance.now() - started < 5000);
  // Large real messages stay far below the bound.
  const Pids = messageType<{ processes: { pid: number }[] }>("containerd.task.v2.PidsResponse");
  const processes = Array.from({ length: 20_000 }, (_, i) => ({ pid: i + 1 }));
  assertEquals(Pids.decode(Pids.encode({ processes })).processes.length, 20_000);
  const Create = messageType<{ rootfs: unknown[] }>("containerd.task.v2.CreateTaskRequest");
  const rootfs = Array.from(
    { length: 5_000 },
    (_, i) => ({ type: "bind", source: `/s${i}`, target: "" }),
  );
  assertEquals(Create.decode(Create.encode({ rootfs })).rootfs.length, 5_000);
  assert(VALUE_BUDGET_FLOOR >= 1024);
});
