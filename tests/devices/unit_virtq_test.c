/* Split-virtqueue parsing without a VM: rings built by hand in a fake
 * guest memory (two adjacent regions, then a hole). Valid chains (direct,
 * indirect, across a region boundary) parse into the right segments;
 * each kind of malformed ring stops the queue with its own error; EVENT_IDX
 * suppression and avail_event publication follow the spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_util.h"
#include "virtio/virtqueue.h"

#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define NUM 16

static uint8_t ram_lo[0x10000], ram_hi[0x10000];
static struct guest_mem gm;
static int passed, failed;

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			printf("    FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);      \
			return 1;                                                 \
		}                                                                 \
	} while (0)

static void reset_ram(struct virtq *q)
{
	memset(ram_lo, 0, sizeof(ram_lo));
	memset(ram_hi, 0, sizeof(ram_hi));
	*q = (struct virtq){ .num = NUM, .ready = true, .desc = DESC, .avail = AVAIL, .used = USED,
			     .indirect = true };
}

static void publish(uint16_t slot, uint16_t head, uint16_t idx)
{
	gm__write(&gm, AVAIL + 4 + 2ull * slot, &head, 2);
	gm__write(&gm, AVAIL + 2, &idx, 2);
}

static int expect_error(void (*build)(void), enum vq_error want)
{
	struct virtq q;
	struct vq_chain c;
	reset_ram(&q);
	build();
	CHECK(virtq__pop(&q, &gm, &c) == -EINVAL);
	CHECK(q.error == want);
	/* The queue stays dead. */
	CHECK(virtq__pop(&q, &gm, &c) == -EINVAL);
	return 0;
}

static void b_addr(void) { ring_put_desc(&gm, DESC, 0, 0x500000, 64, 0, 0); publish(0, 0, 1); }
static void b_loop(void)
{
	ring_put_desc(&gm, DESC, 0, 0x8000, 64, VRING_DESC_F_NEXT, 1);
	ring_put_desc(&gm, DESC, 1, 0x8000, 64, VRING_DESC_F_NEXT, 0);
	publish(0, 0, 1);
}
static void b_next(void) { ring_put_desc(&gm, DESC, 0, 0x8000, 64, VRING_DESC_F_NEXT, 99); publish(0, 0, 1); }
static void b_head(void) { publish(0, 200, 1); }
static void b_jump(void) { publish(0, 0, 1000); }
static void b_order(void)
{
	ring_put_desc(&gm, DESC, 0, 0x8000, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	ring_put_desc(&gm, DESC, 1, 0x9000, 64, 0, 0);
	publish(0, 0, 1);
}
static void b_nested(void)
{
	ring_put_desc(&gm, 0x6000, 0, 0x7000, 16, VRING_DESC_F_INDIRECT, 0);
	ring_put_desc(&gm, DESC, 0, 0x6000, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0, 0, 1);
}
static void b_indirect_len(void) { ring_put_desc(&gm, DESC, 0, 0x6000, 24, VRING_DESC_F_INDIRECT, 0); publish(0, 0, 1); }
static void b_hole(void) { ring_put_desc(&gm, DESC, 0, 0x1fff0, 0x20, 0, 0); publish(0, 0, 1); }
static void b_overlap(void)
{
	ring_put_desc(&gm, DESC, 0, 0x8000, 64, VRING_DESC_F_NEXT, 1);
	ring_put_desc(&gm, DESC, 1, 0x8020, 64, VRING_DESC_F_WRITE, 0);
	publish(0, 0, 1);
}

static int test_errors(void)
{
	int r = 0;
	r |= expect_error(b_addr, VQ_ERR_DESC_ADDR);
	r |= expect_error(b_loop, VQ_ERR_LOOP);
	r |= expect_error(b_next, VQ_ERR_NEXT);
	r |= expect_error(b_head, VQ_ERR_HEAD);
	r |= expect_error(b_jump, VQ_ERR_AVAIL_JUMP);
	r |= expect_error(b_order, VQ_ERR_ORDER);
	r |= expect_error(b_nested, VQ_ERR_INDIRECT);
	r |= expect_error(b_indirect_len, VQ_ERR_INDIRECT);
	r |= expect_error(b_hole, VQ_ERR_DESC_ADDR);
	r |= expect_error(b_overlap, VQ_ERR_OVERLAP);
	return r;
}

static int test_caps(void)
{
	struct virtq q;
	struct vq_chain c;
	reset_ram(&q);
	/* A cycle through every descriptor of the table. */
	for (unsigned int i = 0; i < NUM; i++)
		ring_put_desc(&gm, DESC, i, 0x8000, 1, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % NUM));
	publish(0, 0, 1);
	CHECK(virtq__pop(&q, &gm, &c) == -EINVAL && q.error == VQ_ERR_LOOP);
	/* Ring geometry: misaligned or outside RAM. */
	reset_ram(&q);
	q.desc = DESC + 8;
	CHECK(virtq__validate(&q, &gm) == -EINVAL && q.error == VQ_ERR_RING_ADDR);
	reset_ram(&q);
	q.used = 0x1fffc; /* used ring runs into the hole */
	CHECK(virtq__validate(&q, &gm) == -EINVAL);
	return 0;
}

static int test_valid_chains(void)
{
	struct virtq q;
	struct vq_chain c;
	reset_ram(&q);
	CHECK(!virtq__validate(&q, &gm));
	CHECK(virtq__pop(&q, &gm, &c) == 0); /* empty */
	ring_put_desc(&gm, DESC, 0, 0x8000, 16, VRING_DESC_F_NEXT, 5);
	ring_put_desc(&gm, DESC, 5, 0x9000, 100, VRING_DESC_F_NEXT, 2);
	ring_put_desc(&gm, DESC, 2, 0xa000, 1, VRING_DESC_F_WRITE, 0);
	/* Indirect: two readable entries, the second across the region edge. */
	ring_put_desc(&gm, 0x6000, 0, 0xb000, 10, VRING_DESC_F_NEXT, 1);
	ring_put_desc(&gm, 0x6000, 1, 0xfff8, 16, VRING_DESC_F_WRITE, 0);
	ring_put_desc(&gm, DESC, 3, 0x6000, 32, VRING_DESC_F_INDIRECT, 0);
	publish(0, 0, 1);
	publish(1, 3, 2);
	CHECK(virtq__pop(&q, &gm, &c) == 1);
	CHECK(c.head == 0 && c.nr_out == 2 && c.nr_in == 1 && c.out_len == 116 && c.in_len == 1);
	CHECK(c.seg[1].gpa == 0x9000 && c.seg[2].gpa == 0xa000);
	CHECK(!virtq__push(&q, &gm, c.head, 1));
	CHECK(virtq__pop(&q, &gm, &c) == 1);
	CHECK(c.head == 3 && c.nr_out == 1 && c.nr_in == 1 && c.in_len == 16);
	/* Writing across the region boundary lands in both regions. */
	uint8_t pat[16];
	for (int i = 0; i < 16; i++)
		pat[i] = (uint8_t)(0xa0 + i);
	CHECK(vq_chain__write(&c, &gm, 0, pat, 16) == 16);
	CHECK(ram_lo[0xfff8] == 0xa0 && ram_hi[7] == 0xaf);
	struct iovec iov[4];
	CHECK(vq_chain__iov(&c, &gm, true, 0, 16, iov, 4) == 2);
	virtq__unpop(&q);
	CHECK(virtq__pop(&q, &gm, &c) == 1 && c.head == 3);
	uint16_t used_idx;
	CHECK(!virtq__push(&q, &gm, c.head, 16));
	gm__read(&gm, USED + 2, &used_idx, 2);
	CHECK(used_idx == 2);
	return 0;
}

static int test_event_idx(void)
{
	struct virtq q;
	struct vq_chain c;
	reset_ram(&q);
	q.event_idx = true;
	/* Empty pop publishes avail_event = last_avail. */
	CHECK(virtq__pop(&q, &gm, &c) == 0);
	uint16_t ev;
	gm__read(&gm, USED + 4 + 8 * NUM, &ev, 2);
	CHECK(ev == 0);
	CHECK(!virtq__push(&q, &gm, 0, 0));
	CHECK(virtq__should_notify(&q, &gm)); /* first signal always */
	/* Driver asks for an interrupt only after used idx passes 5. */
	uint16_t used_event = 5;
	gm__write(&gm, AVAIL + 4 + 2 * NUM, &used_event, 2);
	CHECK(!virtq__push(&q, &gm, 0, 0)); /* used idx 2 */
	CHECK(!virtq__should_notify(&q, &gm));
	for (int i = 0; i < 4; i++)
		CHECK(!virtq__push(&q, &gm, 0, 0)); /* used idx 6 */
	CHECK(virtq__should_notify(&q, &gm));
	/* Without EVENT_IDX the NO_INTERRUPT flag rules. */
	q.event_idx = false;
	uint16_t flags = VRING_AVAIL_F_NO_INTERRUPT;
	gm__write(&gm, AVAIL, &flags, 2);
	CHECK(!virtq__should_notify(&q, &gm));
	return 0;
}

static void run(const char *name, int (*fn)(void))
{
	int r = fn();
	printf("  %s %s\n", r ? "FAIL" : "ok  ", name);
	if (r)
		failed++;
	else
		passed++;
}

int main(void)
{
	struct gm_region lo = { 0, sizeof(ram_lo), ram_lo, -1, 0, 0 };
	struct gm_region hi = { sizeof(ram_lo), sizeof(ram_hi), ram_hi, -1, 0, 0 };
	if (gm__add_region(&gm, &lo) || gm__add_region(&gm, &hi))
		return 1;
	run("valid direct, indirect and region-crossing chains", test_valid_chains);
	run("each malformed ring stops the queue with its error", test_errors);
	run("loops through the whole table and bad ring geometry", test_caps);
	run("EVENT_IDX used_event / avail_event and NO_INTERRUPT", test_event_idx);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
