/**
 * The shim binary's command line, in the Go flag syntax containerd uses:
 * `-namespace ns -address a -publish-binary p -id id [-bundle b] [-debug]
 * [-socket s] start|delete` (flags may also be written with `--` or
 * `-flag=value`). No action means the long-running daemon.
 * @module
 */
import { invalidArgument } from "../errors.ts";

/** Parsed shim flags. */
export interface ShimFlags {
  namespace: string;
  /** containerd's gRPC address (-address). */
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  /** The daemon's socket path (internal: passed from start to the daemon). */
  socket: string;
  /** "node" for a namespace-wide daemon (internal: passed from start). */
  mode: string;
  /** "start", "delete", or "" for the daemon. */
  action: "start" | "delete" | "";
  /** -v: print the version and exit. */
  version: boolean;
}

const STRING_FLAGS: Record<string, keyof ShimFlags> = {
  namespace: "namespace",
  address: "address",
  "publish-binary": "publishBinary",
  id: "id",
  bundle: "bundle",
  socket: "socket",
  mode: "mode",
};
const BOOL_FLAGS: Record<string, keyof ShimFlags> = { debug: "debug", v: "version" };

/** Whether argv is a shim invocation (containerd's flags), not a `joey` CLI command. */
export function isShimInvocation(args: string[]): boolean {
  return args.some((a) => /^--?(namespace|id|address|publish-binary|bundle)(=|$)/.test(a)) ||
    (args.length === 1 && args[0] === "-v");
}

/** Parses the shim's argv; throws InvalidArgument naming a bad flag. */
export function parseShimFlags(args: string[]): ShimFlags {
  const flags: ShimFlags = {
    namespace: "",
    address: "",
    publishBinary: "",
    id: "",
    bundle: "",
    debug: false,
    socket: "",
    mode: "",
    action: "",
    version: false,
  };
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      rest.push(arg);
      continue;
    }
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    if (name in BOOL_FLAGS) {
      (flags as unknown as Record<string, unknown>)[BOOL_FLAGS[name]!] = inline === undefined
        ? true
        : inline === "true";
    } else if (name in STRING_FLAGS) {
      const value = inline ?? args[++i];
      if (value === undefined) throw invalidArgument(`flag -${name} needs a value`);
      (flags as unknown as Record<string, unknown>)[STRING_FLAGS[name]!] = value;
    } else {
      throw invalidArgument(`unknown shim flag "${arg}"`);
    }
  }
  if (rest.length > 1) throw invalidArgument(`unexpected arguments: ${rest.join(" ")}`);
  const action = rest[0] ?? "";
  if (action !== "" && action !== "start" && action !== "delete") {
    throw invalidArgument(`unknown shim action "${action}" (expected start or delete)`);
  }
  flags.action = action;
  return flags;
}
