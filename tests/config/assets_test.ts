/**
 * Guest asset lookup (configured path, then $JOEY_ASSETS_DIR, then build/)
 * and the content-addressed extraction of embedded files used by the
 * compiled executable, exercised here on ordinary files.
 * @module
 */
import { locateAsset, materialize, resolveAssets, sourceRoot } from "../../src/config/assets.ts";
import { assert, assertEquals } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";

Deno.test("locateAsset() prefers the configured path, then $JOEY_ASSETS_DIR, then build/", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bzImage`, "kernel");
    assertEquals(locateAsset("kernel", "/my/kernel", { JOEY_ASSETS_DIR: dir }), {
      path: "/my/kernel",
      from: "config",
      searched: ["/my/kernel"],
    });
    const fromDir = locateAsset("kernel", "", { JOEY_ASSETS_DIR: dir });
    assertEquals(fromDir.path, `${dir}/bzImage`);
    assertEquals(fromDir.from, "assets-dir");
    const none = locateAsset("initrd", "", { JOEY_ASSETS_DIR: dir });
    assert(none.searched.includes(`${dir}/initrd.img`));
    assert(none.searched.some((p) => p.startsWith(`${sourceRoot()}/build/guest/`)));
    if (none.path !== null) assertEquals(none.from, "build");
    const all = resolveAssets({ kernel: "", initrd: "", vmm_library: "" }, {
      JOEY_ASSETS_DIR: dir,
    });
    assertEquals(all.kernel.path, `${dir}/bzImage`);
    // Both hypervisors take the uncompressed ELF where it is there.
    await Deno.writeTextFile(`${dir}/vmlinux`, "elf");
    for (
      const section of [{ kernel: "", initrd: "" }, { kernel: "", initrd: "", vmm_library: "" }]
    ) {
      assertEquals(resolveAssets(section, { JOEY_ASSETS_DIR: dir }).kernel.path, `${dir}/vmlinux`);
    }
  }));

Deno.test("materialize() copies a file once into <cache>/<sha256>/<name> with 0700 directories", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/libx.so`, "library v1");
    const cacheDir = `${dir}/cache`;
    const a = await materialize(`${dir}/libx.so`, { force: true, cacheDir });
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode("library v1")),
    );
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    assertEquals(a, `${cacheDir}/${hex}/libx.so`);
    assertEquals(await Deno.readTextFile(a), "library v1");
    assertEquals((await Deno.stat(cacheDir)).mode! & 0o777, 0o700);
    assertEquals((await Deno.stat(`${cacheDir}/${hex}`)).mode! & 0o777, 0o700);
    const mtime = (await Deno.stat(a)).mtime;
    assertEquals(await materialize(`${dir}/libx.so`, { force: true, cacheDir }), a);
    assertEquals((await Deno.stat(a)).mtime, mtime, "not rewritten");
    await Deno.writeTextFile(`${dir}/libx.so`, "library v2");
    const b = await materialize(`${dir}/libx.so`, { force: true, cacheDir });
    assert(b !== a, "new content, new directory");
    assertEquals(await materialize(`${dir}/libx.so`), `${dir}/libx.so`, "not compiled: as is");
  }));
