/**
 * The host side of the agent channel treats the guest's replies as hostile
 * (docs/security.md): a fake agent on a unix socket answers with what a
 * compromised guest could send, and the shim's client must fail the call
 * with an error, within its timeout, and stay usable:
 * - no answer at all → DeadlineExceeded at the call's timeout;
 * - a Response frame declaring more than 4 MiB → that call fails
 *   (ResourceExhausted), the data is discarded unread, later calls work;
 * - a garbage Response envelope, an answer on a stream never asked, and a
 *   reply payload that is not the expected message → errors, no hang;
 * - the hybrid vsock handshake answering endlessly, wrongly or not at all
 *   → the dial fails within its budget.
 */
import { assert, assertEquals, assertRejects } from "../lib/assert.ts";
import { encodeFrame, FrameReader, MAX_MESSAGE_LENGTH } from "../../src/ttrpc/frame.ts";
import { Code, TtrpcClient, TtrpcError } from "../../src/ttrpc/mod.ts";
import { messageType } from "../../src/proto/registry.ts";
import { AgentClient, dialHybridVsock } from "../../src/agent/mod.ts";
import { within, withTempDir } from "../lib/tmp.ts";

const ResponseCodec = messageType("ttrpc.Response");
const RequestCodec = messageType<{ service: string; method: string }>("ttrpc.Request");

type Reply = (streamId: number, method: string, conn: Deno.Conn) => Promise<void>;

/** A fake agent: for each request frame, runs reply(streamId, method, conn). */
function hostileAgent(path: string, reply: Reply) {
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  const served = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const reader = new FrameReader(conn);
        try {
          for (let f = await reader.next(); f; f = await reader.next()) {
            const req = RequestCodec.decode(f.data);
            await reply(f.streamId, req.method, conn);
          }
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    close: async () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await served;
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function ok(streamId: number, payload: Uint8Array): Uint8Array {
  return encodeFrame(streamId, 2, 0, ResponseCodec.encode({ status: null, payload }));
}

Deno.test("agent channel: a silent agent fails the call at its deadline", async () => {
  await withTempDir(async (dir) => {
    const agent = hostileAgent(`${dir}/a.sock`, () => Promise.resolve());
    const client = await AgentClient.dialUnix(`${dir}/a.sock`, { timeoutMs: 300 });
    try {
      const t0 = Date.now();
      const err = await assertRejects(() => within(client.check(), 5000, "check"));
      assert(err instanceof TtrpcError && err.code === Code.DeadlineExceeded, `${err}`);
      assert(Date.now() - t0 < 3000, "failed at the deadline, not later");
    } finally {
      client.close();
      await agent.close();
    }
  });
});

Deno.test("agent channel: an oversized reply is discarded and fails only its call", async () => {
  await withTempDir(async (dir) => {
    const agent = hostileAgent(`${dir}/a.sock`, async (id, method, conn) => {
      if (method === "Check") {
        const hdr = encodeFrame(id, 2, 0, new Uint8Array(0));
        new DataView(hdr.buffer).setUint32(0, MAX_MESSAGE_LENGTH + 4096);
        await writeAll(conn, hdr);
        await writeAll(conn, new Uint8Array(MAX_MESSAGE_LENGTH + 4096));
      } else {
        await writeAll(conn, ok(id, new Uint8Array(0)));
      }
    });
    const client = await TtrpcClient.dial(`${dir}/a.sock`);
    try {
      const err = await assertRejects(() =>
        within(
          client.call("grpc.Health", "Check", new Uint8Array(0), { timeoutMs: 5000 }),
          8000,
          "call",
        )
      );
      assert(err instanceof TtrpcError && err.code === Code.ResourceExhausted, `${err}`);
      // The connection stays in step: the next call is answered.
      const next = await within(
        client.call("grpc.Health", "Version", new Uint8Array(0)),
        5000,
        "next",
      );
      assertEquals(next.length, 0);
    } finally {
      client.close();
      await agent.close();
    }
  });
});

Deno.test("agent channel: garbage envelopes, stray stream ids and wrong payloads are errors", async () => {
  await withTempDir(async (dir) => {
    const agent = hostileAgent(`${dir}/a.sock`, async (id, method, conn) => {
      if (method === "Check") {
        // A stray answer first (a stream never asked), then garbage for ours.
        await writeAll(conn, ok(id + 1000, new Uint8Array([1, 2, 3])));
        await writeAll(conn, encodeFrame(id, 2, 0, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])));
      } else if (method === "WaitProcess") {
        // A well-formed envelope whose payload is not a WaitProcessResponse.
        await writeAll(
          conn,
          ok(
            id,
            new Uint8Array([
              0x08,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
            ]),
          ),
        );
      } else {
        await writeAll(conn, ok(id, new Uint8Array(0)));
      }
    });
    const client = await AgentClient.dialUnix(`${dir}/a.sock`, { timeoutMs: 2000 });
    try {
      await assertRejects(() => within(client.check(), 5000, "check"));
      await assertRejects(() =>
        within(client.waitProcess("c", "e", { timeoutMs: 2000 }), 5000, "wait")
      );
    } finally {
      client.close();
      await agent.close();
    }
  });
});

Deno.test("agent channel: hostile hybrid-vsock handshakes fail the dial within its budget", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, (c: Deno.Conn) => Promise<void>][] = [
      ["endless line", async (c) => {
        try {
          for (let i = 0; i < 1000; i++) await c.write(new Uint8Array(1024).fill(0x41));
        } catch { /* the client hung up, as it should */ }
      }],
      ["wrong answer", (c) => c.write(new TextEncoder().encode("NO 1024\n")).then(() => {})],
      ["silence", () => new Promise((r) => setTimeout(r, 3000))],
    ];
    for (const [name, behave] of cases) {
      const path = `${dir}/${name.replace(/ /g, "_")}.sock`;
      const listener = Deno.listen({ transport: "unix", path });
      const conns: Deno.Conn[] = [];
      const served = (async () => {
        for await (const c of listener) {
          conns.push(c);
          behave(c).catch(() => {});
        }
      })().catch(() => {});
      const t0 = Date.now();
      try {
        await assertRejects(() =>
          within(dialHybridVsock(path, 1024, { timeoutMs: 1500 }), 10_000, `dial (${name})`)
        );
        assert(Date.now() - t0 < 8000, `${name}: gave up in time`);
      } finally {
        listener.close();
        for (const c of conns) {
          try {
            c.close();
          } catch { /* closed */ }
        }
        await served;
      }
    }
  });
});
