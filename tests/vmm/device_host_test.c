/* The core side of device_host.h, as device models use it: PIO/MMIO
 * registration and dispatch from a running guest, MMIO-window and GSI
 * allocation, interrupt lines and irqfd/ioeventfd, the epoll loop thread,
 * command-line appends and device errors reaching the event pump. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "device_host.h"
#include "harness.h"
#include "virtio/vsock_model.h"

#define MIB (1ULL << 20)

struct echo {
	uint64_t last_offset;
	uint32_t last_value;
	int writes, reads;
};

static void echo_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct echo *e = opaque;
	uint32_t v = 0;

	if (is_write) {
		memcpy(&v, data, len < 4 ? len : 4);
		e->last_offset = offset;
		e->last_value = v;
		e->writes++;
	} else {
		v = e->last_value + 1;
		memset(data, 0, len);
		memcpy(data, &v, len < 4 ? len : 4);
		e->reads++;
	}
}

static int test_pio_mmio_dispatch_and_cmdline(void)
{
	char err[JOEY_ERR_MAX], out[512];
	struct echo pio = { 0 }, mmio = { 0 };
	struct joey_event ev;
	uint64_t base = 0, base2 = 0;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("devhost"), 1, 8 * MIB, "console=ttyS0", err,
			 sizeof(err)) == 0, "%s", err);
	CHECK(vm__alloc_mmio(vm, 0x200, &base) == 0 && base == 0xd0000000, "base %#llx",
	      (unsigned long long)base);
	CHECK(vm__alloc_mmio(vm, 0x1001, &base2) == 0 && base2 == 0xd0001000, "base2 %#llx",
	      (unsigned long long)base2);
	CHECK(vm__register_mmio(vm, base, 0x200, echo_io, &mmio) == 0, "register mmio");
	CHECK(vm__register_mmio(vm, base + 0x100, 0x10, echo_io, &mmio) == -EEXIST,
	      "overlap accepted");
	CHECK(vm__register_pio(vm, 0x510, 8, echo_io, &pio) == 0, "register pio");
	CHECK(vm__register_pio(vm, 0x3f8, 1, echo_io, &pio) == -EEXIST, "UART overlap accepted");
	CHECK(vm__cmdline_append(vm, "virtio_mmio.device=4K@0xd0000000:5") == 0, "append");
	CHECK(joey_vm_start(vm) == 0, "start");
	CHECK(vm__cmdline_append(vm, "late") == -EBUSY, "append after start accepted");
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	joey_vm_destroy(vm);
	CHECK(ended && ev.type == JOEY_EVENT_SHUTDOWN, "no shutdown; output '%s'", out);
	CHECK(ev.code == 7, "guest saw wrong echoes (code %d): '%s'", ev.code, out);
	CHECK(pio.writes == 1 && pio.reads == 1 && pio.last_offset == 4 && pio.last_value == 0x1234,
	      "pio w%d r%d off %llu val %#x", pio.writes, pio.reads,
	      (unsigned long long)pio.last_offset, pio.last_value);
	CHECK(mmio.writes == 1 && mmio.reads == 1 && mmio.last_offset == 8 &&
		      mmio.last_value == 0xabcd,
	      "mmio w%d r%d off %llu val %#x", mmio.writes, mmio.reads,
	      (unsigned long long)mmio.last_offset, mmio.last_value);
	CHECK(strstr(out, "cmdline: console=ttyS0 virtio_mmio.device=4K@0xd0000000:5\n"),
	      "output '%s'", out);
	return PASS;
}

static int test_irq_allocation_and_lines(void)
{
	char err[JOEY_ERR_MAX];
	uint32_t gsi, first = 0, count = 0;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("hello"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s",
	      err);
	while (vm__alloc_irq(vm, &gsi) == 0) {
		if (!count)
			first = gsi;
		count++;
	}
	int trig = vm__irq_trigger(vm, 5);
	int bad_trig = vm__irq_trigger(vm, 99);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int irqfd = vm__irqfd(vm, 6, efd);
	int efd2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ioe = vm__ioeventfd(vm, 0xd0000050, 0, efd2);
	int ioe_rm = ioe == 0 ? vm__ioeventfd_remove(vm, 0xd0000050, 0, efd2) : ioe;
	joey_vm_destroy(vm);
	close(efd);
	close(efd2);
	CHECK(first == 5 && count == 19, "GSIs %u.. count %u", first, count);
	CHECK(trig == 0 && bad_trig == -EINVAL, "trigger %d, out of range %d", trig, bad_trig);
	CHECK(irqfd == 0, "irqfd %d", irqfd);
	CHECK(ioe == 0 || ioe == -ENOTSUP, "ioeventfd %d", ioe);
	CHECK(ioe_rm == ioe, "ioeventfd remove %d", ioe_rm);
	printf("    ioeventfd on this host: %s\n", ioe == 0 ? "available" : "not supported");
	return PASS;
}

struct loop_probe {
	int fd;
	volatile int calls;
	volatile uint32_t events;
};

static void loop_cb(void *opaque, uint32_t events)
{
	struct loop_probe *p = opaque;
	uint64_t v;

	if (read(p->fd, &v, sizeof(v)) == sizeof(v))
		p->calls++;
	p->events = events;
}

static int test_event_loop(void)
{
	char err[JOEY_ERR_MAX];
	struct loop_probe probe = { 0 };
	uint64_t one = 1;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("hello"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s",
	      err);
	probe.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int add = vm__loop_add(vm, probe.fd, EPOLLIN, loop_cb, &probe);
	int dup = vm__loop_add(vm, probe.fd, EPOLLIN, loop_cb, &probe);
	if (write(probe.fd, &one, sizeof(one)) != sizeof(one))
		perror("write");
	for (int i = 0; i < 200 && !probe.calls; i++)
		usleep(5000);
	int calls_after_write = probe.calls;
	int mod = vm__loop_mod(vm, probe.fd, EPOLLIN | EPOLLOUT);
	int del = vm__loop_del(vm, probe.fd);
	int del2 = vm__loop_del(vm, probe.fd);
	int calls_before = probe.calls;
	if (write(probe.fd, &one, sizeof(one)) != sizeof(one))
		perror("write");
	usleep(50000);
	int calls_after_del = probe.calls;
	joey_vm_destroy(vm); /* joins the loop thread */
	close(probe.fd);
	CHECK(add == 0 && dup == -EEXIST, "add %d dup %d", add, dup);
	CHECK(calls_after_write >= 1 && (probe.events & EPOLLIN), "callback ran %d times",
	      calls_after_write);
	CHECK(mod == 0 && del == 0 && del2 == -ENOENT, "mod %d del %d del2 %d", mod, del, del2);
	CHECK(calls_after_del == calls_before, "callback ran after delete");
	return PASS;
}

/* The loop holds a vsock device at its connection cap (one host socket per
 * stream, plus its listener and kick eventfd) and more; past its limit an
 * add says -ENOSPC; a freed slot is reused; high fd numbers work. */
static int test_event_loop_capacity(void)
{
	enum { MAX_TRY = 1500 };
	static int fds[MAX_TRY];
	char err[JOEY_ERR_MAX];
	struct loop_probe probe = { 0 };
	struct rlimit rl;
	joey_vm *vm;
	int n = 0, rc = 0, high = -1;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MAX_TRY + 64) {
		rl.rlim_cur = rl.rlim_max < MAX_TRY + 64 ? rl.rlim_max : MAX_TRY + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < MAX_TRY + 64)
		return harness_skip("RLIMIT_NOFILE below what the test needs");
	CHECK(vmt_create(&vm, guest_path("hello"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s",
	      err);
	while (n < MAX_TRY) {
		fds[n] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fds[n] < 0)
			break;
		rc = vm__loop_add(vm, fds[n], EPOLLIN, loop_cb, &probe);
		n++;
		if (rc)
			break;
	}
	int added = rc ? n - 1 : n;
	int del = vm__loop_del(vm, fds[0]);
	int again = vm__loop_add(vm, fds[n - 1], EPOLLIN, loop_cb, &probe);
	/* dup2 onto a high number: the fd index grows on demand. */
	high = dup2(fds[1], 1400);
	int del_low = vm__loop_del(vm, fds[1]);
	int add_high = high >= 0 ? vm__loop_add(vm, high, EPOLLIN, loop_cb, &probe) : -EBADF;
	int mod_high = vm__loop_mod(vm, high, EPOLLIN | EPOLLOUT);
	joey_vm_destroy(vm);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (high >= 0)
		close(high);
	printf("    %d fds watched before -ENOSPC\n", added);
	CHECK(rc == -ENOSPC, "add %d ended with %d, want -ENOSPC", n, rc);
	CHECK(added >= VSOCK_MAX_CONNS + 2 + 256, "only %d fds, vsock alone needs %d", added,
	      VSOCK_MAX_CONNS + 2);
	CHECK(del == 0 && again == 0, "delete %d, add into the freed slot %d", del, again);
	CHECK(del_low == 0 && add_high == 0 && mod_high == 0, "high fd: del %d add %d mod %d",
	      del_low, add_high, mod_high);
	return PASS;
}

static int test_device_error_event(void)
{
	char err[JOEY_ERR_MAX];
	struct joey_event ev;
	bool seen = false;
	joey_vm *vm;

	CHECK(vmt_create(&vm, guest_path("hello"), 1, 8 * MIB, "", err, sizeof(err)) == 0, "%s",
	      err);
	int events = 0, again = 0;
	uint64_t id = joey_vm_id(vm);
	/* A flood queues one event; reading the text re-arms it. */
	for (int i = 1; i <= 1000; i++)
		vm__device_error(vm, "test", "descriptor chain %d loops", i);
	while (joey_event_next(&ev))
		if (ev.vm_id == id && ev.type == JOEY_EVENT_DEVICE_ERROR)
			events++;
	seen = events == 1;
	joey_vm_last_error(vm, err, sizeof(err));
	vm__device_error(vm, "test", "descriptor chain %d loops", 3);
	while (joey_event_next(&ev))
		if (ev.vm_id == id && ev.type == JOEY_EVENT_DEVICE_ERROR)
			again++;
	CHECK(!strcmp(err, "device test: descriptor chain 1000 loops"), "'%s'", err);
	joey_vm_last_error(vm, err, sizeof(err));
	const struct guest_mem *gm = vm__guest_mem(vm);
	bool ram = gm && gm__range_ok(gm, 0, 8 * MIB) && !gm__range_ok(gm, 8 * MIB - 1, 2) &&
		   gm->regions[0].fd >= 0;
	joey_vm_destroy(vm);
	CHECK(seen, "%d DEVICE_ERROR events for 1000 errors, want 1", events);
	CHECK(again == 1, "no new event after the text was read");
	CHECK(!strcmp(err, "device test: descriptor chain 3 loops"), "'%s'", err);
	CHECK(ram, "guest_mem does not describe 8 MiB of memfd RAM");
	return PASS;
}

int main(void)
{
	harness_run("PIO and MMIO handlers see the guest's accesses; cmdline append",
		    test_pio_mmio_dispatch_and_cmdline);
	harness_run("GSI allocation 5..23, irq trigger, irqfd, ioeventfd",
		    test_irq_allocation_and_lines);
	harness_run("epoll loop thread: add, callback, mod, del", test_event_loop);
	harness_run("epoll loop capacity: a vsock device at its cap fits, then -ENOSPC",
		    test_event_loop_capacity);
	harness_run("device error: event and last-error text; guest_mem is memfd RAM",
		    test_device_error_event);
	return harness_finish();
}
