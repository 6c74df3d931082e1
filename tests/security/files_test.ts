/**
 * Files other local users must not reach, and symlink tricks on the paths
 * joey writes:
 * - the shim's socket is 0600 and root's, inside a folder that others can
 *   neither list nor write, and an unprivileged user (uid 65534) cannot
 *   connect to it; the bundle's `.joey` work folder is 0700;
 * - a symlink planted where the shim's socket goes (pointing at a file) is
 *   replaced by the socket and its target is left untouched;
 * - the extraction cache (src/config/assets.ts materialize) never hands back
 *   a file that a symlinked or foreign cache folder supplies;
 * - virt-container: every folder of a running sandbox's state is closed to
 *   other users, every socket in it (hybrid vsock, vhost-user, virtiofsd)
 *   refuses uid 65534.
 */
import { assert, assertEquals } from "../lib/assert.ts";
import { Containerd, IMAGE_NAME, JOEY_RUNTIME } from "../containerd/harness.ts";
import { withTempDir } from "../lib/tmp.ts";
import { materialize } from "../../src/config/assets.ts";
import { sandboxProcesses, startVirtContainerd, virtSkipReason } from "../virt/virt_harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const NOBODY = 65534;

/** Tries to connect to a unix socket as uid/gid 65534; returns the error name or "connected". */
async function connectAsNobody(path: string): Promise<string> {
  return await withTempDir(async (dir) => {
    await Deno.chmod(dir, 0o777);
    const deno = Deno.execPath();
    const code = `try { const c = await Deno.connect({ transport: "unix", path: ${
      JSON.stringify(path)
    } }); console.log("connected"); c.close(); } catch (e) { console.log((e as Error).name); }`;
    const out = await new Deno.Command("setpriv", {
      args: [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "env",
        `DENO_DIR=${dir}`,
        `HOME=${dir}`,
        "DENO_NO_UPDATE_CHECK=1",
        deno,
        "eval",
        code,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() ||
      `failed: ${new TextDecoder().decode(out.stderr)}`;
  });
}

let ctd: Containerd | null = null;

Deno.test({
  name: "shim socket is 0600 root in a folder others cannot list, and uid 65534 cannot connect",
  ...opts,
  fn: async () => {
    ctd = await Containerd.start();
    const id = `perm-${Math.random().toString(36).slice(2, 7)}`;
    const r = await ctd.ctr([
      "run",
      "-d",
      "--runtime",
      JOEY_RUNTIME,
      IMAGE_NAME,
      id,
      "sleep",
      "120",
    ]);
    assertEquals(r.code, 0, r.stderr);
    try {
      const sock = await ctd.shimSocket(id);
      const st = await Deno.lstat(sock);
      assert(st.isSocket, `${sock} is a socket`);
      assertEquals((st.mode ?? 0) & 0o777, 0o600, `socket mode ${(st.mode ?? 0).toString(8)}`);
      assertEquals(st.uid, 0);
      const dir = await Deno.lstat(sock.slice(0, sock.lastIndexOf("/")));
      assert(!dir.isSymlink && dir.isDirectory, "socket folder is a real folder");
      assertEquals(
        (dir.mode ?? 0) & 0o066,
        0,
        `socket folder mode ${(dir.mode ?? 0).toString(8)}: others must not list or write it`,
      );
      assertEquals(await connectAsNobody(sock), "PermissionDenied");
      const bundle = `${ctd.dir}/state/io.containerd.runtime.v2.task/${ctd.namespace}/${id}`;
      const work = await Deno.lstat(`${bundle}/.joey`);
      assertEquals((work.mode ?? 0) & 0o777, 0o700, "the shim's work folder is private");
    } finally {
      await ctd.ctr(["tasks", "kill", "-s", "SIGKILL", id]);
      await ctd.ctr(["tasks", "delete", "-f", id], { timeoutMs: 15_000 });
      await ctd.ctr(["containers", "delete", id]);
    }
  },
});

Deno.test({
  name: "a symlink planted at the shim socket path is replaced, its target untouched",
  ...opts,
  fn: async () => {
    ctd ??= await Containerd.start();
    const c = ctd;
    await withTempDir(async (dir) => {
      const victim = `${dir}/victim`;
      await Deno.writeTextFile(victim, "precious\n", { mode: 0o644 });
      await Deno.chmod(victim, 0o644);
      const id = `link-${Math.random().toString(36).slice(2, 7)}`;
      const sock = await c.shimSocket(id);
      await Deno.symlink(victim, sock);
      try {
        const r = await c.ctr(
          ["run", "--rm", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sh", "-c", "echo ran"],
          { timeoutMs: 60_000 },
        );
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout.trim(), "ran");
        assertEquals(await Deno.readTextFile(victim), "precious\n", "target content intact");
        assertEquals((await Deno.stat(victim)).mode! & 0o777, 0o644, "target mode intact");
      } finally {
        await Deno.remove(sock).catch(() => {});
      }
    });
  },
});

Deno.test({
  name: "extraction cache: a symlinked cache entry does not supply the library",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      // The genuine file, and an attacker's one of the same size and name.
      await Deno.mkdir(`${dir}/src`);
      const genuine = `${dir}/src/libjoeyvmm.so`;
      await Deno.writeTextFile(genuine, "GENUINE-LIBRARY-BYTES");
      const bytes = await Deno.readFile(genuine);
      const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      const evil = `${dir}/evil`;
      await Deno.mkdir(evil, { mode: 0o777 });
      await Deno.writeTextFile(`${evil}/libjoeyvmm.so`, "ATTACKER-LIBRARY-XXXX");
      const cache = `${dir}/cache`;
      await Deno.mkdir(cache, { mode: 0o700 });
      await Deno.symlink(evil, `${cache}/${hex}`);
      let got = "";
      try {
        got = await materialize(genuine, { force: true, cacheDir: cache });
      } catch (err) {
        // Refusing is a safe outcome too.
        console.log(`materialize refused: ${(err as Error).message}`);
        return;
      }
      assertEquals(await Deno.readTextFile(got), "GENUINE-LIBRARY-BYTES", `returned ${got}`);
      assert(!(await Deno.realPath(got)).startsWith(evil), `returned a path into ${evil}`);
    });
  },
});

Deno.test({
  name: "extraction cache: a cache folder writable by others is not trusted",
  ...opts,
  fn: async () => {
    await withTempDir(async (dir) => {
      const genuine = `${dir}/libjoeyvmm.so`;
      await Deno.writeTextFile(genuine, "GENUINE-LIBRARY-BYTES");
      const bytes = await Deno.readFile(genuine);
      const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      // World-writable cache (as /tmp/.cache/joey would be when another user made it first).
      const cache = `${dir}/cache`;
      await Deno.mkdir(`${cache}/${hex}`, { recursive: true });
      await Deno.chmod(cache, 0o777);
      await Deno.chmod(`${cache}/${hex}`, 0o777);
      await Deno.writeTextFile(`${cache}/${hex}/libjoeyvmm.so`, "ATTACKER-LIBRARY-XXXX");
      let got = "";
      try {
        got = await materialize(genuine, { force: true, cacheDir: cache });
      } catch (err) {
        console.log(`materialize refused: ${(err as Error).message}`);
        return;
      }
      assertEquals(await Deno.readTextFile(got), "GENUINE-LIBRARY-BYTES", `returned ${got}`);
    });
  },
});

Deno.test({
  name: "files tests: containerd stopped",
  ...opts,
  fn: async () => {
    await ctd?.stop();
    ctd = null;
  },
});

const virtSkip = await virtSkipReason();
if (virtSkip) console.log(`SKIP virt-container state permissions: ${virtSkip}`);

/** Every path under dir (lstat, no following), with its stat. */
async function walk(dir: string, out: [string, Deno.FileInfo][] = []) {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    const st = await Deno.lstat(p);
    out.push([p, st]);
    // The container's rootfs is the guest's business, not the host's state.
    if (st.isDirectory && !p.endsWith("/rootfs")) await walk(p, out);
  }
  return out;
}

Deno.test({
  name: "virt-container: sandbox state folders are private and its sockets refuse other users",
  ...opts,
  ignore: virtSkip !== null,
  fn: async () => {
    const stateDir = `/run/joey-perm-${Math.random().toString(36).slice(2, 8)}`;
    const c = await startVirtContainerd(stateDir);
    const id = `vperm-${Math.random().toString(36).slice(2, 7)}`;
    try {
      const r = await c.ctr(
        ["run", "-d", "--runtime", JOEY_RUNTIME, IMAGE_NAME, id, "sleep", "120"],
        { timeoutMs: 120_000 },
      );
      assertEquals(r.code, 0, r.stderr);
      const top = await Deno.lstat(stateDir);
      const problems: string[] = [];
      if ((top.mode ?? 0) & 0o077) {
        problems.push(`${stateDir} mode ${(top.mode! & 0o777).toString(8)}`);
      }
      const sockets: string[] = [];
      for (const [p, st] of await walk(stateDir)) {
        const mode = (st.mode ?? 0) & 0o777;
        if (st.isDirectory && mode & 0o022) {
          problems.push(`${p}: folder writable by others (${mode.toString(8)})`);
        }
        if (st.isSocket) sockets.push(p);
        if (st.isFile && mode & 0o002) {
          problems.push(`${p}: file writable by others (${mode.toString(8)})`);
        }
      }
      console.log(
        `sandbox state: ${sockets.length} sockets: ${
          sockets.map((s) => s.slice(stateDir.length)).join(" ")
        }`,
      );
      assert(sockets.length > 0, "the sandbox has sockets");
      for (const s of sockets) {
        const got = await connectAsNobody(s);
        if (got !== "PermissionDenied") problems.push(`${s}: uid 65534 got ${got}`);
      }
      assertEquals(problems, []);
    } finally {
      await c.ctr(["tasks", "kill", "-s", "SIGKILL", id]);
      await c.ctr(["tasks", "delete", "-f", id], { timeoutMs: 30_000 });
      await c.ctr(["containers", "delete", id]);
      await c.stop();
      for (const pid of await sandboxProcesses(stateDir)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
