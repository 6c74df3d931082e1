/**
 * The network resource on the host: a tap per veth of the pod namespace,
 * joined to it by tc mirred redirects both ways, the veth's MAC, addresses
 * and routes collected for the guest, and everything removed again; and the
 * agent requests (UpdateInterface per NIC, UpdateRoutes) made from them.
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { PodNetwork } from "./netns_fixture.ts";
import {
  netnsOfSpec,
  setupTapNetwork,
  tapName,
  teardownTapNetwork,
} from "../../src/resource/network/tap_network.ts";
import {
  configureGuestNetwork,
  guestNetworkRequests,
} from "../../src/runtime/virt_container/guest_network.ts";
import { messageType } from "../../src/proto/registry.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function tc(netns: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", netns, "tc", ...args],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("netnsOfSpec() finds the pod's network namespace path, or none", () => {
  assertEquals(
    netnsOfSpec({ linux: { namespaces: [{ type: "pid" }, { type: "network", path: "/x" }] } }),
    "/x",
  );
  assertEquals(netnsOfSpec({ linux: { namespaces: [{ type: "network" }] } }), null);
  assertEquals(netnsOfSpec({}), null);
});

Deno.test({
  name: "setupTapNetwork() redirects a tap and the veth both ways; teardown removes them",
  ...opts,
  fn: async () => {
    const net = await PodNetwork.create();
    try {
      const n = await setupTapNetwork(net.path);
      try {
        assertEquals(n.interfaces.length, 1);
        const i = n.interfaces[0]!;
        assertEquals(i.hostName, net.podVeth);
        assertEquals(i.tap, tapName(0));
        assert(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(i.mac), `MAC ${i.mac}`);
        assertEquals(i.addresses, [
          { family: "inet", address: net.podAddress, prefixLength: 24 },
          { family: "inet6", address: net.podAddress6, prefixLength: 64 },
        ]);
        for (const gateway of [net.hostAddress, net.hostAddress6]) {
          assert(
            n.routes.some((r) => r.destination === "" && r.gateway === gateway),
            `default route via ${gateway}: ${JSON.stringify(n.routes)}`,
          );
        }
        assert((await net.links()).includes(tapName(0)), "the tap is in the pod namespace");
        assertIncludes(
          await tc(net.name, "filter", "show", "dev", net.podVeth, "ingress"),
          tapName(0),
        );
        assertIncludes(
          await tc(net.name, "filter", "show", "dev", tapName(0), "ingress"),
          net.podVeth,
        );
      } finally {
        await teardownTapNetwork(n);
      }
      assert(!(await net.links()).includes(tapName(0)), "the tap is gone");
      assertEquals(
        (await tc(net.name, "qdisc", "show", "dev", net.podVeth)).includes("ingress"),
        false,
      );
    } finally {
      await net.remove();
    }
  },
});

/** A pod network with two veths, IPv4 and IPv6, as setupTapNetwork reports it. */
const twoNics = {
  netns: "/var/run/netns/x",
  interfaces: [
    {
      hostName: "veth-a",
      tap: "tap0_joey",
      mac: "02:00:00:00:00:0a",
      mtu: 1450,
      addresses: [
        { family: "inet" as const, address: "10.1.0.2", prefixLength: 24 },
        { family: "inet6" as const, address: "fd00::2", prefixLength: 64 },
      ],
    },
    { hostName: "veth-b", tap: "tap1_joey", mac: "02:00:00:00:00:0b", mtu: 1500, addresses: [] },
  ],
  routes: [
    {
      destination: "10.1.0.0/24",
      gateway: "",
      device: "veth-a",
      source: "10.1.0.2",
      scope: "link",
      family: "inet" as const,
    },
    {
      destination: "",
      gateway: "10.1.0.1",
      device: "veth-a",
      source: "",
      scope: "",
      family: "inet" as const,
    },
    {
      destination: "",
      gateway: "fd00::1",
      device: "veth-b",
      source: "",
      scope: "",
      family: "inet6" as const,
    },
  ],
};

Deno.test("guestNetworkRequests() maps each veth to an UpdateInterface by MAC, then one UpdateRoutes", () => {
  const reqs = guestNetworkRequests(twoNics);
  assertEquals(reqs.map((r) => r.method), ["UpdateInterface", "UpdateInterface", "UpdateRoutes"]);
  // Through the real codec, as the agent will decode them.
  const decode = (name: string, req: Record<string, unknown>) =>
    messageType(name).decode(messageType(name).encode(req));
  const eth0 = decode("grpc.UpdateInterfaceRequest", reqs[0]!.request).interface as Record<
    string,
    unknown
  >;
  assertEquals(eth0.name, "eth0");
  assertEquals(eth0.hwAddr, "02:00:00:00:00:0a");
  assertEquals(eth0.mtu, 1450);
  assertEquals(eth0.IPAddresses, [
    { family: "v4", address: "10.1.0.2", mask: "24" },
    { family: "v6", address: "fd00::2", mask: "64" },
  ]);
  const eth1 = decode("grpc.UpdateInterfaceRequest", reqs[1]!.request).interface as Record<
    string,
    unknown
  >;
  assertEquals([eth1.name, eth1.hwAddr, eth1.IPAddresses], ["eth1", "02:00:00:00:00:0b", []]);
  const routes = (decode("grpc.UpdateRoutesRequest", reqs[2]!.request).routes as {
    Routes: Record<string, unknown>[];
  }).Routes;
  assertEquals(
    routes.map((r) => [r.dest, r.gateway, r.device, r.source, r.scope, r.family]),
    [
      ["10.1.0.0/24", "", "eth0", "10.1.0.2", 253, "v4"],
      ["", "10.1.0.1", "eth0", "", 0, "v4"],
      ["", "fd00::1", "eth1", "", 0, "v6"],
    ],
  );
  assertEquals(guestNetworkRequests({ netns: "/x", interfaces: [], routes: [] }), []);
});

Deno.test("configureGuestNetwork() fails naming the RPC the agent refused", async () => {
  const calls: string[] = [];
  const agent = {
    call(method: string) {
      calls.push(method);
      return method === "UpdateRoutes"
        ? Promise.reject(new Error('route to "": no interface named "eth9"'))
        : Promise.resolve({});
    },
  };
  const err = await configureGuestNetwork(agent, twoNics).then(() => null, (e: Error) => e);
  assert(err !== null, "the failure reaches the caller");
  assertIncludes(err.message, "UpdateRoutes");
  assertIncludes(err.message, "eth9");
  assertEquals(calls, ["UpdateInterface", "UpdateInterface", "UpdateRoutes"]);
});
