/**
 * Unpacks an image archive for `joey run --image`: an OCI image layout in a
 * tar (`ctr export`, `podman save --format oci-archive`, skopeo) or a
 * `docker save` archive. Layers are checked against their sha256 digests
 * and applied in order with OCI whiteouts (`.wh.<name>` deletes a lower
 * file, `.wh..wh..opq` empties a lower directory). Tar does the
 * extraction; it refuses members that climb out with `..`.
 * @module
 */
import { createHash } from "node:crypto";
import { JoeyError } from "../errors.ts";

/** What the image says about how to run it. */
export interface ImageConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
}

/** Reports a long step (layer unpacking) to the user. */
export type Progress = (message: string) => void;

interface Layer {
  path: string;
  /** "sha256:<hex>", or null when the format gives none (docker save). */
  digest: string | null;
  size: number;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new JoeyError(
      "InvalidArgument",
      `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

function bad(archive: string, why: string): JoeyError {
  return new JoeyError("InvalidArgument", `image archive ${archive}: ${why}`);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path)) as Record<string, unknown>;
}

function blobPath(layout: string, digest: string): string {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  if (!m) throw new JoeyError("InvalidArgument", `unsupported digest "${digest}"`);
  return `${layout}/blobs/${m[1]}/${m[2]}`;
}

type Descriptor = { mediaType?: string; digest: string; size?: number; platform?: unknown };

/** Follows index.json (and nested indexes) to one manifest, preferring linux/amd64. */
async function ociManifest(layout: string, archive: string) {
  let index = await readJson(`${layout}/index.json`);
  for (let depth = 0; depth < 4; depth++) {
    const manifests = (index.manifests ?? []) as Descriptor[];
    if (!manifests.length) throw bad(archive, "index.json lists no manifest");
    const pick = manifests.find((m) => {
      const p = m.platform as { os?: string; architecture?: string } | undefined;
      return !p || (p.os === "linux" && p.architecture === "amd64");
    }) ?? manifests[0]!;
    const doc = await readJson(blobPath(layout, pick.digest));
    if (Array.isArray(doc.manifests)) {
      index = doc;
      continue;
    }
    const config = doc.config as Descriptor;
    const layers = ((doc.layers ?? []) as Descriptor[]).map((l) => ({
      path: blobPath(layout, l.digest),
      digest: l.digest,
      size: l.size ?? 0,
    }));
    return { configPath: blobPath(layout, config.digest), layers };
  }
  throw bad(archive, "indexes nested too deep");
}

/** docker save: manifest.json = [{Config, Layers}]. */
async function dockerManifest(layout: string, archive: string) {
  const list = JSON.parse(await Deno.readTextFile(`${layout}/manifest.json`)) as {
    Config: string;
    Layers: string[];
  }[];
  const first = list[0];
  if (!first) throw bad(archive, "manifest.json lists no image");
  const layers: Layer[] = [];
  for (const l of first.Layers) {
    if (l.includes("..")) throw bad(archive, `layer path "${l}" climbs out`);
    layers.push({
      path: `${layout}/${l}`,
      digest: null,
      size: (await Deno.stat(`${layout}/${l}`)).size,
    });
  }
  return { configPath: `${layout}/${first.Config}`, layers };
}

async function verify(layer: Layer): Promise<void> {
  if (!layer.digest?.startsWith("sha256:")) return;
  const hash = createHash("sha256");
  const file = await Deno.open(layer.path);
  for await (const chunk of file.readable) hash.update(chunk);
  const got = `sha256:${hash.digest("hex")}`;
  if (got !== layer.digest) {
    throw new JoeyError("InvalidArgument", `layer ${layer.digest}: content has digest ${got}`);
  }
}

/** Applies one layer's whiteouts to rootfs, then extracts the rest over it. */
async function applyLayer(layer: Layer, rootfs: string): Promise<void> {
  const entries = (await run("tar", ["-tf", layer.path])).split("\n").filter(Boolean);
  for (const raw of entries) {
    const name = raw.replace(/^(\.\/)+/, "").replace(/\/$/, "");
    const slash = name.lastIndexOf("/");
    const dir = slash < 0 ? "" : name.slice(0, slash);
    const base = name.slice(slash + 1);
    if (!base.startsWith(".wh.")) continue;
    if (name.split("/").includes("..")) continue;
    const parent = dir ? `${rootfs}/${dir}` : rootfs;
    if (base === ".wh..wh..opq") {
      const names: string[] = [];
      try {
        for await (const e of Deno.readDir(parent)) names.push(e.name);
      } catch { /* nothing below yet */ }
      for (const n of names) await Deno.remove(`${parent}/${n}`, { recursive: true });
    } else {
      await Deno.remove(`${parent}/${base.slice(4)}`, { recursive: true }).catch(() => {});
    }
  }
  await run("tar", [
    "-xf",
    layer.path,
    "-C",
    rootfs,
    "--numeric-owner",
    "--same-permissions",
    "--exclude=.wh.*",
  ]);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

/**
 * Unpacks archive into rootfs (which must exist and be empty), using work
 * as scratch space; returns the image's run configuration.
 */
export async function unpackImage(
  archive: string,
  rootfs: string,
  work: string,
  progress: Progress = () => {},
): Promise<ImageConfig> {
  if (!(await Deno.stat(archive).then((i) => i.isFile, () => false))) {
    throw new JoeyError("NotFound", `image archive ${archive}: not found`);
  }
  const layout = `${work}/layout`;
  await Deno.mkdir(layout, { recursive: true });
  progress(`reading ${archive}`);
  await run("tar", ["-xf", archive, "-C", layout, "--no-same-owner"]);
  const hasIndex = await Deno.stat(`${layout}/index.json`).then(() => true, () => false);
  const hasDocker = await Deno.stat(`${layout}/manifest.json`).then(() => true, () => false);
  if (!hasIndex && !hasDocker) throw bad(archive, "neither index.json nor manifest.json inside");
  const { configPath, layers } = hasIndex
    ? await ociManifest(layout, archive)
    : await dockerManifest(layout, archive);
  for (const [i, layer] of layers.entries()) {
    progress(
      `unpacking layer ${i + 1}/${layers.length} (${(layer.size / 1048576).toFixed(1)} MiB)`,
    );
    await verify(layer);
    await applyLayer(layer, rootfs);
  }
  const doc = await readJson(configPath);
  const c = (doc.config ?? {}) as Record<string, unknown>;
  await Deno.remove(layout, { recursive: true });
  return {
    env: strings(c.Env),
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    workingDir: typeof c.WorkingDir === "string" && c.WorkingDir ? c.WorkingDir : "/",
    user: typeof c.User === "string" ? c.User : "",
  };
}
