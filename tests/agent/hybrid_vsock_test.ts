/**
 * dialHybridVsock against a fake VMM socket: the exact handshake bytes,
 * retries while the guest does not listen yet (the VMM closes), nothing
 * after the OK line consumed, and a deadline when no OK ever comes.
 */
import { dialHybridVsock } from "../../src/agent/mod.ts";
import { JoeyError } from "../../src/errors.ts";
import { assertEquals, assertRejects } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

/** A fake VMM: answers the nth connection with answers[n] (null = close at once). */
function fakeVmm(path: string, answers: (string | null)[]) {
  const listener = Deno.listen({ transport: "unix", path });
  const requests: string[] = [];
  const done = (async () => {
    let n = 0;
    for await (const conn of listener) {
      const buf = new Uint8Array(64);
      const got = await conn.read(buf);
      requests.push(new TextDecoder().decode(buf.subarray(0, got ?? 0)));
      const answer = answers[Math.min(n++, answers.length - 1)];
      if (answer === null || answer === undefined) {
        conn.close();
        continue;
      }
      await conn.write(new TextEncoder().encode(answer));
      // Echo one message after the handshake: it must reach the caller intact.
      const more = await conn.read(buf);
      if (more) await conn.write(buf.subarray(0, more));
      conn.close();
    }
  })().catch(() => {});
  return { requests, close: () => listener.close(), done };
}

Deno.test("dialHybridVsock() retries until the guest listens, then carries the stream", async () => {
  await withTempDir(async (dir) => {
    const vmm = fakeVmm(`${dir}/v.sock`, [null, null, "OK 1073741824\nHELLO"]);
    try {
      const conn = await dialHybridVsock(`${dir}/v.sock`, 1024, {
        timeoutMs: 5000,
        retryDelayMs: 5,
      });
      assertEquals(vmm.requests, ["CONNECT 1024\n", "CONNECT 1024\n", "CONNECT 1024\n"]);
      // Bytes after "OK …\n" belong to the guest stream, not the handshake.
      const buf = new Uint8Array(16);
      const n = await conn.read(buf);
      assertEquals(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "HELLO");
      conn.close();
    } finally {
      vmm.close();
      await vmm.done;
    }
  });
});

Deno.test("dialHybridVsock() gives up with DeadlineExceeded when no OK comes", async () => {
  await withTempDir(async (dir) => {
    const vmm = fakeVmm(`${dir}/v.sock`, ["NO such port\n"]);
    try {
      const t0 = Date.now();
      const err = await assertRejects(
        () => dialHybridVsock(`${dir}/v.sock`, 77, { timeoutMs: 300, retryDelayMs: 10 }),
        JoeyError,
      );
      assertEquals(err.kind, "DeadlineExceeded");
      assertEquals(vmm.requests[0], "CONNECT 77\n");
      assertEquals(Date.now() - t0 < 3000, true);
    } finally {
      vmm.close();
      await vmm.done;
    }
  });
});

Deno.test("dialHybridVsock() waits for a socket that does not exist yet", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/late.sock`;
    let vmm: ReturnType<typeof fakeVmm> | null = null;
    const timer = setTimeout(() => vmm = fakeVmm(path, ["OK 5\n"]), 100);
    try {
      const conn = await dialHybridVsock(path, 1024, { timeoutMs: 5000, retryDelayMs: 10 });
      conn.close();
    } finally {
      clearTimeout(timer);
      (vmm as ReturnType<typeof fakeVmm> | null)?.close();
    }
  });
});
