/**
 * The test image: an OCI image archive built from Debian's busybox-static
 * (no registry is reachable), importable with `ctr images import`. Built
 * reproducibly (fixed mtimes and owners), cached by content under build/.
 * @module
 */
import { createHash } from "node:crypto";

export const BUSYBOX = "/bin/busybox";
export const IMAGE_NAME = "docker.io/joey/busybox:test";

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Fills dir with a busybox root filesystem: /bin/busybox plus an applet symlink per command. */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run"]) {
    await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
  await Deno.chmod(`${dir}/bin/busybox`, 0o755);
  const list = await new Deno.Command(BUSYBOX, { args: ["--list"], stdout: "piped" }).output();
  for (const applet of new TextDecoder().decode(list.stdout).split("\n").filter(Boolean)) {
    if (applet === "busybox") continue;
    await Deno.symlink("busybox", `${dir}/bin/${applet}`).catch(() => {});
  }
  await Deno.writeTextFile(
    `${dir}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
  );
  await Deno.writeTextFile(`${dir}/etc/group`, "root:x:0:\nnogroup:x:65534:\n");
}

/**
 * Builds (or reuses) the OCI archive for IMAGE_NAME under cacheDir and
 * returns its path.
 */
export async function buildBusyboxImage(cacheDir: string): Promise<string> {
  const busybox = await Deno.readFile(BUSYBOX);
  const archive = `${cacheDir}/busybox-${sha256(busybox).slice(0, 16)}.oci.tar`;
  try {
    await Deno.stat(archive);
    return archive;
  } catch { /* build it */ }
  await Deno.mkdir(cacheDir, { recursive: true });
  const work = await Deno.makeTempDir({ dir: cacheDir, prefix: "image-" });
  try {
    const rootfs = `${work}/rootfs`;
    await makeBusyboxRootfs(rootfs);
    const layerPath = `${work}/layer.tar`;
    await run("tar", [
      "--sort=name",
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "-cf",
      layerPath,
      "-C",
      rootfs,
      ".",
    ]);
    const layer = await Deno.readFile(layerPath);
    const layerDigest = sha256(layer);
    const config = new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/bin"], Cmd: ["sh"], WorkingDir: "/" },
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created_by: "joey tests: busybox-static" }],
    }));
    const configDigest = sha256(config);
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${configDigest}`,
        size: config.length,
      },
      layers: [{
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        digest: `sha256:${layerDigest}`,
        size: layer.length,
      }],
    }));
    const manifestDigest = sha256(manifest);
    const layout = `${work}/layout`;
    await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
    await Deno.writeFile(`${layout}/blobs/sha256/${layerDigest}`, layer);
    await Deno.writeFile(`${layout}/blobs/sha256/${configDigest}`, config);
    await Deno.writeFile(`${layout}/blobs/sha256/${manifestDigest}`, manifest);
    await Deno.writeTextFile(
      `${layout}/oci-layout`,
      JSON.stringify({ imageLayoutVersion: "1.0.0" }),
    );
    await Deno.writeTextFile(
      `${layout}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${manifestDigest}`,
          size: manifest.length,
          platform: { architecture: "amd64", os: "linux" },
          annotations: {
            "io.containerd.image.name": IMAGE_NAME,
            "org.opencontainers.image.ref.name": "test",
          },
        }],
      }),
    );
    const tmpArchive = `${work}/image.tar`;
    await run("tar", [
      "--sort=name",
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "-cf",
      tmpArchive,
      "-C",
      layout,
      ".",
    ]);
    await Deno.rename(tmpArchive, archive);
    return archive;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
