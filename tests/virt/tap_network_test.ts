/**
 * The network resource on the host: a tap per veth of the pod namespace,
 * joined to it by tc mirred redirects both ways, the veth's MAC, addresses
 * and routes collected for the guest, and everything removed again.
 */
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { PodNetwork } from "./netns_fixture.ts";
import {
  netnsOfSpec,
  setupTapNetwork,
  tapName,
  teardownTapNetwork,
} from "../../src/resource/network/tap_network.ts";

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
        assertEquals(i.addresses, [{ family: "inet", address: net.podAddress, prefixLength: 24 }]);
        assert(
          n.routes.some((r) => r.destination === "" && r.gateway === net.hostAddress),
          `default route: ${JSON.stringify(n.routes)}`,
        );
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
