/**
 * Throughput probe (not a test): steady-state encode and decode of two
 * typical messages, joey's codec against protobufjs, alternating in one
 * process. Prints one JSON line per message and implementation.
 * Usage: deno run -A tests/proto/throughput_probe.ts
 * @module
 */
import type protobuf from "protobufjs";
import { messageType, PROTO_DIR } from "../../src/proto/registry.ts";
import { ProtoRegistry } from "../../src/proto/schema.ts";
import { CONVERSION, loadProtobufjs } from "./support.ts";

const registry = new ProtoRegistry(PROTO_DIR);
registry.loadAll();
const root: protobuf.Root = loadProtobufjs(PROTO_DIR, registry);

const samples: [string, Record<string, unknown>][] = [
  ["containerd.task.v2.CreateTaskRequest", {
    id: "3f1c0a2b9d",
    bundle: "/run/containerd/io.containerd.runtime.v2.task/default/3f1c0a2b9d",
    rootfs: [{ type: "overlay", source: "overlay", options: ["index=off", "lowerdir=/a:/b"] }],
    stdout: "/run/containerd/fifo/1/stdout",
    stderr: "/run/containerd/fifo/1/stderr",
    options: { type_url: "containerd.runc.v1.Options", value: new Uint8Array(24) },
  }],
  ["io.containerd.cgroups.v1.Metrics", {
    pids: { current: 12, limit: 4096 },
    cpu: { usage: { total: 123456789, kernel: 1234, user: 99999, per_cpu: [1, 2, 3, 4] } },
    memory: { cache: 4096, rss: 8192000, usage: { limit: 2 ** 40, usage: 81920 } },
  }],
];

function rate(fn: () => void): number {
  const until = performance.now() + 300;
  let n = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
  }
  return Math.round(n / 0.3);
}

for (const [name, obj] of samples) {
  const ours = messageType(name);
  const pb = root.lookupType(name);
  const bytes = ours.encode(obj);
  const result: Record<string, number | string> = { message: name, bytes: bytes.length };
  for (let round = 0; round < 2; round++) {
    result.joey_encode_per_s = rate(() => ours.encode(obj));
    result.protobufjs_encode_per_s = rate(() => pb.encode(pb.fromObject(obj)).finish());
    result.joey_decode_per_s = rate(() => ours.decode(bytes));
    result.protobufjs_decode_per_s = rate(() => pb.toObject(pb.decode(bytes), CONVERSION));
  }
  console.log(JSON.stringify(result));
}
