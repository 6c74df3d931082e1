/**
 * The guest side of the sandbox network: each tap-backed NIC (eth0, eth1…
 * in tap order) gets the veth's addresses and MTU, and the pod's routes
 * follow, through the agent's UpdateInterface and UpdateRoutes (Kata's
 * AgentService shapes, proto/agent.proto). The agent finds each NIC by the
 * veth's MAC, which QEMU gave it, so guest and host names need not agree.
 * @module
 */
import type { GuestRoute, SandboxNetwork } from "../../resource/mod.ts";
import type { AgentConnection } from "./agent_conn.ts";

/** The guest NIC name of the n-th interface. */
export function guestNicName(n: number): string {
  return `eth${n}`;
}

/** RT_SCOPE_* of an `ip route` scope name (Kata's Route.scope is the number). */
function scopeNumber(scope: string): number {
  return scope === "host" ? 254 : scope === "link" ? 253 : 0;
}

/** The agent requests that configure network in the guest, in order. */
export function guestNetworkRequests(
  network: SandboxNetwork,
): { method: "UpdateInterface" | "UpdateRoutes"; request: Record<string, unknown> }[] {
  if (network.interfaces.length === 0) return [];
  const nicOf = (r: GuestRoute) => {
    const n = network.interfaces.findIndex((i) => i.hostName === r.device);
    return n < 0 ? "" : guestNicName(n);
  };
  return [
    ...network.interfaces.map((i, n) => ({
      method: "UpdateInterface" as const,
      request: {
        interface: {
          device: guestNicName(n),
          name: guestNicName(n),
          IPAddresses: i.addresses.map((a) => ({
            family: a.family === "inet6" ? 1 : 0,
            address: a.address,
            mask: String(a.prefixLength),
          })),
          mtu: i.mtu,
          hwAddr: i.mac,
        },
      },
    })),
    {
      method: "UpdateRoutes" as const,
      request: {
        routes: {
          Routes: network.routes.map((r) => ({
            dest: r.destination,
            gateway: r.gateway,
            device: nicOf(r),
            source: r.source,
            scope: scopeNumber(r.scope),
            family: r.family === "inet6" ? 1 : 0,
          })),
        },
      },
    },
  ];
}

/** Configures the guest's NICs and routes; a refused call throws, naming the RPC. */
export async function configureGuestNetwork(
  agent: Pick<AgentConnection, "call">,
  network: SandboxNetwork,
): Promise<void> {
  for (const { method, request } of guestNetworkRequests(network)) {
    try {
      await agent.call(method, request, {
        response: method === "UpdateInterface" ? "grpc.Interface" : "grpc.Routes",
      });
    } catch (err) {
      throw new Error(
        `guest network: ${method} failed: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
  }
}
