/**
 * The OCI runtime spec (config.json) `joey run` writes into its bundle:
 * close to what `runc spec` and containerd's defaults give (own pid, ipc,
 * uts, mount and network namespaces; the default capability set; masked
 * and read-only /proc paths), plus the user's process and bind mounts.
 * @module
 */

/** What the spec is made from. */
export interface SpecOptions {
  id: string;
  args: string[];
  env: string[];
  cwd: string;
  terminal: boolean;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  /** uid/gid of the process (from the image's User, numeric only). */
  user: { uid: number; gid: number };
  volumes: Volume[];
  hostname?: string;
}

/** A bind mount from the host into the container. */
export interface Volume {
  source: string;
  destination: string;
  readonly: boolean;
}

const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Parses `-v HOST:GUEST[:ro|:rw]`; returns null when malformed. */
export function parseVolume(text: string): Volume | null {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3) return null;
  const [source, destination, mode] = parts as [string, string, string | undefined];
  if (!source.startsWith("/") || !destination.startsWith("/")) return null;
  if (mode !== undefined && mode !== "ro" && mode !== "rw") return null;
  return { source, destination, readonly: mode === "ro" };
}

/** The spec as a JSON-ready object. */
export function buildSpec(o: SpecOptions): Record<string, unknown> {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: o.terminal,
      user: { uid: o.user.uid, gid: o.user.gid },
      args: o.args,
      env: o.env,
      cwd: o.cwd,
      capabilities: {
        bounding: CAPABILITIES,
        effective: CAPABILITIES,
        permitted: CAPABILITIES,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: o.rootfs, readonly: false },
    hostname: o.hostname ?? o.id.slice(0, 63),
    mounts: [
      {
        destination: "/proc",
        type: "proc",
        source: "proc",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
      ...o.volumes.map((v) => ({
        destination: v.destination,
        type: "bind",
        source: v.source,
        options: ["rbind", v.readonly ? "ro" : "rw"],
      })),
    ],
    linux: {
      // No cgroupsPath: the OCI runtime then uses /<id> in each hierarchy and
      // removes it at delete, leaving no parent directory behind.
      namespaces: ["pid", "ipc", "uts", "mount", "network"].map((type) => ({ type })),
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
      ],
      readonlyPaths: [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
      ],
    },
  };
}
