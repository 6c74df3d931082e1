/* virtio-net on a tap inside a network namespace this test creates (and
 * deletes): frames the test guest sends appear on the tap (read with an
 * AF_PACKET socket in the namespace, every byte checked), and frames the
 * test injects there reach the guest, which checks them. Raw Ethernet with
 * a local experimental ethertype: no IP traffic at all. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "../devices/linux/pattern.h"
#include "dev_test.h"
#include "harness.h"

#define FRAMES 16
#define PAYLOAD 1000

static char ns_name[64];

static void ns_delete(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_name);
	if (system(cmd))
		(void)0;
}

/* In the namespace: a tap (fd returned) that is up, and a packet socket
 * bound to it. */
static int tap_in_netns(int *pkt)
{
	char path[128];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), tap = -1;
	snprintf(path, sizeof(path), "/run/netns/%s", ns_name);
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET))
		goto out;
	tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = { 0 };
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strcpy(ifr.ifr_name, "jtap0");
	if (tap < 0 || ioctl(tap, TUNSETIFF, &ifr))
		goto fail;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	ifr.ifr_flags = IFF_UP;
	if (s < 0 || ioctl(s, SIOCSIFFLAGS, &ifr))
		goto fail;
	if (ioctl(s, SIOCGIFINDEX, &ifr))
		goto fail;
	close(s);
	*pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x88b5));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(0x88b5),
				   .sll_ifindex = ifr.ifr_ifindex };
	if (*pkt < 0 || bind(*pkt, (struct sockaddr *)&sll, sizeof(sll)))
		goto fail;
	goto back;
fail:
	if (tap >= 0)
		close(tap);
	tap = -1;
back:
	if (setns(self, CLONE_NEWNET))
		abort(); /* the process must not stay in the test namespace */
out:
	if (self >= 0)
		close(self);
	if (ns >= 0)
		close(ns);
	return tap;
}

static int net_frames_both_ways(void)
{
	char cmd[160], spec[128], out[8192], err[512];
	joey_vm *vm = NULL;
	int rc = FAIL, pkt = -1, tap;
	snprintf(ns_name, sizeof(ns_name), "joey-nettest-%d", getpid());
	snprintf(cmd, sizeof(cmd), "ip netns add %s", ns_name);
	if (system(cmd)) {
		return harness_skip("cannot create a network namespace (ip netns add)");
	}
	tap = tap_in_netns(&pkt);
	if (tap < 0) {
		printf("    tap in namespace: %s\n", strerror(errno));
		goto out;
	}
	if (vmt_create(&vm, DEV_GUEST_DIR "/net_frames.elf", 1, 64 << 20, "frames=16", err,
		       sizeof(err))) {
		printf("    create: %s\n", err);
		goto out;
	}
	snprintf(spec, sizeof(spec), "fd=%d,mac=52:54:00:12:34:56", tap);
	if (joey_vm_add_device(vm, "net", spec) || joey_vm_start(vm)) {
		joey_vm_last_error(vm, err, sizeof(err));
		printf("    setup: %s\n", err);
		goto out;
	}
	/* Frames from the guest, then ours to it. */
	struct pattern p;
	pattern_init(&p, 11);
	int seen = 0;
	uint8_t fr[2048];
	double end = dt_now_ms() + 60000;
	while (seen < FRAMES && dt_now_ms() < end) {
		ssize_t n = recv(pkt, fr, sizeof(fr), MSG_DONTWAIT);
		if (n < 0) {
			usleep(1000);
			continue;
		}
		if (n < 15 + PAYLOAD || fr[14] != (uint8_t)seen ||
		    pattern_check(&p, fr + 15, PAYLOAD) != PAYLOAD) {
			printf("    bad frame from the guest (len %zd, seq %u, want %d)\n", n, fr[14],
			       seen);
			goto out;
		}
		seen++;
	}
	printf("    %d/%d guest frames seen on the tap in the namespace, payloads intact\n", seen,
	       FRAMES);
	if (seen < FRAMES)
		goto out;
	pattern_init(&p, 12);
	for (int i = 0; i < FRAMES; i++) {
		memcpy(fr, (uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
		memcpy(fr + 6, (uint8_t[6]){ 0x02, 0, 0, 0, 0, 1 }, 6);
		fr[12] = 0x88;
		fr[13] = 0xb5;
		fr[14] = (uint8_t)i;
		pattern_fill(&p, fr + 15, PAYLOAD);
		if (send(pkt, fr, 15 + PAYLOAD, 0) != 15 + PAYLOAD) {
			printf("    inject: %s\n", strerror(errno));
			goto out;
		}
	}
	struct joey_event ev = { 0 };
	bool ended = vmt_wait_end(vm, 60000, &ev, out, sizeof(out));
	printf("%s", out);
	if (dt_guest_ok(ended, &ev, out))
		rc = PASS;
out:
	if (vm)
		joey_vm_destroy(vm);
	if (pkt >= 0)
		close(pkt);
	if (tap >= 0)
		close(tap);
	ns_delete();
	return rc;
}

int main(void)
{
	DT_REQUIRE_KVM();
	if (access("/dev/net/tun", R_OK | W_OK)) {
		printf("  skip: no /dev/net/tun\n");
		printf("0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	harness_run("net: frames guest -> tap and tap -> guest in a private netns",
		    net_frames_both_ways);
	return harness_finish();
}
