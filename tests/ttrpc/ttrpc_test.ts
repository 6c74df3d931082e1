import { assert, assertEquals, assertRejects } from "../lib/assert.ts";
import { JoeyError } from "../../src/errors.ts";
import {
  Code,
  MAX_MESSAGE_LENGTH,
  TtrpcClient,
  TtrpcError,
  TtrpcServer,
} from "../../src/ttrpc/mod.ts";
import { encodeFrame } from "../../src/ttrpc/frame.ts";
import { within, withTempDir } from "../lib/tmp.ts";
import { RawPeer } from "./raw.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Starts a server with a small echo service on a socket in dir. */
function startServer(dir: string) {
  const server = new TtrpcServer();
  server.register("test.Echo", {
    Echo: (p) => Promise.resolve(p),
    Upper: (p) => Promise.resolve(enc.encode(dec.decode(p).toUpperCase())),
    Sleep: async (p, ctx) => {
      await new Promise((r) => setTimeout(r, Number(dec.decode(p))));
      return enc.encode(ctx.signal.aborted ? "aborted" : "slept");
    },
    Meta: (_p, ctx) => Promise.resolve(enc.encode(JSON.stringify([...ctx.metadata]))),
    Fail: () => Promise.reject(new JoeyError("NotFound", 'container "x": not found')),
    Big: () => Promise.resolve(new Uint8Array(MAX_MESSAGE_LENGTH + 1)),
  });
  const path = `${dir}/ttrpc.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const served = server.serve(listener);
  return {
    server,
    path,
    stop: async () => {
      server.close();
      await served;
    },
  };
}

Deno.test("ttrpc client and server: concurrent calls on one connection each get their own answer", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const client = await TtrpcClient.dial(path);
    try {
      const words = Array.from({ length: 200 }, (_, i) => `word-${i}`);
      const answers = await Promise.all(
        words.map((w) => client.call("test.Echo", "Upper", enc.encode(w))),
      );
      assertEquals(answers.map((a) => dec.decode(a)), words.map((w) => w.toUpperCase()));
      // A slow call does not hold up a fast one behind it.
      const slow = client.call("test.Echo", "Sleep", enc.encode("300"));
      const t0 = Date.now();
      await client.call("test.Echo", "Echo", enc.encode("fast"));
      assert(Date.now() - t0 < 250, "fast call waited for the slow one");
      assertEquals(dec.decode(await slow), "slept");
    } finally {
      client.close();
      await stop();
    }
  });
});

Deno.test("ttrpc: errors travel as status codes with their message", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const client = await TtrpcClient.dial(path);
    try {
      const err = await assertRejects(
        () => client.call("test.Echo", "Fail", new Uint8Array()),
        TtrpcError,
      );
      assertEquals((err as TtrpcError).code, Code.NotFound);
      assertEquals((err as TtrpcError).message, 'container "x": not found');
      const svc = await assertRejects(
        () => client.call("no.Such", "X", new Uint8Array()),
        TtrpcError,
      );
      assertEquals((svc as TtrpcError).code, Code.Unimplemented);
      const m = await assertRejects(
        () => client.call("test.Echo", "Nope", new Uint8Array()),
        TtrpcError,
      );
      assertEquals((m as TtrpcError).code, Code.Unimplemented);
      assert((m as TtrpcError).message.includes("Nope"));
    } finally {
      client.close();
      await stop();
    }
  });
});

Deno.test("ttrpc: metadata and timeouts reach the server; local deadline fails the call", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const client = await TtrpcClient.dial(path);
    try {
      const meta = JSON.parse(dec.decode(
        await client.call("test.Echo", "Meta", new Uint8Array(), {
          metadata: { "containerd-namespace-ttrpc": "ns1", multi: ["a", "b"] },
        }),
      ));
      assertEquals(meta, [["containerd-namespace-ttrpc", ["ns1"]], ["multi", ["a", "b"]]]);
      const err = await assertRejects(
        () => client.call("test.Echo", "Sleep", enc.encode("2000"), { timeoutMs: 100 }),
        TtrpcError,
      );
      assertEquals((err as TtrpcError).code, Code.DeadlineExceeded);
      // The connection is still usable afterwards.
      assertEquals(dec.decode(await client.call("test.Echo", "Echo", enc.encode("ok"))), "ok");
    } finally {
      client.close();
      await stop();
    }
  });
});

Deno.test("ttrpc: the 4 MiB limit is enforced both ways", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const client = await TtrpcClient.dial(path);
    try {
      const big = await assertRejects(
        () => client.call("test.Echo", "Echo", new Uint8Array(MAX_MESSAGE_LENGTH + 10)),
        TtrpcError,
      );
      assertEquals((big as TtrpcError).code, Code.ResourceExhausted);
      const resp = await assertRejects(
        () => client.call("test.Echo", "Big", new Uint8Array()),
        TtrpcError,
      );
      assertEquals((resp as TtrpcError).code, Code.ResourceExhausted);
      assertEquals(
        dec.decode(await client.call("test.Echo", "Echo", enc.encode("still"))),
        "still",
      );
    } finally {
      client.close();
      await stop();
    }
  });
});

Deno.test("ttrpc server: bad frames get the status ttrpc requires and other clients keep working", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const good = await TtrpcClient.dial(path);
    const raw = await RawPeer.connect(path);
    try {
      // Oversized frame header: data discarded, ResourceExhausted on that stream.
      const hdr = encodeFrame(1, 1, 0, new Uint8Array(0));
      new DataView(hdr.buffer).setUint32(0, MAX_MESSAGE_LENGTH + 1);
      await raw.writeAll(hdr);
      await raw.writeAll(new Uint8Array(MAX_MESSAGE_LENGTH + 1));
      const r1 = await within(raw.readResponse(), 5000, "oversized reply");
      assertEquals(r1?.status?.code, Code.ResourceExhausted);
      // Even stream id → InvalidArgument.
      await raw.sendRequest(4, "test.Echo", "Echo", enc.encode("x"));
      assertEquals((await raw.readResponse())?.status?.code, Code.InvalidArgument);
      // Garbage request envelope → InvalidArgument.
      await raw.writeAll(encodeFrame(5, 1, 0, new Uint8Array([0xff, 0xff, 0xff, 0xff])));
      assertEquals((await raw.readResponse())?.status?.code, Code.InvalidArgument);
      // Stream ids must increase.
      await raw.sendRequest(3, "test.Echo", "Echo", enc.encode("x"));
      assertEquals((await raw.readResponse())?.status?.code, Code.InvalidArgument);
      // A good request on the same connection still works.
      await raw.sendRequest(7, "test.Echo", "Echo", enc.encode("fine"));
      const ok = await raw.readResponse();
      assertEquals(ok?.status, null);
      assertEquals(dec.decode(ok!.payload), "fine");
      // Truncated frame then close: the server drops only that connection.
      await raw.writeAll(encodeFrame(9, 1, 0, new Uint8Array(100)).subarray(0, 40));
      raw.close();
      assertEquals(dec.decode(await good.call("test.Echo", "Echo", enc.encode("alive"))), "alive");
    } finally {
      raw.close();
      good.close();
      await stop();
    }
  });
});

Deno.test("ttrpc client: pending calls fail with Unavailable when the server goes away", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const client = await TtrpcClient.dial(path);
    const pending = client.call("test.Echo", "Sleep", enc.encode("5000"));
    await new Promise((r) => setTimeout(r, 50));
    await stop();
    const err = await assertRejects(() => within(pending, 3000, "pending call"), TtrpcError);
    assertEquals((err as TtrpcError).code, Code.Unavailable);
    client.close();
  });
});

Deno.test("ttrpc client: closing while a request is being written fails the call, not the process", async () => {
  await withTempDir(async (dir) => {
    const { path, stop } = startServer(dir);
    const client = await TtrpcClient.dial(path);
    try {
      // A large request keeps the write in flight while close() runs.
      const pending = client.call("test.Echo", "Echo", new Uint8Array(3 << 20));
      client.close();
      const err = await assertRejects(() => within(pending, 5000, "closed call"));
      assert(err instanceof Error);
    } finally {
      await stop();
    }
  });
});
