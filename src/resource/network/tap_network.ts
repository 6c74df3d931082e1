/**
 * network: when the spec names a network namespace (CNI made it, with a
 * veth in it), each of its ethernet interfaces gets a tap in the same
 * namespace, joined to the veth by tc mirred redirects in both directions
 * (Kata's "tcfilter" model), and the guest NIC gets the veth's MAC,
 * addresses and routes (handed to the agent). Without a namespace the
 * guest has loopback only.
 * @module
 */
import { JoeyError } from "../../errors.ts";

/** An address with its prefix length. */
export interface IpAddress {
  family: "inet" | "inet6";
  address: string;
  prefixLength: number;
}

/** One guest interface and the host tap behind it. */
export interface GuestInterface {
  /** The veth in the pod namespace. */
  hostName: string;
  tap: string;
  mac: string;
  mtu: number;
  addresses: IpAddress[];
}

/** A route in the pod namespace, to recreate in the guest. */
export interface GuestRoute {
  destination: string;
  gateway: string;
  device: string;
  source: string;
  scope: string;
  family: "inet" | "inet6";
}

/** The sandbox network as set up on the host. */
export interface SandboxNetwork {
  netns: string;
  interfaces: GuestInterface[];
  routes: GuestRoute[];
}

/** The network namespace path of an OCI spec, or null (none, or the host's). */
export function netnsOfSpec(spec: Record<string, unknown>): string | null {
  const linux = (spec.linux ?? {}) as { namespaces?: { type?: string; path?: string }[] };
  const ns = (linux.namespaces ?? []).find((n) => n.type === "network");
  return ns?.path ? ns.path : null;
}

async function inNetns(netns: string, argv: string[]): Promise<string> {
  const out = await new Deno.Command("nsenter", {
    args: [`--net=${netns}`, "--", ...argv],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new JoeyError(
      "Internal",
      `network: "${argv.join(" ")}" in "${netns}" failed: ${dec.decode(out.stderr).trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

interface IpLink {
  ifname: string;
  link_type?: string;
  address?: string;
  mtu?: number;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** The tap name for the n-th interface. */
export function tapName(n: number): string {
  return `tap${n}_joey`;
}

/**
 * Creates a tap per ethernet interface of netns, redirected to and from
 * it; returns what the guest needs. Undoes what it made on failure.
 */
export async function setupTapNetwork(netns: string): Promise<SandboxNetwork> {
  const links = JSON.parse(await inNetns(netns, ["ip", "-j", "addr", "show"])) as IpLink[];
  const veths = links.filter((l) =>
    l.link_type === "ether" && l.ifname !== "lo" && !l.ifname.endsWith("_joey")
  );
  const network: SandboxNetwork = { netns, interfaces: [], routes: [] };
  try {
    for (const [n, l] of veths.entries()) {
      const tap = tapName(n);
      await inNetns(netns, ["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
      network.interfaces.push({
        hostName: l.ifname,
        tap,
        mac: l.address ?? "",
        mtu: l.mtu ?? 1500,
        addresses: (l.addr_info ?? []).filter((a) => a.scope !== "link").map((a) => ({
          family: a.family === "inet6" ? "inet6" : "inet",
          address: a.local,
          prefixLength: a.prefixlen,
        })),
      });
      await inNetns(netns, ["ip", "link", "set", tap, "mtu", String(l.mtu ?? 1500), "up"]);
      for (const [from, to] of [[l.ifname, tap], [tap, l.ifname]]) {
        await inNetns(netns, ["tc", "qdisc", "add", "dev", from!, "ingress"]);
        await inNetns(netns, [
          "tc",
          "filter",
          "add",
          "dev",
          from!,
          "parent",
          "ffff:",
          "protocol",
          "all",
          "u32",
          "match",
          "u8",
          "0",
          "0",
          "action",
          "mirred",
          "egress",
          "redirect",
          "dev",
          to!,
        ]);
      }
    }
    for (const family of ["inet", "inet6"] as const) {
      const routes = JSON.parse(
        await inNetns(netns, ["ip", "-j", family === "inet" ? "-4" : "-6", "route", "show"]),
      ) as { dst?: string; gateway?: string; dev?: string; prefsrc?: string; scope?: string }[];
      for (const r of routes) {
        if (!network.interfaces.some((i) => i.hostName === r.dev)) continue;
        if (family === "inet6" && r.dst?.startsWith("fe80")) continue;
        network.routes.push({
          destination: r.dst === "default" ? "" : r.dst ?? "",
          gateway: r.gateway ?? "",
          device: r.dev ?? "",
          source: r.prefsrc ?? "",
          scope: r.scope ?? "",
          family,
        });
      }
    }
  } catch (err) {
    await teardownTapNetwork(network);
    throw err;
  }
  return network;
}

/** Removes the taps and the redirects (a namespace already gone is fine). */
export async function teardownTapNetwork(network: SandboxNetwork): Promise<void> {
  try {
    await Deno.stat(network.netns);
  } catch {
    return; // the namespace, and everything in it, is gone
  }
  for (const i of network.interfaces) {
    await inNetns(network.netns, ["tc", "qdisc", "del", "dev", i.hostName, "ingress"])
      .catch(() => {});
    await inNetns(network.netns, ["ip", "link", "del", i.tap]).catch(() => {});
  }
}
