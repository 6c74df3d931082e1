/**
 * Builds small multi-layer image archives for the unpacker's tests: an OCI
 * image layout or a `docker save` layout in a tar, each layer given as a map
 * of path → file content, with whiteout entries written as the OCI spec
 * names them.
 * @module
 */
import { createHash } from "node:crypto";

/** One layer: file contents by path; `.wh.*` names are whiteouts (content ignored). */
export type LayerFiles = Record<string, string>;

async function tar(args: string[]): Promise<void> {
  const out = await new Deno.Command("tar", { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`tar ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function layerTar(work: string, n: number, files: LayerFiles, gzip: boolean) {
  const dir = `${work}/l${n}`;
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/") + 1)}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  await Deno.mkdir(dir, { recursive: true });
  const out = `${work}/l${n}.tar${gzip ? ".gz" : ""}`;
  await tar([gzip ? "-czf" : "-cf", out, "-C", dir, "."]);
  return out;
}

/** Writes an archive with the layers (bottom first) and image config; returns its path. */
export async function buildArchive(
  work: string,
  layers: LayerFiles[],
  config: Record<string, unknown>,
  format: "oci" | "docker" = "oci",
): Promise<string> {
  const layout = `${work}/layout`;
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const configBytes = new TextEncoder().encode(JSON.stringify({ config }));
  const configDigest = sha256(configBytes);
  await Deno.writeFile(`${layout}/blobs/sha256/${configDigest}`, configBytes);
  const descriptors = [];
  for (const [i, files] of layers.entries()) {
    const bytes = await Deno.readFile(await layerTar(work, i, files, i % 2 === 1));
    const digest = sha256(bytes);
    await Deno.writeFile(`${layout}/blobs/sha256/${digest}`, bytes);
    descriptors.push({ digest: `sha256:${digest}`, size: bytes.length });
  }
  if (format === "docker") {
    await Deno.writeTextFile(
      `${layout}/manifest.json`,
      JSON.stringify([{
        Config: `blobs/sha256/${configDigest}`,
        Layers: descriptors.map((d) => `blobs/sha256/${d.digest.slice(7)}`),
      }]),
    );
  } else {
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      config: { digest: `sha256:${configDigest}`, size: configBytes.length },
      layers: descriptors,
    }));
    const manifestDigest = sha256(manifest);
    await Deno.writeFile(`${layout}/blobs/sha256/${manifestDigest}`, manifest);
    await Deno.writeTextFile(
      `${layout}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ digest: `sha256:${manifestDigest}`, size: manifest.length }],
      }),
    );
  }
  const archive = `${work}/image.tar`;
  await tar(["-cf", archive, "-C", layout, "."]);
  return archive;
}
