/**
 * The image unpacker of `joey run --image`: layers applied in order with
 * whiteouts and opaque directories, gzip and plain layers, both archive
 * formats, the image's run settings, and a layer whose content does not
 * match its digest rejected.
 * @module
 */
import { unpackImage } from "../../src/cli/image.ts";
import { assertEquals, assertIncludes, assertRejects } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";
import { buildArchive, type LayerFiles } from "./oci_archive.ts";

async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await tree(dir, rel));
    else out.push(`${rel}=${await Deno.readTextFile(`${dir}/${rel}`)}`);
  }
  return out.sort();
}

const LAYERS: LayerFiles[] = [
  { "etc/a": "1", "etc/b": "2", "opt/x/old": "3", "keep": "k" },
  { "etc/.wh.a": "", "opt/x/.wh..wh..opq": "", "opt/x/new": "4", "etc/c": "5" },
  { "etc/b": "22" },
];
const CONFIG = {
  Env: ["PATH=/bin", "A=1"],
  Entrypoint: ["/bin/sh", "-c"],
  Cmd: ["echo hi"],
  WorkingDir: "/work",
  User: "1000:1000",
};

for (const format of ["oci", "docker"] as const) {
  Deno.test(`unpackImage() applies ${format} layers with whiteouts and opaque directories`, () =>
    withTempDir(async (dir) => {
      const archive = await buildArchive(dir, LAYERS, CONFIG, format);
      await Deno.mkdir(`${dir}/rootfs`);
      const steps: string[] = [];
      const config = await unpackImage(
        archive,
        `${dir}/rootfs`,
        `${dir}/work`,
        (m) => steps.push(m),
      );
      assertEquals(await tree(`${dir}/rootfs`), [
        "etc/b=22",
        "etc/c=5",
        "keep=k",
        "opt/x/new=4",
      ]);
      assertEquals(config, {
        env: ["PATH=/bin", "A=1"],
        entrypoint: ["/bin/sh", "-c"],
        cmd: ["echo hi"],
        workingDir: "/work",
        user: "1000:1000",
      });
      assertEquals(steps.filter((s) => s.startsWith("unpacking layer")).length, 3);
      assertIncludes(steps[1]!, "unpacking layer 1/3");
    }));
}

Deno.test("unpackImage() rejects a layer whose content does not match its digest", () =>
  withTempDir(async (dir) => {
    const archive = await buildArchive(dir, [{ "f": "x" }], {});
    // Rewrite the layer blob inside the layout, then re-pack.
    const layout = `${dir}/layout/blobs/sha256`;
    const index = JSON.parse(await Deno.readTextFile(`${dir}/layout/index.json`));
    const manifest = JSON.parse(
      await Deno.readTextFile(`${layout}/${index.manifests[0].digest.slice(7)}`),
    );
    await Deno.writeTextFile(`${layout}/${manifest.layers[0].digest.slice(7)}`, "tampered");
    await new Deno.Command("tar", { args: ["-cf", archive, "-C", `${dir}/layout`, "."] }).output();
    await Deno.mkdir(`${dir}/rootfs`);
    const err = await assertRejects(() => unpackImage(archive, `${dir}/rootfs`, `${dir}/work`));
    assertIncludes(err.message, `layer ${manifest.layers[0].digest}: content has digest sha256:`);
  }));

Deno.test("unpackImage() names a missing archive and one that is not an image", () =>
  withTempDir(async (dir) => {
    const missing = await assertRejects(() => unpackImage(`${dir}/none.tar`, dir, `${dir}/w`));
    assertIncludes(missing.message, "not found");
    await Deno.mkdir(`${dir}/empty`);
    await Deno.writeTextFile(`${dir}/empty/readme`, "hi");
    await new Deno.Command("tar", { args: ["-cf", `${dir}/x.tar`, "-C", `${dir}/empty`, "."] })
      .output();
    const notImage = await assertRejects(() => unpackImage(`${dir}/x.tar`, dir, `${dir}/w`));
    assertIncludes(notImage.message, "neither index.json nor manifest.json");
  }));
