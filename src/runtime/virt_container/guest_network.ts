/**
 * The guest side of the sandbox network: each tap-backed NIC (eth0, eth1…
 * in tap order) gets the veth's addresses, MTU and MAC, and the pod's
 * routes follow, through the agent's UpdateInterface and UpdateRoutes
 * (Kata's AgentService shapes). An agent whose API lacks them leaves the
 * NICs unconfigured; that is reported, not hidden.
 * @module
 */
import { messageType } from "../../proto/registry.ts";
import type { SandboxNetwork } from "../../resource/mod.ts";
import type { AgentConnection } from "./agent_conn.ts";

/** Whether the agent API (proto/agent.proto) has the network RPCs. */
export function agentHasNetworkApi(): boolean {
  try {
    messageType("grpc.UpdateInterfaceRequest");
    messageType("grpc.UpdateRoutesRequest");
    return true;
  } catch {
    return false;
  }
}

/** The guest NIC name of the n-th interface. */
export function guestNicName(n: number): string {
  return `eth${n}`;
}

/**
 * Configures the guest's NICs and routes; returns a reason when it could
 * not (agent API without network RPCs), else null.
 */
export async function configureGuestNetwork(
  agent: AgentConnection,
  network: SandboxNetwork,
): Promise<string | null> {
  if (network.interfaces.length === 0) return null;
  if (!agentHasNetworkApi()) {
    return "the agent API has no UpdateInterface/UpdateRoutes: guest NICs stay unconfigured";
  }
  for (const [n, i] of network.interfaces.entries()) {
    const name = guestNicName(n);
    await agent.call("UpdateInterface", {
      interface: {
        device: name,
        name,
        IPAddresses: i.addresses.map((a) => ({
          family: a.family === "inet6" ? 1 : 0,
          address: a.address,
          mask: String(a.prefixLength),
        })),
        mtu: i.mtu,
        hwAddr: i.mac,
      },
    });
  }
  const routes = network.routes.map((r) => {
    const n = network.interfaces.findIndex((i) => i.hostName === r.device);
    return {
      dest: r.destination,
      gateway: r.gateway,
      device: guestNicName(n),
      source: r.source,
      scope: r.scope === "link" ? 253 : 0,
      family: r.family === "inet6" ? 1 : 0,
    };
  });
  await agent.call("UpdateRoutes", { routes: { Routes: routes } });
  return null;
}
