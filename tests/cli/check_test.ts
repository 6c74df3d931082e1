/**
 * `joey check`: the JSON report has the documented shape and agrees with
 * this host's own facts (read independently here); the exit status follows
 * the configured runtime; and judge() gives the right verdicts and `auto`
 * choice for made-up hosts (VMX, PVM, nothing).
 * @module
 */
import { defaultConfig } from "../../src/config/mod.ts";
import type { HostFacts } from "../../src/cli/host.ts";
import { cgroupLayout } from "../../src/cli/host.ts";
import { judge } from "../../src/cli/verdict.ts";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";
import { joey } from "./joey.ts";
import { assertShape, CHECK_SHAPE } from "./shape.ts";

Deno.test("joey check --json has the documented shape and matches this host", async () => {
  const r = await joey(["check", "--json"]);
  const report = JSON.parse(r.stdout);
  assertShape(report, CHECK_SHAPE);
  assertEquals(r.code, report.configured.usable ? 0 : 1);
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const hw = /\b(vmx|svm)\b/.test(cpuinfo);
  const kvm = await Deno.stat("/dev/kvm").then(() => true, () => false);
  const byId = Object.fromEntries(
    report.checks.map((c: { id: string }) => [c.id, c]),
  ) as Record<string, { status: string; detail: string }>;
  for (const id of ["config", "kvm", "virtualization", "vsock", "tun", "virtiofsd", "qemu"]) {
    assert(byId[id], `check "${id}" is reported`);
  }
  for (const id of ["containerd", "oci_runtime", "kernel", "initrd", "cgroups"]) {
    assert(byId[id], `check "${id}" is reported`);
  }
  assertEquals(byId.kvm!.status === "ok", kvm);
  assertEquals(report.auto.hypervisor, hw && kvm ? "builtin" : "qemu");
  if (!hw) assertEquals(report.hypervisors.builtin.usable, false);
  assertEquals(report.host.kernel, Deno.osRelease());
  const text = await joey(["check"]);
  assertEquals(text.code, r.code);
  assertIncludes(text.stdout, `auto picks ${report.auto.hypervisor}: ${report.auto.reason}`);
});

Deno.test("joey check fails (exit 1) when the configured runtime cannot run", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/joey.toml`;
    await Deno.writeTextFile(
      path,
      '[runtime]\nname = "linux-container"\n\n[linux_container]\noci_runtime = "/nonexistent/runc"\n',
    );
    const r = await joey(["check", "--json", "--config", path]);
    assertEquals(r.code, 1);
    const report = JSON.parse(r.stdout);
    assertEquals(report.configured.usable, false);
    assertEquals(report.runtimes["linux-container"].usable, false);
    assertIncludes(report.runtimes["linux-container"].reason, "/nonexistent/runc");
    await Deno.writeTextFile(path, "[runtime]\nnme = 1\n");
    const bad = await joey(["check", "--json", "--config", path]);
    assertEquals(bad.code, 1);
    const badReport = JSON.parse(bad.stdout);
    assertIncludes(badReport.config.error, `${path}:2: unknown key "runtime.nme"`);
    assertEquals(badReport.checks[0].status, "fail");
  });
});

function facts(over: Partial<HostFacts> = {}): HostFacts {
  const bin = (name: string) => ({ name, path: `/usr/bin/${name}`, version: "1" });
  const asset = (p: string) => ({ path: p, from: "build" as const, searched: [p] });
  const assets = {
    kernel: asset("/b/bzImage"),
    initrd: asset("/b/initrd.img"),
    vmmLibrary: asset("/b/libjoeyvmm.so"),
  };
  return {
    kernel: "6.1",
    arch: "x86_64",
    cpus: 2,
    kvm: { present: true, accessible: true, error: null },
    cpuVirt: "vmx",
    pvm: false,
    nested: false,
    devices: { vhostVsock: true, vhostNet: true, vsock: true, tun: true },
    modules: { vhostVsock: true, vhostNet: true, vsock: true, tun: true },
    virtiofsd: bin("virtiofsd"),
    qemu: bin("qemu-system-x86_64"),
    qemuMachines: ["microvm", "pc"],
    containerd: bin("containerd"),
    ociRuntime: bin("runc"),
    ociRuntimes: [],
    assets: { builtin: assets, qemu: assets },
    cgroups: { layout: "v2", controllers: [] },
    virtContainer: { available: true, reason: "built in" },
    ...over,
  };
}

Deno.test("judge(): VMX host → builtin usable, auto picks builtin, QEMU uses KVM", () => {
  const j = judge(facts(), defaultConfig(), new Set());
  assertEquals(j.hypervisors.builtin.usable, true);
  assertEquals(j.auto.hypervisor, "builtin");
  assertEquals(j.hypervisors.qemu.accel, "kvm");
  assertEquals(j.runtimes["virt-container"].usable, true);
});

Deno.test("judge(): PVM host → builtin unusable (banner then stop), auto picks QEMU/TCG", () => {
  const j = judge(facts({ cpuVirt: null, pvm: true }), defaultConfig(), new Set());
  assertEquals(j.hypervisors.builtin.usable, false);
  assertIncludes(j.hypervisors.builtin.reason, "PVM");
  assertEquals(j.auto.hypervisor, "qemu");
  assertIncludes(j.auto.reason, "PVM");
  assertEquals(j.hypervisors.qemu.accel, "tcg");
  assertEquals(j.hypervisors.qemu.usable, true);
  assertEquals(j.checks.find((c) => c.id === "virtualization")!.status, "warn");
});

Deno.test("judge(): missing pieces make the right things unusable, with reasons", () => {
  const noKvm = judge(
    facts({ kvm: { present: false, accessible: false, error: null }, cpuVirt: null }),
    defaultConfig(),
    new Set(),
  );
  assertEquals(noKvm.hypervisors.builtin.reason, "no usable /dev/kvm");
  assertEquals(noKvm.hypervisors.qemu.accel, "tcg");
  const missing = { path: null, from: "none" as const, searched: ["/x"] };
  const f = facts();
  f.assets.qemu = { ...f.assets.qemu, kernel: missing };
  const noKernel = judge(
    { ...f, qemu: { name: "q", path: null, version: null } },
    defaultConfig(),
    new Set(),
  );
  assertEquals(noKernel.hypervisors.qemu.usable, false);
  assertEquals(noKernel.checks.find((c) => c.id === "kernel")!.status, "fail");
  const config = defaultConfig();
  config.hypervisor.name = "qemu";
  config.runtime.name = "virt-container";
  const viaQemu = judge(
    { ...f, qemu: { name: "q", path: null, version: null } },
    config,
    new Set(),
  );
  assertEquals(viaQemu.configured.usable, false);
  assertIncludes(viaQemu.configured.reason, "hypervisor qemu");
  const notBuilt = judge(
    facts({ virtContainer: { available: false, reason: "not in this build" } }),
    config,
    new Set(),
  );
  assertEquals(notBuilt.runtimes["virt-container"], { usable: false, reason: "not in this build" });
  const linux = defaultConfig();
  linux.runtime.name = "linux-container";
  const noRunc = judge(
    facts({ ociRuntime: { name: "runc", path: null, version: null } }),
    linux,
    new Set(),
  );
  assertEquals(noRunc.configured.usable, false);
});

Deno.test("judge(): a QEMU without the configured machine type is not usable", () => {
  const j = judge(facts({ qemuMachines: ["pc", "q35"] }), defaultConfig(), new Set());
  assertEquals(j.hypervisors.qemu.usable, false);
  assertIncludes(j.hypervisors.qemu.reason, 'no machine type "microvm"');
  assertEquals(j.checks.find((c) => c.id === "qemu")!.status, "warn");
});

Deno.test("cgroupLayout() tells v2, hybrid and v1 apart", () => {
  const v1 = "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n" +
    "cgroup /sys/fs/cgroup/cpu cgroup rw,nosuid,cpu 0 0";
  assertEquals(cgroupLayout(v1), { layout: "v1", controllers: ["cpu", "memory"] });
  assertEquals(
    cgroupLayout(v1 + "\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0").layout,
    "hybrid",
  );
  assertEquals(cgroupLayout("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0").layout, "v2");
  assertEquals(cgroupLayout("").layout, "none");
});
