/* A hostile virtio driver: sets the vsock device up properly, then breaks
 * its tx queue in one way (option attack=N), kicks, and checks that the
 * device answers with NEEDS_RESET instead of acting on the chain. Then it
 * resets the device and sets it up again to show it recovers.
 *   1 buffer outside guest RAM       5 nested indirect table
 *   2 descriptor loop                6 rings outside RAM at DRIVER_OK
 *   3 absurd length                  7 head index out of range
 *   4 avail index jump               8 readable after writable descriptor
 *   9 writable buffer overlapping a readable one of the same chain
 * Exit 0 = the device refused the chain and recovered; 1 = it did not. */
#include "virtio_drv.h"

#define VSOCK_ID 19
#define RXQ_MEM 0x1000000ull
#define TXQ_MEM 0x1020000ull
#define EVQ_MEM 0x1040000ull
#define BUF 0x1200000ull

static __attribute__((noreturn)) void done(const char *msg, uint32_t code)
{
	uart_puts("hostile guest: ");
	uart_puts(msg);
	uart_putc('\n');
	guest_exit(code);
}

static void setup(uint64_t base, bool rings_outside)
{
	struct vq rx, tx, ev;
	uint64_t want = (1ull << VDRV_F_VERSION_1) | (1ull << VDRV_F_INDIRECT);
	if (vdrv_negotiate(base, want) == ~0ull)
		done("FEATURES_OK refused", 1);
	if (vdrv_queue(&rx, base, 0, 16, RXQ_MEM) || vdrv_queue(&ev, base, 2, 8, EVQ_MEM))
		done("queue setup", 1);
	if (rings_outside) {
		/* Queue 1 at 1 TiB: far outside RAM. */
		vdrv_write(base, 0x030, 1);
		vdrv_write(base, 0x038, 16);
		vdrv_write(base, 0x080, 0);
		vdrv_write(base, 0x084, 0x100);
		vdrv_write(base, 0x090, 0x1000);
		vdrv_write(base, 0x094, 0x100);
		vdrv_write(base, 0x0a0, 0x2000);
		vdrv_write(base, 0x0a4, 0x100);
		vdrv_write(base, 0x044, 1);
	} else if (vdrv_queue(&tx, base, 1, 16, TXQ_MEM)) {
		done("queue setup", 1);
	}
	vdrv_driver_ok(base);
}

/* Publishes head as the next avail entry of the tx queue (raw). */
static void publish(uint16_t head, uint16_t idx_bump)
{
	volatile uint16_t *avail = (volatile uint16_t *)(TXQ_MEM + 0x1000);
	avail[2] = head;
	mb();
	avail[1] = (uint16_t)(1 + idx_bump);
	mb();
}

int guest_main(void)
{
	uint64_t attack = guest_opt("attack", 0);
	uint64_t base = vdrv_find(VSOCK_ID, 0);
	if (!base)
		done("no vsock device", 1);
	setup(base, attack == 6);
	volatile struct vdesc *d = (volatile struct vdesc *)TXQ_MEM;
	volatile struct vdesc *ind = (volatile struct vdesc *)(BUF + 0x1000);
	switch (attack) {
	case 1:
		d[0] = (struct vdesc){ 0xfffff0000000ull, 64, 0, 0 };
		publish(0, 0);
		break;
	case 2:
		d[0] = (struct vdesc){ BUF, 44, VDESC_F_NEXT, 1 };
		d[1] = (struct vdesc){ BUF, 44, VDESC_F_NEXT, 0 };
		publish(0, 0);
		break;
	case 3:
		d[0] = (struct vdesc){ BUF, 0xffffff00u, 0, 0 };
		publish(0, 0);
		break;
	case 4:
		d[0] = (struct vdesc){ BUF, 44, 0, 0 };
		publish(0, 1000);
		break;
	case 5:
		ind[0] = (struct vdesc){ BUF + 0x2000, 16, VDESC_F_INDIRECT, 0 };
		d[0] = (struct vdesc){ BUF + 0x1000, 16, VDESC_F_INDIRECT, 0 };
		publish(0, 0);
		break;
	case 6:
		break; /* the rings themselves are the attack */
	case 7:
		d[0] = (struct vdesc){ BUF, 44, 0, 0 };
		publish(9999, 0);
		break;
	case 8:
		d[0] = (struct vdesc){ BUF, 64, VDESC_F_WRITE | VDESC_F_NEXT, 1 };
		d[1] = (struct vdesc){ BUF + 64, 44, 0, 0 };
		publish(0, 0);
		break;
	case 9:
		d[0] = (struct vdesc){ BUF, 64, VDESC_F_NEXT, 1 };
		d[1] = (struct vdesc){ BUF + 32, 64, VDESC_F_WRITE, 0 };
		publish(0, 0);
		break;
	default:
		done("unknown attack", 1);
	}
	if (attack != 6)
		vdrv_write(base, 0x050, 1);
	if (!vdrv_wait_needs_reset(base, 2000000))
		done("device did not set NEEDS_RESET", 1);
	uart_puts("hostile guest: NEEDS_RESET after attack ");
	uart_put_dec(attack);
	uart_putc('\n');
	/* Recovery: reset, then a proper setup must reach DRIVER_OK. */
	vdrv_write(base, 0x070, 0);
	if (vdrv_read(base, 0x070) != 0)
		done("reset did not clear status", 1);
	setup(base, false);
	uint32_t st = vdrv_read(base, 0x070);
	if (!(st & VDRV_STATUS_DRIVER_OK) || (st & VDRV_STATUS_NEEDS_RESET))
		done("device did not recover after reset", 1);
	done("recovered after reset", 0);
}
