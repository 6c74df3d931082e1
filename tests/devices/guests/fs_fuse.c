/* virtio-fs driver test through virtiofsd: checks the tag and queue count
 * in config, sets up the hiprio and request queues, then speaks FUSE:
 * INIT, LOOKUP of "hello.txt" in the shared directory's root, OPEN and READ
 * of the whole file, whose bytes must be pattern 21 (`size` bytes, as the
 * host wrote them). Exit 0 = all good. */
#include "virtio_drv.h"

#define FS_ID 26
#define Q0_MEM 0x1000000ull
#define Q1_MEM 0x1020000ull
#define REQ_BUF 0x1100000ull
#define OUT_BUF 0x1110000ull
#define FUSE_LOOKUP 1
#define FUSE_OPEN 14
#define FUSE_READ 15
#define FUSE_INIT 26

static struct vq rq;
static uint64_t unique = 1;

static __attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	uart_puts("fs guest: FAIL ");
	uart_puts(why);
	uart_putc(' ');
	uart_put_dec(v);
	uart_putc('\n');
	guest_exit(1);
}

/* Sends one FUSE request; returns the reply's payload length. */
static uint32_t fuse(uint32_t opcode, uint64_t nodeid, const void *arg, uint32_t arg_len,
		     uint32_t out_len)
{
	uint8_t *in = (uint8_t *)REQ_BUF;
	uint32_t len = 40 + arg_len;
	memset(in, 0, 40);
	memcpy(in, &len, 4);
	memcpy(in + 4, &opcode, 4);
	memcpy(in + 8, &unique, 8);
	memcpy(in + 16, &nodeid, 8);
	memcpy(in + 40, arg, arg_len);
	memset((void *)OUT_BUF, 0, 16 + out_len);
	struct vbuf b[2] = { { REQ_BUF, len, false }, { OUT_BUF, 16 + out_len, true } };
	if (vq_add(&rq, b, 2, false) < 0)
		fail("request ring full", opcode);
	vq_kick(&rq);
	uint16_t head;
	uint32_t used;
	while (!vq_used(&rq, &head, &used))
		cpu_relax();
	vq_free(&rq, head);
	const uint8_t *out = (const uint8_t *)OUT_BUF;
	uint32_t olen;
	int32_t err;
	uint64_t uq;
	memcpy(&olen, out, 4);
	memcpy(&err, out + 4, 4);
	memcpy(&uq, out + 8, 8);
	if (uq != unique || olen < 16 || olen > used)
		fail("reply header for opcode", opcode);
	if (err)
		fail("FUSE error (negative errno) for opcode", (uint64_t)(uint32_t)-err);
	unique++;
	return olen - 16;
}

int guest_main(void)
{
	uint64_t size = guest_opt("size", 3000);
	uint64_t base = vdrv_find(FS_ID, 0);
	struct vq hq;
	if (!base)
		fail("no virtio-fs device", 0);
	if (vdrv_negotiate(base, (1ull << VDRV_F_VERSION_1)) == ~0ull)
		fail("FEATURES_OK refused", 0);
	char tag[37];
	for (int i = 0; i < 36; i++)
		tag[i] = (char)mmio_read8(base + 0x100 + (uint64_t)i);
	tag[36] = 0;
	if (memcmp(tag, "joeytest", 9) || vdrv_read(base, 0x100 + 36) != 1)
		fail("config tag / num_request_queues", vdrv_read(base, 0x100 + 36));
	if (vdrv_queue(&hq, base, 0, 8, Q0_MEM) || vdrv_queue(&rq, base, 1, 32, Q1_MEM))
		fail("queue setup", 0);
	vdrv_driver_ok(base);
	if (vdrv_read(base, 0x070) & VDRV_STATUS_NEEDS_RESET)
		fail("device needs reset after DRIVER_OK", 0);

	uint32_t init_in[4] = { 7, 31, 0, 0 };
	fuse(FUSE_INIT, 0, init_in, sizeof(init_in), 64);
	uint32_t major;
	memcpy(&major, (void *)(OUT_BUF + 16), 4);
	if (major != 7)
		fail("FUSE_INIT major", major);
	uart_puts("fs guest: FUSE_INIT ok\n");

	fuse(FUSE_LOOKUP, 1, "hello.txt", 10, 128);
	uint64_t nodeid, fsize;
	memcpy(&nodeid, (void *)(OUT_BUF + 16), 8);
	memcpy(&fsize, (void *)(OUT_BUF + 16 + 40 + 8), 8); /* entry_out.attr.size */
	if (!nodeid || fsize != size)
		fail("LOOKUP hello.txt size", fsize);
	uart_puts("fs guest: LOOKUP hello.txt ok, size ");
	uart_put_dec(fsize);
	uart_putc('\n');

	uint32_t open_in[2] = { 0, 0 };
	fuse(FUSE_OPEN, nodeid, open_in, sizeof(open_in), 16);
	uint64_t fh;
	memcpy(&fh, (void *)(OUT_BUF + 16), 8);

	uint8_t read_in[40] = { 0 };
	uint32_t want = (uint32_t)size;
	memcpy(read_in, &fh, 8);
	memcpy(read_in + 16, &want, 4);
	uint32_t got = fuse(FUSE_READ, nodeid, read_in, sizeof(read_in), 8192);
	if (got != size)
		fail("READ returned bytes", got);
	struct pattern p;
	pattern_init(&p, 21);
	const uint8_t *data = (const uint8_t *)(OUT_BUF + 16);
	for (uint32_t i = 0; i < got; i++)
		if (data[i] != pattern_next(&p))
			fail("READ content differs at", i);
	uart_puts("fs guest: READ ok, content matches\nfs guest: ALL OK\n");
	return 0;
}
