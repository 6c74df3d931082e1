/**
 * The agent in a real VM: QEMU (TCG, microvm) boots the project's guest
 * kernel and initrd with joey's vhost-user vsock back end and virtiofsd
 * sharing a directory. Through the hybrid vsock socket the test checks
 * health, mounts the share, runs a container whose rootfs is the shared
 * busybox tree, execs into it, and reads output and exit statuses; it
 * prints the agent's size and its RSS in the guest and checks them.
 */
import { existsSync } from "node:fs";
import { GUEST_SHARE_DIR } from "../../src/agent/mod.ts";
import { assert, assertEquals, assertIncludes } from "../lib/assert.ts";
import { withTempDir } from "../lib/tmp.ts";
import { AGENT_BIN, makeBusyboxRootfs, process, spec, text } from "../agent/fixture.ts";
import { agentRssFromConsole, bootGuest, guestUnavailable, SHARE_TAG } from "./qemu_guest.ts";

/** The size target for the stripped agent. */
const MAX_AGENT_BYTES = 1 << 20;
/** RSS target for the agent right after start (KiB). */
const MAX_AGENT_RSS_KIB = 4096;

const VSOCK_DIAL = new URL("../../build/guest/tests/vsock_dial", import.meta.url).pathname;
const skip = guestUnavailable() ??
  (existsSync(VSOCK_DIAL) ? null : `${VSOCK_DIAL} is not built (make guest-tests)`);
if (skip) console.log(`in-VM agent test skipped: ${skip}`);

Deno.test({
  name: "agent in a QEMU/TCG VM: health, virtiofs rootfs container, exec, exit status, RSS",
  ignore: skip !== null,
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (dir) => {
      const share = `${dir}/share`;
      const rootfs = `${share}/c1/rootfs`;
      await makeBusyboxRootfs(rootfs);
      // A vsock client for the containers: they must not reach the agent.
      await Deno.copyFile(VSOCK_DIAL, `${rootfs}/bin/vsock_dial`);
      const token = crypto.randomUUID();
      await Deno.writeTextFile(`${rootfs}/etc/marker`, token);

      const size = (await Deno.stat(AGENT_BIN)).size;
      console.log(`agent size: ${size} bytes (target < ${MAX_AGENT_BYTES})`);
      assert(size < MAX_AGENT_BYTES, `agent is ${size} bytes`);

      const guest = await bootGuest({ dir, shareDir: share, timeoutMs: 90_000 });
      try {
        const c = guest.client!;
        console.log(`boot to agent ready: ${guest.bootToReadyMs.toFixed(0)} ms`);
        assertEquals(await c.check(), "SERVING");
        const details = await c.getGuestDetails();
        assertEquals(details.agent_details?.init_daemon, true, "the agent is PID 1");

        await c.createSandbox({
          hostname: "sbx",
          sandbox_id: "s1",
          storages: [{
            driver: "virtio-fs",
            source: SHARE_TAG,
            fstype: "virtiofs",
            options: [],
            mount_point: GUEST_SHARE_DIR,
          }],
        });
        // Root.Path "" = <share>/<cid>/rootfs: the documented guest path.
        await c.createContainer({
          container_id: "c1",
          OCI: spec(
            process(["sh", "-c", "cat /etc/marker; echo; hostname; echo oops >&2; exit 5"]),
          ),
        });
        await c.startContainer("c1");
        const [out, err, status] = await Promise.all([
          c.readAll("c1", "", "stdout"),
          c.readAll("c1", "", "stderr"),
          c.waitProcess("c1", ""),
        ]);
        assertEquals(text(out), `${token}\njoey-test\n`);
        assertEquals(text(err), "oops\n");
        assertEquals(status, 5);
        await c.removeContainer("c1");

        // A running container with real cgroup v2 controllers: exec, update, stats.
        await Deno.mkdir(`${share}/c2`);
        await Deno.rename(rootfs, `${share}/c2/rootfs`);
        await c.createContainer({ container_id: "c2", OCI: spec(process(["sleep", "600"])) });
        await c.startContainer("c2");
        await c.execProcess("c2", "e1", process(["sh", "-c", "echo in-vm; exit 4"]));
        assertEquals(text(await c.readAll("c2", "e1", "stdout")), "in-vm\n");
        assertEquals(await c.waitProcess("c2", "e1"), 4);
        // vsock ignores network namespaces: a container dialing the agent
        // through vsock loopback (CID 1, or the guest's own CID 3) is cut off.
        await c.execProcess(
          "c2",
          "v1",
          process(["sh", "-c", "vsock_dial 1 1024; vsock_dial 3 1024"]),
        );
        const dial = text(await c.readAll("c2", "v1", "stdout"));
        assertEquals(await c.waitProcess("c2", "v1"), 0);
        assert(!dial.includes("answered"), `a container reached the agent: ${dial}`);
        assertEquals(dial.trim().split("\n").length, 2, dial);
        await c.updateContainer("c2", { Memory: { Limit: 32 << 20 }, Pids: { Limit: 20 } });
        const stats = await c.statsContainer("c2");
        assertEquals(stats.cgroup_stats?.memory_stats?.usage?.limit, 32 << 20);
        assertEquals(stats.cgroup_stats?.pids_stats?.limit, 20);
        assert((stats.cgroup_stats?.pids_stats?.current ?? 0) >= 1);
        await c.pauseContainer("c2");
        await c.resumeContainer("c2");
        await c.signalProcess("c2", "", 9);
        assertEquals(await c.waitProcess("c2", ""), 137);
        await c.destroySandbox();

        const consoleText = await guest.console();
        const rss = agentRssFromConsole(consoleText);
        console.log(
          `agent RSS in the guest after start: ${rss} KiB (target < ${MAX_AGENT_RSS_KIB})`,
        );
        assert(rss !== null, `no ready line on the console:\n${consoleText}`);
        assert(rss < MAX_AGENT_RSS_KIB);
        assertIncludes(consoleText, "joey-agent: ready on vsock port 1024");
        assertIncludes(consoleText, "refused a vsock connection from CID 1");
      } finally {
        await guest.stop();
      }
    }, "joey-vm-agent-");
  },
});
