/* Calibration: increments a counter n times (option n=, default 200000)
 * and exits. The host times it to learn whether test-guest code runs
 * natively or instruction by instruction on this host. */
#include "virtio_drv.h"

static volatile uint64_t counter;

int guest_main(void)
{
	uint64_t n = guest_opt("n", 200000);
	for (uint64_t i = 0; i < n; i++)
		counter++;
	return 0;
}
