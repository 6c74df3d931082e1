/**
 * `joey run`: one container in a fresh sandbox without containerd. It makes
 * an OCI bundle in a temporary directory (config.json for the root
 * filesystem or the unpacked image), drives the configured runtime's
 * RuntimeHandler directly (create, start, wait, delete), connects the
 * container's stdio to this terminal or these pipes through FIFOs, and
 * exits with the container's exit status.
 * @module
 */
import {
  applyOverride,
  ConfigError,
  type JoeyConfig,
  KEY_MAP,
  type LoadedConfig,
} from "../config/mod.ts";
import { JoeyError } from "../errors.ts";
import type { RuntimeFactory, RuntimeHandler } from "../runtime/mod.ts";
import { loadForCli, type Output } from "./common.ts";
import { type ImageConfig, unpackImage } from "./image.ts";
import { buildSpec, parseVolume, type Volume } from "./oci_spec.ts";
import { CliStdio } from "./stdio.ts";
import { parseFlags, UsageError } from "./usage.ts";

/** The containerd-style namespace `joey run` containers live in (runtime state paths). */
export const RUN_NAMESPACE = "joey-run";

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const SIGNUM: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

/** Loads the runtime factory by name; virt-container may not be built yet. */
async function factoryFor(name: string): Promise<RuntimeFactory> {
  const { runtimeFactory } = await import("../runtime/registry.ts");
  try {
    return await runtimeFactory(name);
  } catch (err) {
    if (name === "virt-container") {
      throw new JoeyError(
        "Unavailable",
        `runtime virt-container is not available yet in this build ` +
          `(${err instanceof Error ? err.message : err}); use --runtime linux-container`,
      );
    }
    throw err;
  }
}

/** uid/gid for the image's User ("", "uid[:gid]" or a name in the rootfs's /etc/passwd). */
async function resolveUser(user: string, rootfs: string): Promise<{ uid: number; gid: number }> {
  if (!user || user === "root") return { uid: 0, gid: 0 };
  const [u, g] = user.split(":") as [string, string | undefined];
  if (/^\d+$/.test(u) && (g === undefined || /^\d+$/.test(g))) {
    return { uid: Number(u), gid: Number(g ?? u) };
  }
  const passwd = await Deno.readTextFile(`${rootfs}/etc/passwd`).catch(() => "");
  const line = passwd.split("\n").map((l) => l.split(":")).find((f) => f[0] === u);
  if (!line) throw new JoeyError("InvalidArgument", `image user "${user}" is not in /etc/passwd`);
  return { uid: Number(line[2]), gid: g && /^\d+$/.test(g) ? Number(g) : Number(line[3]) };
}

/** The process to run: the command given, else the image's entrypoint + cmd, else /bin/sh. */
function processArgs(command: string[], image: ImageConfig | null): string[] {
  if (image) {
    const args = command.length ? [...image.entrypoint, ...command] : [
      ...image.entrypoint,
      ...image.cmd,
    ];
    if (args.length) return args;
  }
  return command.length ? command : ["/bin/sh"];
}

function mergeEnv(base: string[], extra: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) out.set(e.split("=")[0]!, e);
  return [...out.values()];
}

/** Runs the container and returns its exit status. */
async function runContainer(
  handler: RuntimeHandler,
  o: {
    id: string;
    bundle: string;
    spec: Record<string, unknown>;
    io: CliStdio;
    tty: boolean;
    stderr: (text: string) => void;
  },
): Promise<number> {
  await handler.create({
    id: o.id,
    bundle: o.bundle,
    namespace: RUN_NAMESPACE,
    rootfs: [],
    stdio: o.io.stdio,
    spec: o.spec,
  });
  // A container's pid 1 ignores signals it has no handler for (as under
  // docker without --init): the third SIGINT kills it outright.
  let interrupts = 0;
  const forward = (sig: Deno.Signal) => () => {
    const kill = sig === "SIGINT" && ++interrupts >= 3;
    if (kill) o.stderr("joey: third interrupt: killing the container");
    handler.kill(o.id, "", kill ? 9 : SIGNUM[sig]!, false).catch(() => {});
  };
  const listeners = SIGNALS.filter((s) => !(o.tty && s === "SIGINT")).map((s) => {
    const fn = forward(s);
    Deno.addSignalListener(s, fn);
    return [s, fn] as const;
  });
  const resize = () => {
    try {
      const { columns, rows } = Deno.consoleSize();
      handler.resizePty(o.id, "", columns, rows).catch(() => {});
    } catch { /* not a terminal */ }
  };
  try {
    await o.io.attach(() => handler.closeIO(o.id, ""));
    await handler.start(o.id, "");
    if (o.tty) {
      resize();
      Deno.addSignalListener("SIGWINCH", resize);
    }
    const exit = await handler.wait(o.id, "");
    await o.io.drained(2000);
    await handler.delete(o.id, "");
    return exit.exitStatus > 255 ? 255 : exit.exitStatus;
  } finally {
    for (const [s, fn] of listeners) Deno.removeSignalListener(s, fn);
    if (o.tty) Deno.removeSignalListener("SIGWINCH", resize);
  }
}

/** The `run` command. */
export async function runCommand(args: string[], out: Output): Promise<number> {
  const { values, positionals } = parseFlags("run", args, {
    runtime: { type: "string" },
    hypervisor: { type: "string" },
    rootfs: { type: "string" },
    image: { type: "string" },
    tty: { type: "boolean", short: "t" },
    interactive: { type: "boolean", short: "i" },
    volume: { type: "string", short: "v", multiple: true },
    env: { type: "string", short: "e", multiple: true },
    workdir: { type: "string", short: "w" },
    name: { type: "string" },
    config: { type: "string" },
  });
  if ((values.rootfs === undefined) === (values.image === undefined)) {
    throw new UsageError("run", "give exactly one of --rootfs DIR and --image OCI-ARCHIVE");
  }
  const volumes: Volume[] = [];
  for (const v of values.volume ?? []) {
    const parsed = parseVolume(v);
    if (!parsed) throw new UsageError("run", `bad volume "${v}": expected /HOST:/GUEST[:ro|:rw]`);
    volumes.push(parsed);
  }
  for (const e of values.env ?? []) {
    if (!/^[^=]+=/.test(e)) throw new UsageError("run", `bad --env "${e}": expected KEY=VALUE`);
  }
  if (values.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/.test(values.name)) {
    throw new UsageError("run", `bad --name "${values.name}"`);
  }
  let loaded: LoadedConfig = await loadForCli(values.config);
  for (const [flag, key] of [["runtime", "runtime.name"], ["hypervisor", "hypervisor.name"]]) {
    const value = values[flag as "runtime" | "hypervisor"];
    if (value === undefined) continue;
    try {
      loaded = applyOverride(loaded, key!, value, `flag:--${flag}`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const spec = KEY_MAP.get(key!)!;
      throw new UsageError("run", `bad --${flag} "${value}": expected ${spec.enum!.join(", ")}`);
    }
  }
  const config: JoeyConfig = loaded.config;
  const tty = values.tty ?? false;
  const id = values.name ?? `joey-run-${crypto.randomUUID().slice(0, 8)}`;
  const factory = await factoryFor(config.runtime.name);
  const progress = Deno.stderr.isTerminal()
    ? (msg: string) => out.stderr(`joey: ${msg}`)
    : () => {};

  const bundle = await Deno.makeTempDir({ prefix: "joey-run-" });
  let handler: RuntimeHandler | null = null;
  let io: CliStdio | null = null;
  let raw = false;
  try {
    await Deno.chmod(bundle, 0o711);
    let rootfs: string;
    let image: ImageConfig | null = null;
    if (values.rootfs !== undefined) {
      rootfs = await Deno.realPath(values.rootfs).catch(() => {
        throw new JoeyError("NotFound", `rootfs ${values.rootfs}: not found`);
      });
      if (!(await Deno.stat(rootfs)).isDirectory) {
        throw new JoeyError("InvalidArgument", `rootfs ${rootfs}: not a directory`);
      }
    } else {
      rootfs = `${bundle}/rootfs`;
      await Deno.mkdir(rootfs, { mode: 0o755 });
      image = await unpackImage(values.image!, rootfs, bundle, progress);
    }
    const env = mergeEnv(
      [DEFAULT_PATH, ...(tty ? ["TERM=xterm"] : []), ...(image?.env ?? [])],
      values.env ?? [],
    );
    const spec = buildSpec({
      id,
      args: processArgs(positionals, image),
      env,
      cwd: values.workdir ?? image?.workingDir ?? "/",
      terminal: tty,
      rootfs,
      user: await resolveUser(image?.user ?? "", rootfs),
      volumes,
    });
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec, null, 2));
    io = await CliStdio.create(bundle, {
      stdin: tty || (values.interactive ?? false),
      terminal: tty,
    });
    handler = await factory.create({
      exited: () => {},
      oom: (oomId) => out.stderr(`joey: container ${oomId} ran out of memory`),
    }, { namespace: RUN_NAMESPACE, config });
    if (tty && Deno.stdin.isTerminal()) {
      Deno.stdin.setRaw(true);
      raw = true;
    }
    return await runContainer(handler, { id, bundle, spec, io, tty, stderr: out.stderr });
  } finally {
    if (raw) Deno.stdin.setRaw(false);
    await io?.close();
    if (handler) await handler.shutdown().catch(() => {});
    await Deno.remove(bundle, { recursive: true }).catch(() => {});
  }
}
