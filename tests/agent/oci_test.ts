/**
 * specFromOci: a containerd-style config.json becomes the agent's
 * grpc.Spec (capitalised fields), with the guest rootfs path, and encodes
 * through the project's codec for grpc.CreateContainerRequest.
 */
import { specFromOci } from "../../src/agent/mod.ts";
import { messageType } from "../../src/proto/registry.ts";
import { assertEquals } from "../lib/assert.ts";

const config = {
  ociVersion: "1.0.2-dev",
  process: {
    terminal: true,
    consoleSize: { height: 40, width: 120 },
    user: { uid: 1000, gid: 100, additionalGids: [10, 20] },
    args: ["sh", "-c", "true"],
    env: ["PATH=/bin"],
    cwd: "/work",
    capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] },
    rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 512 }],
    noNewPrivileges: true,
    oomScoreAdj: 100,
  },
  root: { path: "/var/lib/host/rootfs", readonly: true },
  hostname: "box",
  mounts: [{ destination: "/proc", type: "proc", source: "proc", options: ["nosuid"] }],
  annotations: { "io.kubernetes.cri.sandbox-id": "s1", bogus: 5 },
  linux: {
    resources: {
      memory: { limit: 1048576 },
      cpu: { quota: 50000, period: 100000 },
      pids: { limit: 10 },
    },
    cgroupsPath: "/k8s/x",
    namespaces: [{ type: "pid" }, { type: "network", path: "/proc/1/ns/net" }],
    maskedPaths: ["/proc/kcore"],
    readonlyPaths: ["/proc/sys"],
    sysctl: { "net.ipv4.ip_forward": "1" },
  },
};

Deno.test("specFromOci() maps a config.json onto grpc.Spec with the guest rootfs", () => {
  const spec = specFromOci(config, "/run/joey/shared/containers/c1/rootfs");
  assertEquals(spec.Root, { Path: "/run/joey/shared/containers/c1/rootfs", Readonly: true });
  assertEquals(spec.Hostname, "box");
  assertEquals(spec.Process?.Args, ["sh", "-c", "true"]);
  assertEquals(spec.Process?.ConsoleSize, { Height: 40, Width: 120 });
  assertEquals(spec.Process?.User, { UID: 1000, GID: 100, AdditionalGids: [10, 20], Username: "" });
  assertEquals(spec.Process?.Rlimits, [{ Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 512 }]);
  assertEquals(spec.Process?.Capabilities?.Bounding, ["CAP_KILL"]);
  assertEquals(spec.Process?.NoNewPrivileges, true);
  assertEquals(spec.Mounts, [{
    destination: "/proc",
    type: "proc",
    source: "proc",
    options: ["nosuid"],
  }]);
  assertEquals(spec.Annotations, { "io.kubernetes.cri.sandbox-id": "s1" });
  assertEquals(spec.Linux?.Resources?.Memory, { Limit: 1048576, Reservation: 0 });
  assertEquals(spec.Linux?.Resources?.CPU?.Quota, 50000);
  assertEquals(spec.Linux?.Namespaces, [
    { Type: "pid", Path: "" },
    { Type: "network", Path: "/proc/1/ns/net" },
  ]);
  assertEquals(spec.Linux?.Sysctl, { "net.ipv4.ip_forward": "1" });
});

Deno.test("specFromOci() output survives the agent's wire format", () => {
  const codec = messageType<Record<string, unknown>>("grpc.CreateContainerRequest");
  const spec = specFromOci(config, "/r");
  const back = codec.decode(codec.encode({ container_id: "c1", OCI: spec }));
  const oci = back.OCI as Record<string, Record<string, unknown>>;
  assertEquals(oci.Process?.Args, ["sh", "-c", "true"]);
  assertEquals(oci.Root?.Path, "/r");
  assertEquals((oci.Linux?.Sysctl as Record<string, string>)["net.ipv4.ip_forward"], "1");
});
