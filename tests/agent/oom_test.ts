/**
 * GetOOMEvent against the agent in host test mode (static and ASan+UBSan
 * builds): a container that outgrows its cgroup v2 memory limit is reported
 * by id (where the host's cgroup2 hierarchy has the memory controller), and
 * held calls end cleanly: on DestroySandbox (Canceled), on their
 * connection's close (nothing left for the sanitizer to report), beyond
 * the bound (ResourceExhausted); a malformed request is InvalidArgument.
 * The same RPC in a real guest is tested end to end in tests/virt/oom_test.ts.
 */
import { AgentClient } from "../../src/agent/mod.ts";
import { Code, TtrpcError } from "../../src/ttrpc/mod.ts";
import { assert, assertEquals, assertRejects } from "../lib/assert.ts";
import { waitFor, within } from "../lib/tmp.ts";
import { RawPeer } from "../ttrpc/raw.ts";
import {
  AGENT_BIN,
  AGENT_SAN_BIN,
  cgroup2Mount,
  type HostAgent,
  hostModeUnavailable,
  process,
  spec,
  withHostAgent,
} from "./fixture.ts";

const skip = hostModeUnavailable();
if (skip) console.log(`agent OOM host-mode tests skipped: ${skip}`);

/** Why the agent's cgroups cannot have a memory limit here, or null. */
function noMemoryController(): string | null {
  const mount = cgroup2Mount();
  if (!mount) return "no cgroup2 hierarchy mounted";
  const ctl = Deno.readTextFileSync(`${mount}/cgroup.subtree_control`);
  return ctl.split(/\s+/).includes("memory")
    ? null
    : `the cgroup2 hierarchy at ${mount} does not ` +
      `delegate the memory controller (subtree_control: "${ctl.trim()}"; a hybrid v1/v2 host keeps ` +
      "it in v1): the OOM kill itself is tested in the VM (tests/virt/oom_test.ts)";
}
const noMemory = skip ?? noMemoryController();
if (!skip && noMemory) console.log(`agent OOM kill in host mode skipped: ${noMemory}`);

/** Open descriptors of a process. */
const fdCount = (pid: number) => [...Deno.readDirSync(`/proc/${pid}/fd`)].length;

async function code(p: Promise<unknown>): Promise<number> {
  return (await assertRejects(() => p, TtrpcError)).code;
}

const withAgent = (bin: string, fn: (a: HostAgent, rootfs: string) => Promise<void>) =>
  withHostAgent(bin, fn, { prefix: "joey-agent-oom-" });

async function oomKill(bin: string) {
  await withAgent(bin, async (a, rootfs) => {
    const c = a.client;
    await c.createSandbox({ sandbox_id: "s1" });
    // Held before anything happens: answered by the kill, not by a queue.
    const event = c.getOomEvent();
    for (const id of ["calm", "hog"]) {
      await c.createContainer({
        container_id: id,
        storages: [{
          driver: "bind",
          source: rootfs,
          fstype: "bind",
          options: ["rbind"],
          mount_point: `${a.shareDir}/${id}/rootfs`,
        }],
        OCI: spec(
          process(
            id === "hog"
              ? ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
              : ["sh", "-c", "x=$(head -c 1000000 /dev/zero | tr '\\0' x); echo ${#x}"],
          ),
          { Linux: { ...spec(process([])).Linux, Resources: { Memory: { Limit: 16 << 20 } } } },
        ),
      });
    }
    await c.startContainer("calm");
    assertEquals(await c.waitProcess("calm", ""), 0, "1 MB under a 16 MiB limit");
    await c.startContainer("hog");
    assertEquals(await within(event, 20_000, "GetOOMEvent"), "hog");
    assertEquals(await c.waitProcess("hog", ""), 137, "dd was killed by the OOM killer");
    // One kill, one event: the next call waits until the sandbox goes.
    const next = c.getOomEvent();
    await new Promise((r) => setTimeout(r, 200));
    await c.destroySandbox();
    assertEquals(await code(within(next, 5000, "cancelled GetOOMEvent")), Code.Canceled);
  });
}

async function heldCalls(bin: string) {
  await withAgent(bin, async (a) => {
    const c = a.client;
    // A client that leaves while its call is held: the agent releases it
    // (the sanitizer build would report the connection as leaked) and serves on.
    assertEquals(await c.check(), "SERVING"); // c's connection is accepted: count it
    const fds = fdCount(a.pid);
    for (let i = 0; i < 20; i++) {
      const gone = await AgentClient.dialUnix(a.socket);
      const held = gone.getOomEvent().catch((e) => e);
      await new Promise((r) => setTimeout(r, 10));
      gone.close();
      assert((await held) instanceof Error, "a closed client's call fails on the client side");
    }
    // The client's close is seen by the agent a little later.
    await waitFor(() => fdCount(a.pid) === fds, "the agent closing the 20 connections");
    // Bounded: 16 held calls, the 17th is refused while they wait; the
    // 20 released above do not count.
    const held = Array.from({ length: 16 }, () => c.getOomEvent().catch((e) => e));
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(await code(c.getOomEvent()), Code.ResourceExhausted);
    // DestroySandbox answers every held call with Canceled.
    const other = await AgentClient.dialUnix(a.socket);
    try {
      await other.destroySandbox();
    } finally {
      other.close();
    }
    for (const r of await within(Promise.all(held), 5000, "cancelled calls")) {
      assert(r instanceof TtrpcError, `held call ended with ${r}`);
      assertEquals(r.code, Code.Canceled);
    }
    // Malformed: a truncated field where the (empty) request should be.
    const peer = await RawPeer.connect(a.socket);
    try {
      await peer.sendRequest(1, "grpc.AgentService", "GetOOMEvent", new Uint8Array([0x0a, 0x7f]));
      assertEquals((await peer.readResponse())?.status?.code, Code.InvalidArgument);
      // The same connection holds a well-formed one until it closes.
      await peer.sendRequest(3, "grpc.AgentService", "GetOOMEvent", new Uint8Array());
    } finally {
      peer.close();
    }
    assertEquals(await c.check(), "SERVING");
  });
}

for (const [name, bin] of [["static", AGENT_BIN], ["asan+ubsan", AGENT_SAN_BIN]] as const) {
  Deno.test({
    name: `agent OOM (${name}, host mode): a container past its memory limit is reported by id`,
    ignore: noMemory !== null,
    sanitizeResources: false,
    fn: () => oomKill(bin),
  });
  Deno.test({
    name:
      `agent OOM (${name}, host mode): held GetOOMEvent calls end on DestroySandbox, on close, beyond the bound; bad input errs`,
    ignore: skip !== null,
    sanitizeResources: false,
    fn: () => heldCalls(bin),
  });
}
