/**
 * Start-up probe (not a test): in a fresh process, how long importing a
 * registry module and encoding + decoding the first message take. Prints
 * one JSON line (wall and CPU milliseconds). Usage: deno run -A tests/proto/startup_probe.ts [registry.ts path]
 * @module
 */
import process from "node:process";

const target = Deno.args[0] ?? new URL("../../src/proto/registry.ts", import.meta.url).href;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const reg = await import(target.startsWith("/") ? `file://${target}` : target);
const t1 = performance.now();
const codec = reg.messageType("containerd.task.v2.CreateTaskRequest");
const bytes: Uint8Array = codec.encode({
  id: "abc",
  bundle: "/run/b",
  rootfs: [{ type: "overlay", source: "overlay", options: ["lowerdir=/a"] }],
  terminal: true,
});
const back = codec.decode(bytes);
const t2 = performance.now();
// The rest of what a shim touches by its first Create: ttrpc envelope, events, task events.
for (
  const name of [
    "ttrpc.Request",
    "ttrpc.Response",
    "containerd.task.v2.CreateTaskResponse",
    "containerd.services.events.ttrpc.v1.ForwardRequest",
    "containerd.events.TaskCreate",
  ]
) {
  const c = reg.messageType(name);
  c.decode(c.encode({}));
}
const t3 = performance.now();
const cpu = process.cpuUsage(cpu0);
if (back.id !== "abc") throw new Error("round trip failed");
console.log(JSON.stringify({
  import_ms: +(t1 - t0).toFixed(2),
  first_message_ms: +(t2 - t1).toFixed(2),
  total_ms: +(t2 - t0).toFixed(2),
  shim_types_ms: +(t3 - t2).toFixed(2),
  // CPU of all threads (user + system) up to the end of shim_types: steadier than wall time.
  total_cpu_ms: +((cpu.user + cpu.system) / 1000).toFixed(2),
}));
