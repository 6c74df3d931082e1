/**
 * `joey exec <id> [--container ID] [-t] [-- CMD…]`: a command inside a
 * running sandbox or container, for debugging. A virt-container sandbox is
 * found by its state directory, `<runtime.state_dir>/<sandbox-id>/`, and the
 * command runs in its guest through the agent (exec_vm.ts); a linux-container
 * container by the OCI runtime's state, `<linux_container.root>/<ns>/<id>/`,
 * where the command runs through `<oci_runtime> exec`.
 * @module
 */
import type { JoeyConfig } from "../config/mod.ts";
import { JoeyError } from "../errors.ts";
import { loadForCli, type Output } from "./common.ts";
import { parseFlags, UsageError } from "./usage.ts";
import { execInSandbox } from "./exec_vm.ts";
import { type ExecOverrides, parseEnv, parseUser } from "./exec_process.ts";

/** Where an id was found. */
export type ExecTarget =
  | { kind: "sandbox"; dir: string }
  | { kind: "linux-container"; root: string; namespace: string };

async function isDir(path: string): Promise<boolean> {
  return await Deno.stat(path).then((i) => i.isDirectory, () => false);
}

/** Finds the sandbox or container named id; throws NotFound saying where it looked. */
export async function findTarget(
  config: JoeyConfig,
  id: string,
  namespace?: string,
): Promise<ExecTarget> {
  const stateDir = config.runtime.state_dir;
  const sandbox = `${stateDir}/${id}`;
  if (await isDir(sandbox)) return { kind: "sandbox", dir: sandbox };
  const root = config.linux_container.root;
  const namespaces: string[] = [];
  if (namespace !== undefined) namespaces.push(namespace);
  else {
    try {
      for await (const e of Deno.readDir(root)) if (e.isDirectory) namespaces.push(e.name);
    } catch { /* no containers at all */ }
  }
  for (const ns of namespaces.sort()) {
    if (await isDir(`${root}/${ns}/${id}`)) {
      return { kind: "linux-container", root: `${root}/${ns}`, namespace: ns };
    }
  }
  throw new JoeyError(
    "NotFound",
    `no sandbox or container "${id}": not in ${stateDir}/ (virt-container sandboxes) nor in ` +
      `${root}/${namespace ?? "*"}/ (linux-container containers)`,
  );
}

/** runc/crun exec flags for the overrides (the runtime applies them over the container's process). */
function ociExecFlags(o: ExecOverrides): string[] {
  const flags: string[] = [];
  if (o.user) {
    flags.push("--user", `${o.user.uid}${o.user.gid === undefined ? "" : `:${o.user.gid}`}`);
  }
  if (o.cwd !== undefined) flags.push("--cwd", o.cwd);
  for (const e of o.env) flags.push("--env", e);
  return flags;
}

/** The `exec` command: the command's exit status, or 1 with a message. */
export async function execCommand(args: string[], out: Output): Promise<number> {
  const { values, positionals } = parseFlags("exec", args, {
    tty: { type: "boolean", short: "t" },
    "no-tty": { type: "boolean", short: "T" },
    user: { type: "string", short: "u" },
    env: { type: "string", short: "e", multiple: true },
    cwd: { type: "string", short: "w" },
    ns: { type: "string" },
    container: { type: "string" },
    config: { type: "string" },
  });
  const [id, ...command] = positionals;
  if (!id) throw new UsageError("exec", "missing the sandbox or container id");
  if (values.tty && values["no-tty"]) throw new UsageError("exec", "give -t or -T, not both");
  const tty = values.tty ?? (!values["no-tty"] && Deno.stdin.isTerminal());
  if (values.cwd !== undefined && !values.cwd.startsWith("/")) {
    throw new UsageError("exec", `--cwd takes an absolute path, not "${values.cwd}"`);
  }
  const overrides: ExecOverrides = {
    ...(values.user !== undefined ? { user: parseUser(values.user) } : {}),
    env: parseEnv(values.env ?? []),
    ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
  };
  const loaded = await loadForCli(values.config);
  const target = await findTarget(loaded.config, id, values.ns);
  const argv = command.length ? command : ["/bin/sh"];
  if (target.kind === "sandbox") {
    return await execInSandbox({
      dir: target.dir,
      sandboxId: id,
      container: values.container,
      argv,
      tty,
      overrides,
      warn: (m) => out.stderr(`joey exec: ${m}`),
    });
  }
  if (values.container !== undefined) {
    throw new UsageError("exec", "--container applies to virt-container sandboxes only");
  }
  const oci = loaded.config.linux_container.oci_runtime;
  const child = new Deno.Command(oci, {
    args: ["--root", target.root, "exec", ...(tty ? ["-t"] : []), ...ociExecFlags(overrides)]
      .concat([id, ...argv]),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  return status.signal ? 128 + signalNumber(status.signal) : status.code;
}

function signalNumber(sig: Deno.Signal): number {
  const table: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return table[sig] ?? 0;
}
