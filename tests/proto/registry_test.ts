/**
 * The public API of src/proto/registry.ts and the exact shapes and bytes
 * callers rely on: defaults on decode, proto3 default skipping on encode,
 * enums by name, 64-bit numbers, oneof shape, Any/Timestamp helpers, and
 * hand-checked wire vectors for every integer encoding.
 */
import { assert, assertEquals, assertIncludes, assertThrows } from "../lib/assert.ts";
import {
  fromTimestamp,
  messageType,
  packAny,
  PROTO_DIR,
  toTimestamp,
} from "../../src/proto/registry.ts";
import { decodeMessage, encodeMessage } from "../../src/proto/codec.ts";
import { ProtoRegistry } from "../../src/proto/schema.ts";
import { CORPUS } from "./corpus.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("registry: PROTO_DIR is the repo's proto/ folder; unknown names throw the old message", () => {
  assert(PROTO_DIR.endsWith("/proto/"), PROTO_DIR);
  assert(Deno.statSync(PROTO_DIR + "ttrpc/ttrpc.proto").isFile);
  assertEquals(
    assertThrows(() => messageType("no.such.Message")).message,
    'Unknown protobuf message "no.such.Message"',
  );
  const t = messageType("ttrpc.Request");
  assertEquals(t.name, "ttrpc.Request");
  assert(messageType("ttrpc.Request") === t, "codecs are cached");
});

Deno.test("registry: decode fills every default; encode of defaults is empty", () => {
  const Create = messageType("containerd.task.v2.CreateTaskRequest");
  assertEquals(Create.decode(new Uint8Array(0)), {
    id: "",
    bundle: "",
    rootfs: [],
    terminal: false,
    stdin: "",
    stdout: "",
    stderr: "",
    checkpoint: "",
    parent_checkpoint: "",
    options: null,
  });
  assertEquals(
    Create.encode({ id: "", rootfs: [], terminal: false, options: null, stdin: undefined }).length,
    0,
  );
  const State = messageType("containerd.task.v2.StateResponse");
  const s = State.decode(new Uint8Array(0));
  assertEquals(s.status, "UNKNOWN");
  assertEquals(s.exited_at, null);
  assertEquals(
    messageType("containerd.task.v2.UpdateTaskRequest").decode(new Uint8Array(0)).annotations,
    {},
  );
  const any = messageType("google.protobuf.Any").decode(new Uint8Array(0));
  assert(any.value instanceof Uint8Array && (any.value as Uint8Array).length === 0);
  assertEquals(messageType("google.protobuf.Empty").encode({}).length, 0);
});

Deno.test("registry: enums travel by name or number; unknown names are refused, unknown numbers kept", () => {
  const State = messageType("containerd.task.v2.StateResponse");
  assertEquals(hex(State.encode({ status: "RUNNING" })), "20 02");
  assertEquals(hex(State.encode({ status: 3 } as never)), "20 03");
  assertEquals(State.decode(Uint8Array.of(0x20, 0x04)).status, "PAUSED");
  assertEquals(State.decode(Uint8Array.of(0x20, 0x63)).status, 99);
  assertIncludes(
    assertThrows(() => State.encode({ status: "SLEEPING" })).message,
    "is not a value of enum containerd.v1.types.Status",
  );
});

Deno.test("registry: 64-bit integers are numbers both ways, with bigint, decimal strings and Long-like objects accepted", () => {
  const Req = messageType("ttrpc.Request");
  const vectors: [unknown, string, number][] = [
    [1, "20 01", 1],
    [-1, "20 ff ff ff ff ff ff ff ff ff 01", -1],
    [2 ** 40, "20 80 80 80 80 80 20", 2 ** 40],
    [-(2 ** 63), "20 80 80 80 80 80 80 80 80 80 01", -(2 ** 63)],
    [2n ** 63n - 1n, "20 ff ff ff ff ff ff ff ff 7f", 2 ** 63],
    ["-2", "20 fe ff ff ff ff ff ff ff ff 01", -2],
    [{ low: 5, high: 1 }, "20 85 80 80 80 10", 2 ** 32 + 5],
    [1.9, "20 01", 1], // truncated like the old library
  ];
  for (const [input, bytes, back] of vectors) {
    const out = Req.encode({ timeout_nano: input } as never);
    assertEquals(hex(out), bytes, String(input));
    assertEquals(Req.decode(out).timeout_nano, back);
  }
  assertThrows(() => Req.encode({ timeout_nano: "soon" } as never), TypeError);

  // uint64 up to 2^64 - 1, sint64 zigzag, fixed64 little-endian (from the test corpus).
  const corpus = new ProtoRegistry(null, CORPUS);
  const s = corpus.message("joeytest.all.Scalars")!;
  const enc = (o: Record<string, unknown>) => hex(encodeMessage(s, o));
  assertEquals(enc({ u64: 2n ** 64n - 1n }), "30 ff ff ff ff ff ff ff ff ff 01");
  assertEquals(decodeMessage(s, encodeMessage(s, { u64: 2n ** 64n - 1n })).u64, 2 ** 64);
  assertEquals(enc({ u64: -5 }), ""); // clamped to 0, like the old library
  assertEquals(enc({ s64: -1 }), "40 01");
  assertEquals(enc({ s64: 1 }), "40 02");
  assertEquals(enc({ s64: -(2 ** 63) }), "40 ff ff ff ff ff ff ff ff ff 01");
  assertEquals(enc({ s32: -2147483648 }), "38 ff ff ff ff 0f");
  assertEquals(enc({ i32: -1 }), "18 ff ff ff ff ff ff ff ff ff 01");
  assertEquals(enc({ u32: -1 }), "28 ff ff ff ff 0f");
  assertEquals(enc({ f64: 2 ** 32 + 1 }), "51 01 00 00 00 01 00 00 00");
  assertEquals(enc({ sf64: -2 }), "61 fe ff ff ff ff ff ff ff");
  assertEquals(enc({ f32: 0xdeadbeef }), "4d ef be ad de");
  assertEquals(enc({ sf32: -1 }), "5d ff ff ff ff");
  assertEquals(enc({ f: 1.5, d: -0 }), "09 00 00 00 00 00 00 00 80 15 00 00 c0 3f");
  assertEquals(decodeMessage(s, encodeMessage(s, { sf64: -2, f32: 0xdeadbeef })).sf64, -2);
  // A bool is any non-zero varint, including one that only sets bit 63.
  assertEquals(
    decodeMessage(
      s,
      Uint8Array.of(0x68, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
    ).b,
    true,
  );
});

Deno.test("registry: oneof members appear only when set, with the oneof naming them; presence keeps defaults", () => {
  const corpus = new ProtoRegistry(null, CORPUS);
  const c = corpus.message("joeytest.all.Choice")!;
  assertEquals(decodeMessage(c, new Uint8Array(0)), { plain: 0 });
  const bytes = encodeMessage(c, { num: 0, maybe: 0 });
  assertEquals(hex(bytes), "10 00 30 00");
  assertEquals(decodeMessage(c, bytes), {
    num: 0,
    kind: "num",
    maybe: 0,
    _maybe: "maybe",
    plain: 0,
  });
  // Two members on the wire: the last one wins and the first is gone.
  assertEquals(decodeMessage(c, Uint8Array.of(0x0a, 0x01, 0x78, 0x10, 0x05)), {
    num: 5,
    kind: "num",
    plain: 0,
  });
  assertThrows(() => encodeMessage(c, { name: "x", num: 1 }), TypeError);
});

Deno.test("registry: repeated messages, maps, merging and copies behave as protobuf specifies", () => {
  const Create = messageType<{ rootfs: { type: string; options: string[] }[] }>(
    "containerd.task.v2.CreateTaskRequest",
  );
  const bytes = Create.encode({
    rootfs: [{ type: "a", options: ["x"] }, { type: "b", options: [] }],
  });
  assertEquals(Create.decode(bytes).rootfs.map((m) => m.type), ["a", "b"]);
  // A message field seen twice merges (scalars: last wins; repeated: appended).
  const Envelope = messageType("containerd.services.events.ttrpc.v1.Envelope");
  const ts1 = Envelope.encode({ timestamp: { seconds: 5, nanos: 1 } });
  const ts2 = Envelope.encode({ timestamp: { nanos: 9 } });
  assertEquals(Envelope.decode(new Uint8Array([...ts1, ...ts2])).timestamp, {
    seconds: 5,
    nanos: 9,
  });
  // Decoded bytes are copies: the input buffer may be reused.
  const Any = messageType<{ type_url: string; value: Uint8Array }>("google.protobuf.Any");
  const wire = Any.encode({ type_url: "t", value: Uint8Array.of(1, 2, 3) });
  const decoded = Any.decode(wire);
  wire.fill(0);
  assertEquals(Array.from(decoded.value), [1, 2, 3]);
  // Map entries are written key then value, even when the value is a default.
  const Update = messageType("containerd.task.v2.UpdateTaskRequest");
  assertEquals(hex(Update.encode({ annotations: { k: "" } })), "1a 05 0a 01 6b 12 00");
  assertThrows(() => Update.encode({ annotations: { k: null } } as never), TypeError);
  assertThrows(() => Create.encode({ rootfs: "nope" } as never), TypeError);
  assertThrows(() => Create.encode({ rootfs: [null] } as never), TypeError);
});

Deno.test("registry: packAny, toTimestamp and fromTimestamp", () => {
  const any = packAny("containerd.events.TaskStart", { container_id: "c1", pid: 42 });
  assertEquals(any.type_url, "containerd.events.TaskStart");
  assertEquals(messageType("containerd.events.TaskStart").decode(any.value), {
    container_id: "c1",
    pid: 42,
  });
  const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
  const ts = toTimestamp(date);
  assertEquals(ts, { seconds: Math.floor(date.getTime() / 1000), nanos: 678_000_000 });
  assertEquals(fromTimestamp(ts)?.getTime(), date.getTime());
  assertEquals(fromTimestamp(null), null);
  const Wait = messageType("containerd.task.v2.WaitResponse");
  assertEquals(Wait.decode(Wait.encode({ exit_status: 137, exited_at: ts })), {
    exit_status: 137,
    exited_at: ts,
  });
});

Deno.test("registry: encode returns an array of exactly the message's length", () => {
  const Req = messageType("ttrpc.Request");
  for (const service of ["", "x", "y".repeat(300)]) {
    const out = Req.encode({ service });
    assertEquals(out.byteOffset, 0);
    assertEquals(out.buffer.byteLength, out.length);
    assertEquals(Req.decode(out).service, service);
  }
  // Lengths of 128 and more take a second prefix byte: the body moves, nested too.
  assertEquals(hex(Req.encode({ service: "y".repeat(300) }).subarray(0, 3)), "0a ac 02");
  const Status = messageType("google.rpc.Status");
  const nested = Status.encode({
    details: [{ type_url: "é".repeat(200), value: new Uint8Array(70000) }],
  });
  const back = Status.decode(nested) as { details: { type_url: string; value: Uint8Array }[] };
  assertEquals(back.details[0]!.type_url, "é".repeat(200));
  assertEquals(back.details[0]!.value.length, 70000);
});
