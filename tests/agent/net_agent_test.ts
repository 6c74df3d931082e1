/**
 * The agent's network RPCs in host test mode: the agent (static and
 * ASan+UBSan builds) runs inside a network namespace the test creates, with
 * a veth whose MAC the test chose; UpdateInterface, UpdateRoutes,
 * ListInterfaces and ListRoutes act on that namespace only, and `ip -n`
 * checks what the kernel ended up with. Bad requests get their codes and
 * change nothing; the agent keeps serving.
 */
import type { NetInterface } from "../../src/agent/mod.ts";
import { Code, TtrpcError } from "../../src/ttrpc/mod.ts";
import { assert, assertEquals, assertIncludes, assertRejects } from "../lib/assert.ts";
import {
  AGENT_BIN,
  AGENT_SAN_BIN,
  type HostAgent,
  hostModeUnavailable,
  withHostAgent,
} from "./fixture.ts";

async function ip(...args: string[]): Promise<string> {
  const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`ip ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

async function skipReason(): Promise<string | null> {
  const host = hostModeUnavailable();
  if (host) return host;
  const probe = `joeyp-${crypto.randomUUID().slice(0, 6)}`;
  try {
    await ip("netns", "add", probe);
    await ip("-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
  } catch (err) {
    return `cannot make a network namespace with a veth pair: ${(err as Error).message}`;
  } finally {
    await ip("netns", "del", probe).catch(() => {});
  }
  return null;
}

const skip = await skipReason();
if (skip) console.log(`agent network tests skipped: ${skip}`);

interface IpAddr {
  ifname: string;
  mtu: number;
  flags: string[];
  address: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  prefsrc?: string;
  scope?: string;
}

/**
 * A namespace holding lo (down, as the kernel makes it) and a veth pair:
 * jveth0 with a known MAC for the agent, and its peer up (for a carrier).
 */
class NetNs {
  readonly name = `joeyn-${crypto.randomUUID().slice(0, 8)}`;
  // Locally administered, upper case: the agent compares MACs regardless of case.
  readonly mac = `02:4A:${
    Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0"))
      .join(":").toUpperCase()
  }`;

  async create(): Promise<void> {
    await ip("netns", "add", this.name);
    await ip(
      "-n",
      this.name,
      "link",
      "add",
      "jveth0",
      "address",
      this.mac,
      "type",
      "veth",
      "peer",
      "name",
      "jveth1",
    );
    await ip("-n", this.name, "link", "set", "jveth1", "up");
  }

  async links(): Promise<IpAddr[]> {
    return JSON.parse(await ip("-n", this.name, "-j", "addr", "show")) as IpAddr[];
  }

  async link(name: string): Promise<IpAddr | undefined> {
    return (await this.links()).find((l) => l.ifname === name);
  }

  async routes(family: "-4" | "-6"): Promise<IpRoute[]> {
    return JSON.parse(await ip("-n", this.name, "-j", family, "route", "show")) as IpRoute[];
  }

  async remove(): Promise<void> {
    await ip("netns", "del", this.name).catch(() => {});
  }
}

/** Runs fn against bin in host mode inside a fresh namespace; removes both after. */
async function withNetAgent(bin: string, fn: (a: HostAgent, ns: NetNs) => Promise<void>) {
  const ns = new NetNs();
  try {
    await ns.create();
    // startHostAgent runs `unshare … <bin> --unix …`: enter the namespace first.
    const launcher = async (dir: string) => {
      const wrapper = `${dir}/agent-in-netns`;
      await Deno.writeTextFile(
        wrapper,
        `#!/bin/sh\nexec nsenter --net=/var/run/netns/${ns.name} ${bin} "$@"\n`,
        { mode: 0o755 },
      );
      return wrapper;
    };
    await withHostAgent(bin, (a) => fn(a, ns), {
      prefix: "joey-agent-net-",
      rootfs: false,
      launcher,
    });
  } finally {
    await ns.remove();
  }
}

async function code(p: Promise<unknown>): Promise<TtrpcError> {
  return await assertRejects(() => p, TtrpcError);
}

const addrsOf = (l: IpAddr | undefined) =>
  (l?.addr_info ?? []).filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen}`)
    .sort();

async function configure(bin: string) {
  await withNetAgent(bin, async ({ client }, ns) => {
    // lo: the agent brings it up at start.
    assert((await ns.link("lo"))?.flags.includes("UP"), "lo is up");

    const iface: NetInterface = {
      device: "eth0",
      name: "eth0",
      hwAddr: ns.mac,
      mtu: 1400,
      IPAddresses: [
        { family: "v4", address: "10.77.1.2", mask: "24" },
        { family: "v6", address: "fd00:77::2", mask: "64" },
      ],
    };
    const got = await client.updateInterface(iface);
    assertEquals(got.name, "eth0");
    assertEquals(got.hwAddr, ns.mac.toLowerCase());
    assertEquals(got.mtu, 1400);
    const eth0 = await ns.link("eth0");
    assert(eth0, `jveth0 is renamed eth0: ${JSON.stringify(await ns.links())}`);
    assertEquals(await ns.link("jveth0"), undefined);
    assertEquals(eth0.mtu, 1400);
    assert(eth0.flags.includes("UP"), `eth0 is up: ${eth0.flags}`);
    assertEquals(addrsOf(eth0), ["10.77.1.2/24", "fd00:77::2/64"]);
    assertEquals(
      (got.IPAddresses ?? []).map((a) => `${a.address}/${a.mask}`).filter((a) =>
        !a.startsWith("fe80")
      )
        .sort(),
      ["10.77.1.2/24", "fd00:77::2/64"],
    );

    // A second call replaces the addresses (dotted netmask accepted); the name stays.
    await client.updateInterface({
      name: "",
      hwAddr: ns.mac,
      IPAddresses: [{ family: "v4", address: "10.77.2.2", mask: "255.255.255.0" }],
    });
    assertEquals(addrsOf(await ns.link("eth0")), ["10.77.2.2/24"]);
    assertEquals((await ns.link("eth0"))?.mtu, 1400, "mtu 0 keeps the MTU");

    // Routes: a device route with a source, a default route, a route via a
    // gateway with no device, and an IPv6 default route.
    await client.updateInterface({
      name: "eth0",
      hwAddr: ns.mac,
      IPAddresses: [
        { family: "v4", address: "10.77.2.2", mask: "24" },
        { family: "v6", address: "fd00:77::2", mask: "64" },
      ],
    });
    const table = await client.updateRoutes([
      { dest: "", gateway: "10.77.2.1", device: "eth0", family: "v4" },
      { dest: "192.168.77.0/24", gateway: "10.77.2.254", family: "v4" },
      { dest: "10.77.2.0/24", device: "eth0", source: "10.77.2.2", scope: 253, family: "v4" },
      { dest: "10.99.0.5", device: "eth0", family: "v4" },
      { dest: "default", gateway: "fd00:77::1", device: "eth0", family: "v6" },
    ]);
    const v4 = await ns.routes("-4");
    const find = (dst: string) => v4.find((r) => r.dst === dst);
    assertEquals(find("default")?.gateway, "10.77.2.1");
    assertEquals(find("default")?.dev, "eth0");
    assertEquals(find("192.168.77.0/24")?.gateway, "10.77.2.254");
    assertEquals(find("10.77.2.0/24")?.prefsrc, "10.77.2.2");
    assertEquals(
      v4.filter((r) => r.dst === "10.77.2.0/24").length,
      1,
      "the kernel's route stays alone",
    );
    assertEquals(find("10.99.0.5")?.scope, "link", "a device route is link scope");
    assertEquals((await ns.routes("-6")).find((r) => r.dst === "default")?.gateway, "fd00:77::1");
    const answered = table.map((r) => `${r.dest} ${r.gateway} ${r.device}`);
    assert(answered.includes(" 10.77.2.1 eth0"), `answer: ${answered}`);
    assert(answered.includes("192.168.77.0/24 10.77.2.254 eth0"), `answer: ${answered}`);

    // Replacing: routes not in the new list go; the kernel's own stay.
    await client.updateRoutes([{ dest: "", gateway: "10.77.2.1", device: "eth0", family: "v4" }]);
    const after = (await ns.routes("-4")).map((r) => r.dst).sort();
    assertEquals(after, ["10.77.2.0/24", "default"]);
    assertEquals(
      (await ns.routes("-6")).find((r) => r.dst === "default"),
      undefined,
      "the IPv6 default route is replaced away",
    );

    // List calls agree with the kernel.
    const listed = (await client.listInterfaces()).find((i) => i.name === "eth0");
    assertEquals(listed?.hwAddr, ns.mac.toLowerCase());
    assert(listed?.IPAddresses?.some((a) => a.address === "10.77.2.2" && a.mask === "24"));
    assert((await client.listInterfaces()).some((i) => i.name === "lo"));
    const routes = await client.listRoutes();
    assert(routes.some((r) => r.dest === "" && r.gateway === "10.77.2.1" && r.device === "eth0"));
  });
}

async function badRequests(bin: string) {
  await withNetAgent(bin, async ({ client }, ns) => {
    const good = { family: "v4" as const, address: "10.78.0.2", mask: "24" };
    await client.updateInterface({ name: "eth0", hwAddr: ns.mac, IPAddresses: [good] });
    await client.updateRoutes([{ dest: "", gateway: "10.78.0.1", device: "eth0", family: "v4" }]);
    const before = JSON.stringify([await ns.links(), await ns.routes("-4")]);

    const unknown = "02:00:de:ad:be:ef";
    let e = await code(client.updateInterface({ name: "eth1", hwAddr: unknown }));
    assertEquals(e.code, Code.NotFound);
    assertIncludes(e.message, unknown);

    const badIface: [NetInterface, string][] = [
      [{ hwAddr: "02:00:00:00:00" }, "not a MAC"],
      [{ hwAddr: "02-00-00-00-00-01" }, "not a MAC"],
      [{ hwAddr: ns.mac, IPAddresses: [{ ...good, address: "10.78.0.300" }] }, "10.78.0.300"],
      [{ hwAddr: ns.mac, IPAddresses: [{ ...good, address: "fd00::1" }] }, "not IPv4"],
      [{ hwAddr: ns.mac, IPAddresses: [{ ...good, mask: "33" }] }, "bad mask"],
      [{ hwAddr: ns.mac, IPAddresses: [{ ...good, mask: "255.0.255.0" }] }, "bad mask"],
      [{ hwAddr: ns.mac, name: "a/b" }, "not valid"],
      [{ hwAddr: ns.mac, name: "x".repeat(16) }, "not valid"],
      [{ hwAddr: ns.mac, mtu: 70000 }, "MTU"],
      [{ hwAddr: ns.mac, name: "lo" }, "taken"],
    ];
    for (const [iface, why] of badIface) {
      e = await code(client.updateInterface(iface));
      assert(
        e.code === Code.InvalidArgument || e.code === Code.AlreadyExists,
        `${JSON.stringify(iface)}: code ${e.code} ${e.message}`,
      );
      assertIncludes(e.message, why);
    }
    const badRoutes: [Record<string, unknown>, number, string][] = [
      [{ dest: "10.1.0.0/16", device: "eth9", family: "v4" }, Code.NotFound, "eth9"],
      [{ dest: "10.1.0.1/16", device: "eth0", family: "v4" }, Code.InvalidArgument, "beyond"],
      [{ dest: "10.1.0.0/40", device: "eth0", family: "v4" }, Code.InvalidArgument, "prefix"],
      [{ dest: "nowhere", device: "eth0", family: "v4" }, Code.InvalidArgument, "nowhere"],
      [{ dest: "", gateway: "fd00::1", family: "v4" }, Code.InvalidArgument, "not IPv4"],
      [{ dest: "10.1.0.0/16", family: "v4" }, Code.InvalidArgument, "neither"],
      [{ dest: "", gateway: "10.78.0.1", scope: 300, family: "v4" }, Code.InvalidArgument, "scope"],
    ];
    for (const [route, want, why] of badRoutes) {
      e = await code(client.updateRoutes([
        { dest: "10.2.0.0/16", gateway: "10.78.0.1", family: "v4" },
        route,
      ]));
      assertEquals(e.code, want, `${JSON.stringify(route)}: ${e.message}`);
      assertIncludes(e.message, why);
    }
    // A gateway the kernel cannot reach: its error, after the earlier routes went in.
    e = await code(client.updateRoutes([{ dest: "", gateway: "10.200.0.1", family: "v4" }]));
    assert(e.code !== Code.OK && e.code !== Code.Unknown, `${e.code}: ${e.message}`);

    // Checks come before changes: all but the last call left everything as it was.
    await client.updateRoutes([{ dest: "", gateway: "10.78.0.1", device: "eth0", family: "v4" }]);
    assertEquals(JSON.stringify([await ns.links(), await ns.routes("-4")]), before);
    assertEquals(await client.check(), "SERVING");
  });
}

for (const [name, bin] of [["static", AGENT_BIN], ["asan+ubsan", AGENT_SAN_BIN]] as const) {
  Deno.test({
    name:
      `agent network (${name}, host mode): UpdateInterface/UpdateRoutes set names, MTU, addresses, routes`,
    ignore: skip !== null,
    sanitizeResources: false,
    fn: () => configure(bin),
  });
  Deno.test({
    name:
      `agent network (${name}, host mode): bad MACs, addresses and routes get codes, change nothing`,
    ignore: skip !== null,
    sanitizeResources: false,
    fn: () => badRequests(bin),
  });
}
