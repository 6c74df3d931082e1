/**
 * A pod network as CNI would make it: a named network namespace holding one
 * end of a veth pair with an IPv4 and an IPv6 address and default routes;
 * the other end in the host namespace with the peer addresses. Removed by
 * remove(), also after a failed test.
 * @module
 */

async function ip(...args: string[]): Promise<string> {
  const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`ip ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** The test's pod network. */
export class PodNetwork {
  private constructor(
    readonly name: string,
    readonly hostVeth: string,
    readonly podVeth: string,
    readonly hostAddress: string,
    readonly podAddress: string,
    /** IPv6 (/64, no duplicate detection, so it is usable at once). */
    readonly hostAddress6: string,
    readonly podAddress6: string,
  ) {}

  /** /var/run/netns/<name>, the path an OCI spec names. */
  get path(): string {
    return `/var/run/netns/${this.name}`;
  }

  /** Creates the namespace and the veth pair on 10.<x>.<y>.0/24 and fd00:<x>:<y>::/64. */
  static async create(): Promise<PodNetwork> {
    const tag = Math.random().toString(36).slice(2, 7);
    const x = 100 + Math.floor(Math.random() * 100), y = Math.floor(Math.random() * 250);
    const net = new PodNetwork(
      `joeyt-${tag}`,
      `jh${tag}`,
      `jp${tag}`,
      `10.${x}.${y}.1`,
      `10.${x}.${y}.2`,
      `fd00:${x}:${y}::1`,
      `fd00:${x}:${y}::2`,
    );
    try {
      await ip("netns", "add", net.name);
      await ip("link", "add", net.hostVeth, "type", "veth", "peer", "name", net.podVeth);
      await ip("link", "set", net.podVeth, "netns", net.name);
      await ip("addr", "add", `${net.hostAddress}/24`, "dev", net.hostVeth);
      await ip("link", "set", net.hostVeth, "up");
      await ip("-n", net.name, "addr", "add", `${net.podAddress}/24`, "dev", net.podVeth);
      await ip("-n", net.name, "link", "set", net.podVeth, "up");
      await ip("-n", net.name, "link", "set", "lo", "up");
      await ip("-n", net.name, "route", "add", "default", "via", net.hostAddress);
      await ip("addr", "add", `${net.hostAddress6}/64`, "dev", net.hostVeth, "nodad");
      await ip("-n", net.name, "addr", "add", `${net.podAddress6}/64`, "dev", net.podVeth, "nodad");
      await ip("-n", net.name, "-6", "route", "add", "default", "via", net.hostAddress6);
    } catch (err) {
      await net.remove();
      throw err;
    }
    return net;
  }

  /** Links in the namespace (names). */
  async links(): Promise<string[]> {
    const links = JSON.parse(await ip("-n", this.name, "-j", "link", "show")) as {
      ifname: string;
    }[];
    return links.map((l) => l.ifname);
  }

  /** Deletes the veth pair and the namespace. */
  async remove(): Promise<void> {
    await ip("link", "del", this.hostVeth).catch(() => {});
    await ip("netns", "del", this.name).catch(() => {});
  }
}
