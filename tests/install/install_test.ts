/**
 * `make install` from a clean checkout into a temporary PREFIX, then — with
 * the checkout removed, so nothing can lean on it — a real containerd whose
 * PATH has only PREFIX/bin runs a container through the installed
 * containerd-shim-joey-v2; then `make uninstall` leaves PREFIX empty.
 * @module
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

/** Whether a file exists at path. */
function existsSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
import { IMAGE_NAME, InstalledContainerd } from "./containerd.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const DENO = Deno.env.get("JOEY_DENO") || `${REPO}/.tools/bin/deno`;
const DENO_DIR = Deno.env.get("DENO_DIR") || `${REPO}/.cache/deno`;

async function which(name: string): Promise<boolean> {
  return (await new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
    .output()).success;
}

async function skipReason(): Promise<string | null> {
  if (Deno.uid() !== 0) return "needs root (containerd)";
  for (const bin of ["containerd", "ctr", "git", "make"]) {
    if (!(await which(bin))) return `${bin} is not installed`;
  }
  if (!(await Deno.stat(`${REPO}/build/os/libjoeyos.so`).then(() => true, () => false))) {
    return "build/os/libjoeyos.so is not built (make build)";
  }
  return null;
}

const skip = await skipReason();
if (skip) console.log(`install test skipped: ${skip}`);

async function sh(cmd: string[], cwd?: string) {
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { DENO_DIR },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Every path under dir (relative), sorted. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(rel);
    if (e.isDirectory) out.push(...await listTree(dir, rel));
  }
  return out.sort();
}

Deno.test({
  name:
    "make install from a clean checkout, containerd runs through the installed shim, make uninstall leaves nothing",
  ignore: skip !== null,
  sanitizeResources: false,
  fn: () =>
    withTempDir(async (tmp) => {
      // A clean checkout of the committed tree, plus the native outputs `make build` makes.
      const src = `${tmp}/checkout`;
      const clone = await sh(["git", "clone", "--quiet", "--no-hardlinks", REPO, src]);
      assertEquals(clone.code, 0, clone.stderr);
      for (
        const lib of [
          "os/libjoeyos.so",
          "vmm/libjoeyvmm.so",
          "guest/kernel/bzImage",
          "guest/kernel/vmlinux",
        ]
      ) {
        if (await Deno.stat(`${REPO}/build/${lib}`).then(() => true, () => false)) {
          await Deno.mkdir(`${src}/build/${lib.slice(0, lib.lastIndexOf("/"))}`, {
            recursive: true,
          });
          await Deno.copyFile(`${REPO}/build/${lib}`, `${src}/build/${lib}`);
        }
      }
      const prefix = `${tmp}/prefix`;
      await Deno.mkdir(prefix);
      // -o build: the recipe of `make install` without rebuilding every area.
      const install = await sh(
        [
          "make",
          "-s",
          "-o",
          "build",
          "install",
          `PREFIX=${prefix}`,
          `DENO=${DENO}`,
          `DENO_DIR=${DENO_DIR}`,
        ],
        src,
      );
      assertEquals(install.code, 0, install.stdout + install.stderr);
      assertIncludes(install.stderr, `installed joey (launcher on Deno`);
      // Both kernel forms where built: the hypervisors take vmlinux first.
      const guestKernels = ["bzImage", "vmlinux"]
        .filter((k) => existsSync(`${REPO}/build/guest/kernel/${k}`))
        .map((k) => `share/joey/${k}`);
      for (
        const f of [
          "bin/joey",
          "bin/containerd-shim-joey-v2",
          "share/joey/configuration.toml",
          ...guestKernels,
        ]
      ) {
        assert(await Deno.stat(`${prefix}/${f}`).then(() => true, () => false), `${f} installed`);
      }
      // The checkout goes away: the installed joey must not need it.
      await Deno.remove(src, { recursive: true });
      const version = await sh([`${prefix}/bin/joey`, "version", "--json"], "/");
      assertEquals(version.code, 0, version.stderr);
      assertEquals(JSON.parse(version.stdout).runtime_type, "io.containerd.joey.v2");
      const shimV = await sh([`${prefix}/bin/containerd-shim-joey-v2`, "-v"], "/");
      assertIncludes(shimV.stdout, "io.containerd.joey.v2");

      const ctd = await InstalledContainerd.start(`${prefix}/bin`, `${REPO}/build/test-images`);
      try {
        const run = await ctd.ctr([
          "run",
          "--rm",
          "--runtime",
          "io.containerd.joey.v2",
          IMAGE_NAME,
          "installed-1",
          "sh",
          "-c",
          "echo out; echo err >&2; exit 3",
        ]);
        assertEquals(run.stdout, "out\n", `${run.stderr}\n${await ctd.log()}`);
        assertEquals(run.stderr, "err\n");
        assertEquals(run.code, 3);
        // A running container: its shim is the installed program.
        const detached = await ctd.ctr([
          "run",
          "-d",
          "--runtime",
          "io.containerd.joey.v2",
          IMAGE_NAME,
          "installed-2",
          "sleep",
          "30",
        ]);
        assertEquals(detached.code, 0, detached.stderr);
        const shims = await ctd.shims();
        assert(shims.length > 0, "a shim daemon runs");
        for (const pid of shims) {
          const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ");
          assertIncludes(cmdline, `${prefix}/lib/joey/main.ts`);
        }
      } finally {
        await ctd.stop();
      }
      assertEquals(await ctd.shims(), []);

      const uninstall = await sh(["make", "-s", "uninstall", `PREFIX=${prefix}`], REPO);
      assertEquals(uninstall.code, 0, uninstall.stderr);
      assertEquals(await listTree(prefix), [], "uninstall leaves nothing under PREFIX");
    }),
});
