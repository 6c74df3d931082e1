/* The VM shell pool: shells are pre-built in the background, taken by
 * creates of the same RAM size, refilled, and freed (no fd left) when the
 * pool is set to 0. Guests created from shells run like fresh ones. */
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)

static bool wait_ready(uint32_t n)
{
	for (int i = 0; i < 500; i++) {
		if (joey_vmm_pool_ready() >= n)
			return true;
		usleep(10000);
	}
	return false;
}

static int run_hello(uint64_t mem, double *create_ms)
{
	char err[JOEY_ERR_MAX], out[256];
	struct joey_event ev;
	joey_vm *vm;
	double t0 = now_ms();

	if (vmt_create(&vm, guest_path("hello"), 1, mem, "", err, sizeof(err)))
		return -1;
	*create_ms = now_ms() - t0;
	joey_vm_start(vm);
	bool ok = vmt_wait_end(vm, 5000, &ev, out, sizeof(out)) && ev.type == JOEY_EVENT_SHUTDOWN &&
		  ev.code == 42;
	joey_vm_destroy(vm);
	return ok ? 0 : -1;
}

static int test_pool(void)
{
	double fresh_ms = 0, pooled_ms = 0, other_ms = 0;
	int fds0 = count_fds();

	CHECK(run_hello(8 * MIB, &fresh_ms) == 0, "fresh VM");
	CHECK(joey_vmm_pool(3, 8 * MIB) == 0, "pool on");
	CHECK(wait_ready(3), "pool did not fill: %u ready", joey_vmm_pool_ready());
	CHECK(run_hello(8 * MIB, &pooled_ms) == 0, "VM from a shell");
	CHECK(joey_vmm_pool_ready() <= 3, "ready %u", joey_vmm_pool_ready());
	CHECK(wait_ready(3), "pool did not refill");
	CHECK(run_hello(16 * MIB, &other_ms) == 0, "VM of another size");
	CHECK(joey_vmm_pool_ready() == 3, "a 16 MiB VM took an 8 MiB shell");
	CHECK(joey_vmm_pool(2, 1000) == -22, "odd size accepted");
	CHECK(joey_vmm_pool(0, 0) == 0, "pool off");
	CHECK(joey_vmm_pool_ready() == 0, "shells left");
	CHECK(count_fds() == fds0, "fds %d → %d", fds0, count_fds());
	printf("    create: fresh %.2f ms, from a shell %.2f ms\n", fresh_ms, pooled_ms);
	return PASS;
}

int main(void)
{
	harness_run("VM shell pool: fill, take, refill, size match, free", test_pool);
	return harness_finish();
}
