/**
 * The bundle spec `joey run` writes: volumes parsed strictly, the process
 * and mounts as given, and the namespaces a container needs.
 * @module
 */
import { buildSpec, parseVolume } from "../../src/cli/oci_spec.ts";
import { assertEquals } from "../lib/assert.ts";

Deno.test("parseVolume() accepts /HOST:/GUEST[:ro|:rw] and nothing else", () => {
  assertEquals(parseVolume("/a:/b"), { source: "/a", destination: "/b", readonly: false });
  assertEquals(parseVolume("/a:/b:ro"), { source: "/a", destination: "/b", readonly: true });
  assertEquals(parseVolume("/a:/b:rw"), { source: "/a", destination: "/b", readonly: false });
  for (const bad of ["a:/b", "/a:b", "/a", "/a:/b:rx", "/a:/b:ro:x", ""]) {
    assertEquals(parseVolume(bad), null, bad);
  }
});

Deno.test("buildSpec() carries the process, rootfs, volumes and namespaces", () => {
  const spec = buildSpec({
    id: "c1",
    args: ["sh", "-c", "true"],
    env: ["PATH=/bin"],
    cwd: "/w",
    terminal: true,
    rootfs: "/r",
    user: { uid: 1000, gid: 100 },
    volumes: [{ source: "/h", destination: "/g", readonly: true }],
  }) as {
    process: Record<string, unknown>;
    root: unknown;
    mounts: { destination: string; options: string[] }[];
    linux: { namespaces: { type: string }[]; cgroupsPath?: string };
    hostname: string;
  };
  assertEquals(spec.process.args, ["sh", "-c", "true"]);
  assertEquals(spec.process.terminal, true);
  assertEquals(spec.process.user, { uid: 1000, gid: 100 });
  assertEquals(spec.process.cwd, "/w");
  assertEquals(spec.root, { path: "/r", readonly: false });
  assertEquals(spec.hostname, "c1");
  const volume = spec.mounts.find((m) => m.destination === "/g")!;
  assertEquals(volume.options, ["rbind", "ro"]);
  assertEquals(
    spec.linux.namespaces.map((n) => n.type).sort(),
    ["ipc", "mount", "network", "pid", "uts"],
  );
  assertEquals(spec.linux.cgroupsPath, undefined, "the runtime's /<id> default, no parent left");
  for (const m of ["/proc", "/dev", "/dev/pts", "/sys"]) {
    assertEquals(spec.mounts.some((x) => x.destination === m), true, m);
  }
});
