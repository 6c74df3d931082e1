/**
 * Help texts and flag parsing for the `joey` CLI. Bad flags are a
 * UsageError, which runCli reports on stderr with exit code 2.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A command line the CLI cannot accept (exit code 2). */
export class UsageError extends Error {
  readonly command: string;
  constructor(command: string, message: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** The help of each command, printed by `joey help <cmd>` and `joey <cmd> --help`. */
export const HELP: Record<string, string> = {
  joey: `joey — secure container runtime (every pod in its own KVM VM)

Usage: joey <command> [flags]

Commands:
  check     what this host supports, and which hypervisor "auto" picks
  env       the effective configuration and where each value came from
  run       run one container in a fresh sandbox, without containerd
  exec      run a command inside a running sandbox or container
  version   joey's version
  help      help for a command

containerd runs this same program as containerd-shim-joey-v2
(runtime type io.containerd.joey.v2). Run "joey help <command>" for a command's flags.`,
  check: `Usage: joey check [--json] [--config FILE]

Checks what this host offers joey: /dev/kvm, VMX/SVM or PVM, vsock and vhost,
/dev/net/tun, virtiofsd, QEMU, containerd, runc/crun, the guest kernel and
initrd, the cgroup layout; then gives a verdict per hypervisor and runtime and
says which hypervisor "auto" picks and why.

Exit status: 0 when the configured runtime can run here, 1 when it cannot.

  --json         print the report as JSON (shape: docs/operator-guide.md)
  --config FILE  read this configuration file instead of $JOEY_CONFIG / /etc/joey`,
  env: `Usage: joey env [--json] [--config FILE] [-a KEY=VALUE]…

Prints the effective configuration (defaults, then the file, then environment
variables) and where each value came from.

  --json         print {"path", "config", "sources"} as JSON
  -a, --annotation KEY=VALUE
                 apply a pod annotation (io.joey.config.<key>=<value>) as the shim
                 would: shows what that pod gets, or why it is refused
  --config FILE  read this configuration file instead of $JOEY_CONFIG / /etc/joey`,
  run: `Usage: joey run [flags] (--rootfs DIR | --image OCI-ARCHIVE) [-- CMD [ARG…]]

Runs one container in a fresh sandbox without containerd, with this terminal's
stdio, and exits with the container's exit status.

  --runtime NAME      linux-container or virt-container (default: configuration)
  --hypervisor NAME   auto, builtin or qemu (virt-container; default: configuration)
  --rootfs DIR        use DIR as the container's root filesystem
  --image FILE        unpack an OCI image archive (docker/podman save, ctr export)
  -t, --tty           give the container a terminal (implies -i)
  -i, --interactive   forward stdin to the container
  -v, --volume H:G[:ro]  bind-mount host path H at G (repeatable)
  -e, --env K=V       set an environment variable (repeatable)
  -w, --workdir DIR   working directory in the container
  --name ID           container id (default: joey-run-<random>)
  --config FILE       read this configuration file instead of $JOEY_CONFIG / /etc/joey

Without CMD the image's entrypoint and command run (with --rootfs: /bin/sh).`,
  exec: `Usage: joey exec [flags] <sandbox-or-container-id> [-- CMD [ARG…]]

Runs CMD (default: /bin/sh) inside a running sandbox's guest (virt-container,
looked up under runtime.state_dir) or a linux-container container (looked up
in the OCI runtime's state under linux_container.root). CMD runs as
"ctr tasks exec" would run it: with the container's own user, environment and
working directory, from its bundle's config.json; the flags below replace them.

  -t, --tty       allocate a terminal (default: when stdin is a terminal)
  -T, --no-tty    do not allocate a terminal
  -u, --user UID[:GID]  run as this user (numbers; GID defaults to the container's)
  -e, --env K=V   set an environment variable (repeatable; replaces the container's K)
  -w, --cwd DIR   working directory (absolute)
  --container ID  the container to run in, in a sandbox with several (virt-container)
  --ns NS         containerd namespace of a linux-container container (default: any)
  --config FILE   read this configuration file instead of $JOEY_CONFIG / /etc/joey`,
  version: `Usage: joey version [--json]

Prints joey's version, the runtime type containerd uses, and the Deno it runs on.`,
  help: `Usage: joey help [command]`,
};

/** Parses argv for a command; unknown flags or missing values are a UsageError. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // node:util reports ERR_PARSE_ARGS_* as TypeErrors with a readable message.
    throw new UsageError(command, err instanceof Error ? err.message : String(err));
  }
}
