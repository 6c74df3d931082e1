/**
 * Bad input on a live shim socket, from a raw ttrpc client: the same
 * requests go to joey and to containerd's runc shim, and joey must answer
 * with the reference shim's status code (or close the connection when the
 * protocol requires it) and keep serving its other clients.
 */
import { messageType } from "../../src/proto/registry.ts";
import {
  Code,
  codeName,
  MAX_MESSAGE_LENGTH,
  TtrpcClient,
  TtrpcError,
} from "../../src/ttrpc/mod.ts";
import { encodeFrame } from "../../src/ttrpc/frame.ts";
import { assert, assertEquals } from "../lib/assert.ts";
import { waitFor, within } from "../lib/tmp.ts";
import { RawPeer } from "../ttrpc/raw.ts";
import { Containerd, IMAGE_NAME, JOEY_RUNTIME, RUNC_RUNTIME } from "./harness.ts";

const TASK = "containerd.task.v2.Task";
const StateRequest = messageType("containerd.task.v2.StateRequest");
const StartRequest = messageType("containerd.task.v2.StartRequest");
const DeleteRequest = messageType("containerd.task.v2.DeleteRequest");

type Outcome = { code: number; message: string } | "closed";

/** Runs every probe against the shim of a running container and records the outcomes. */
export async function probe(
  c: Containerd,
  runtime: string,
  id: string,
): Promise<Record<string, Outcome>> {
  const run = await c.ctr(["run", "-d", "--runtime", runtime, IMAGE_NAME, id, "sleep", "120"]);
  assertEquals(run.code, 0, run.stderr);
  const address = (await Deno.readTextFile(
    `${c.dir}/state/io.containerd.runtime.v2.task/${c.namespace}/${id}/address`,
  )).trim();
  const meta = { "containerd-namespace-ttrpc": c.namespace };
  const good = await TtrpcClient.dial(address);
  const out: Record<string, Outcome> = {};
  const call = async (name: string, method: string, payload: Uint8Array, service = TASK) => {
    try {
      await good.call(service, method, payload, { metadata: meta, timeoutMs: 10_000 });
      out[name] = { code: 0, message: "" };
    } catch (err) {
      if (!(err instanceof TtrpcError)) throw err;
      out[name] = { code: err.code, message: err.message };
    }
  };
  try {
    await waitFor(async () => {
      try {
        await good.call(TASK, "State", StateRequest.encode({ id }), {
          metadata: meta,
          timeoutMs: 5000,
        });
        return true;
      } catch {
        return false;
      }
    }, "shim State to answer");
    await call("unknown service", "State", StateRequest.encode({ id }), "no.such.Service");
    await call("unknown method", "Frobnicate", StateRequest.encode({ id }));
    await call("garbage protobuf", "State", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    await call("unknown container id", "State", StateRequest.encode({ id: "no-such-container" }));
    await call("start twice", "Start", StartRequest.encode({ id }));
    await call("delete running", "Delete", DeleteRequest.encode({ id }));
    await call("unknown exec id", "State", StateRequest.encode({ id, exec_id: "no-such-exec" }));

    // Oversized frame: ResourceExhausted on that stream (the data is discarded).
    const raw = await RawPeer.connect(address);
    try {
      const hdr = encodeFrame(1, 1, 0, new Uint8Array(0));
      new DataView(hdr.buffer).setUint32(0, MAX_MESSAGE_LENGTH + 1);
      await raw.writeAll(hdr);
      await raw.writeAll(new Uint8Array(MAX_MESSAGE_LENGTH + 1));
      const r = await within(raw.readResponse(), 10_000, "oversized frame reply").catch(() => null);
      out["oversized frame"] = r?.status
        ? { code: r.status.code, message: r.status.message }
        : "closed";
    } finally {
      raw.close();
    }

    // Truncated frame, then the peer goes away: only that connection ends.
    const trunc = await RawPeer.connect(address);
    await trunc.writeAll(encodeFrame(1, 1, 0, new Uint8Array(64)).subarray(0, 20));
    trunc.close();
    await call("after truncated frame", "State", StateRequest.encode({ id }));
  } finally {
    good.close();
    await c.ctr(["tasks", "kill", "-s", "KILL", id]);
    await waitFor(
      async () => (await c.ctr(["tasks", "delete", id])).code !== 1,
      `${id} deleted`,
      15_000,
    ).catch(() => {});
    await c.ctr(["containers", "delete", id]);
  }
  return out;
}

Deno.test({
  name: "bad input: joey answers like the runc shim and keeps serving",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const c = await Containerd.start();
    try {
      const suffix = Math.random().toString(36).slice(2, 7);
      const reference = await probe(c, RUNC_RUNTIME, `bad-runc-${suffix}`);
      const joey = await probe(c, JOEY_RUNTIME, `bad-joey-${suffix}`);
      const show = (o: Outcome | undefined) =>
        o === "closed" ? "closed" : o ? `${codeName(o.code)}: ${o.message}` : "missing";
      for (const name of Object.keys(reference)) {
        console.log(`  ${name}: runc → ${show(reference[name])}; joey → ${show(joey[name])}`);
      }
      for (const [name, ref] of Object.entries(reference)) {
        const got = joey[name];
        if (ref === "closed" || got === "closed") assertEquals(got, ref, name);
        else {assertEquals(
            got?.code,
            ref.code,
            `${name}: runc said ${show(ref)}, joey said ${show(got)}`,
          );}
      }
      // The cases that must fail do fail, and the server still answers after them.
      for (
        const name of [
          "unknown service",
          "unknown method",
          "unknown container id",
          "start twice",
          "delete running",
        ]
      ) {
        const o = joey[name];
        assert(o !== "closed" && o !== undefined && o.code !== Code.OK, `${name} must be an error`);
      }
      assertEquals(joey["after truncated frame"], { code: 0, message: "" });
      const unknown = joey["unknown container id"];
      assert(
        unknown !== "closed" && unknown?.message.includes("no-such-container"),
        "the message names the container",
      );
    } finally {
      await c.stop();
    }
  },
});
