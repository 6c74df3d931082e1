/**
 * joey's in-process vhost-user vsock back end through the TypeScript
 * binding (VhostVsockBackend): a vhost-user handshake from this test, and
 * real Linux under QEMU (TCG) exchanging data with the host over AF_VSOCK
 * through it (tests/devices/qemu_vsock.sh with the back end served here).
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertIncludes, assertThrows } from "../../lib/assert.ts";
import { JoeyError } from "../../../src/errors.ts";
import { VhostVsockBackend } from "../../../src/hypervisor/builtin/mod.ts";
import { vmmLibraryPath } from "../../../src/hypervisor/builtin/library.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

function libraryMissing(): string | null {
  try {
    Deno.statSync(vmmLibraryPath());
    return null;
  } catch {
    return "the VMM library is not built (run make vmm)";
  }
}
const noLibrary = libraryMissing();
if (noLibrary) console.log(`vhost-user vsock binding tests skipped: ${noLibrary}`);

function qemuMissing(): string | null {
  if (noLibrary) return noLibrary;
  for (const f of ["build/devices/vsock_probe", "build/devices/vsock_host"]) {
    try {
      Deno.statSync(`${root}${f}`);
    } catch {
      return `${f} is not built (run make devices)`;
    }
  }
  const path = (Deno.env.get("PATH") ?? "").split(":");
  if (!path.some((d) => exists(`${d}/qemu-system-x86_64`))) return "no qemu-system-x86_64";
  return null;
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

const VHU_GET_FEATURES = 1;
const VHU_GET_PROTOCOL_FEATURES = 15;
const VHU_VERSION = 1;
const VHU_REPLY = 4;
const F_VERSION_1 = 1n << 32n;
const F_PROTOCOL_FEATURES = 1n << 30n;

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(buf.subarray(got));
    if (r === null) throw new Error(`vhost-user reply cut short at ${got} of ${n} bytes`);
    got += r;
  }
  return buf;
}

/** Sends a payload-less request and returns the u64 its reply carries. */
async function askU64(conn: Deno.Conn, request: number): Promise<bigint> {
  const msg = new Uint8Array(12);
  const v = new DataView(msg.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, VHU_VERSION, true);
  v.setUint32(8, 0, true);
  await conn.write(msg);
  const hdr = new DataView((await readExactly(conn, 12)).buffer);
  assertEquals(hdr.getUint32(0, true), request, "reply to another request");
  assert(hdr.getUint32(4, true) & VHU_REPLY, "reply flag missing");
  assertEquals(hdr.getUint32(8, true), 8, "reply size");
  return new DataView((await readExactly(conn, 8)).buffer).getBigUint64(0, true);
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

Deno.test({
  name: "VhostVsockBackend: vhost-user handshake, ends when the front end leaves, cleans up",
  ignore: noLibrary !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-vhu-" });
    const socket = `${dir}/vhost.sock`, uds = `${dir}/vsock.sock`;
    const backend = VhostVsockBackend.start({ socket, uds, cid: 7 });
    try {
      assert(backend.running(), "not running after start");
      assert(Deno.statSync(socket).isSocket && Deno.statSync(uds).isSocket, "sockets missing");
      const conn = await Deno.connect({ transport: "unix", path: socket });
      try {
        const features = await askU64(conn, VHU_GET_FEATURES);
        assert(features & F_VERSION_1, `features 0x${features.toString(16)}: no VERSION_1`);
        assert(features & F_PROTOCOL_FEATURES, "no PROTOCOL_FEATURES");
        const protocol = await askU64(conn, VHU_GET_PROTOCOL_FEATURES);
        // REPLY_ACK (3) and CONFIG (9: QEMU reads the guest CID through it).
        assertEquals(protocol & ((1n << 3n) | (1n << 9n)), (1n << 3n) | (1n << 9n));
        assert(backend.running(), "stopped while the front end is attached");
      } finally {
        conn.close();
      }
      // One front end, once: its leaving ends the server.
      assert(await until(() => !backend.running(), 5000), "still running after disconnect");
      await backend.stop();
      assert(!exists(socket) && !exists(uds), "sockets left behind");
      await backend.stop();
    } finally {
      await backend.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "VhostVsockBackend: bad arguments are refused with the reason",
  ignore: noLibrary !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-vhu-" });
    try {
      assertThrows(
        () => VhostVsockBackend.start({ socket: `${dir}/a`, uds: `${dir}/b`, cid: 2 }),
        JoeyError,
      );
      const err = assertThrows(
        () => VhostVsockBackend.start({ socket: `${dir}/a`, uds: `${dir}/${"x".repeat(120)}` }),
        JoeyError,
      );
      assertIncludes(err.message, "hybrid vsock socket");
      assert(!exists(`${dir}/a`), "vhost-user socket left behind after a failed start");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const noQemu = qemuMissing();
if (!noLibrary && noQemu) console.log(`vhost-user vsock QEMU test skipped: ${noQemu}`);

Deno.test({
  name: "VhostVsockBackend: QEMU (TCG) boots Linux on it; AF_VSOCK both ways, checked",
  ignore: noQemu !== null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "joey-vhu-" });
    const socket = `${dir}/vhost.sock`, uds = `${dir}/vsock.sock`;
    const backend = VhostVsockBackend.start({ socket, uds });
    try {
      const out = await new Deno.Command("bash", {
        args: [`${root}tests/devices/qemu_vsock.sh`, String(1 << 20)],
        env: { VHOST_VSOCK_SOCKET: socket, VHOST_VSOCK_UDS: uds, QEMU_TIMEOUT: "150" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      const last = text.trim().split("\n").at(-1) ?? "";
      if (last === "0 passed, 0 failed, 1 skipped") {
        console.log(`skipped inside qemu_vsock.sh: ${text.split("\n")[0]}`);
        return;
      }
      assertEquals(last, "4 passed, 0 failed, 0 skipped", text);
      // QEMU is gone: the back end saw its front end leave.
      assert(await until(() => !backend.running(), 5000), "back end still running after QEMU");
      await backend.stop();
      assert(!exists(socket) && !exists(uds), "sockets left behind");
    } finally {
      await backend.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
