/**
 * `joey check [--json]`: what this host offers joey, a verdict per
 * hypervisor and runtime, and which hypervisor `auto` picks. The JSON shape
 * is CheckReport (documented in docs/operator-guide.md and validated by
 * tests/cli/check_test.ts).
 * @module
 */
import { defaultConfig, type LoadedConfig } from "../config/mod.ts";
import { probeHost } from "./host.ts";
import { type CheckItem, judge, type Judgement, type Verdict } from "./verdict.ts";
import { VERSION } from "../shim/self.ts";
import { loadForCli, type Output } from "./common.ts";
import { parseFlags } from "./usage.ts";

/** `joey check --json` output. */
export interface CheckReport extends Judgement {
  version: string;
  config: { path: string | null; error: string | null };
  host: { kernel: string; arch: string; cpus: number };
}

/** Probes and judges this host with the given (or default) configuration. */
export async function checkHost(
  loaded: LoadedConfig | null,
  configError: string | null,
): Promise<CheckReport> {
  const config = loaded?.config ?? defaultConfig();
  const facts = await probeHost(config);
  const configured = [facts.assets.builtin, facts.assets.qemu]
    .flatMap((a) => [a.kernel, a.initrd, a.vmmLibrary])
    .filter((a) => a.from === "config" && a.path)
    .map((a) => a.path!);
  const files = new Set<string>();
  for (const p of configured) {
    if (await Deno.stat(p).then((i) => i.isFile, () => false)) files.add(p);
  }
  const judged = judge(facts, config, files);
  if (configError) {
    judged.checks.unshift({
      id: "config",
      title: "configuration",
      status: "fail",
      detail: `${configError} (judged with the built-in defaults)`,
    });
    judged.configured.usable = false;
    judged.configured.reason = "the configuration has errors";
  } else {
    judged.checks.unshift({
      id: "config",
      title: "configuration",
      status: "ok",
      detail: loaded?.path ?? "none: built-in defaults",
    });
  }
  return {
    version: VERSION,
    config: { path: loaded?.path ?? null, error: configError },
    host: { kernel: facts.kernel, arch: facts.arch, cpus: facts.cpus },
    ...judged,
  };
}

function yesNo(v: Verdict): string {
  return v.usable ? "yes" : "no ";
}

/** The report for a terminal. */
export function renderCheck(r: CheckReport): string {
  const width = Math.max(...r.checks.map((c: CheckItem) => c.title.length));
  const lines = [
    `joey ${r.version} on Linux ${r.host.kernel} ${r.host.arch}, ${r.host.cpus} CPUs`,
    "",
    ...r.checks.map((c) => `  ${c.status.padEnd(5)} ${c.title.padEnd(width)}  ${c.detail}`),
    "",
    "Hypervisors:",
    `  builtin  ${yesNo(r.hypervisors.builtin)}  ${r.hypervisors.builtin.reason}`,
    `  qemu     ${yesNo(r.hypervisors.qemu)}  ${r.hypervisors.qemu.reason}`,
    `  auto picks ${r.auto.hypervisor}: ${r.auto.reason}`,
    "",
    "Runtimes:",
    `  linux-container  ${yesNo(r.runtimes["linux-container"])}  ${
      r.runtimes["linux-container"].reason
    }`,
    `  virt-container   ${yesNo(r.runtimes["virt-container"])}  ${
      r.runtimes["virt-container"].reason
    }`,
    "",
    `Configured: runtime ${r.configured.runtime}, hypervisor ${r.configured.hypervisor}: ${
      r.configured.usable ? "can run here" : `cannot run here (${r.configured.reason})`
    }`,
  ];
  return lines.join("\n");
}

/** The `check` command; exit 0 when the configured runtime can run here. */
export async function checkCommand(args: string[], out: Output): Promise<number> {
  const { values } = parseFlags("check", args, {
    json: { type: "boolean" },
    config: { type: "string" },
  });
  let loaded: LoadedConfig | null = null;
  let error: string | null = null;
  try {
    loaded = await loadForCli(values.config);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const report = await checkHost(loaded, error);
  out.stdout(values.json ? JSON.stringify(report, null, 2) : renderCheck(report));
  return report.configured.usable ? 0 : 1;
}
