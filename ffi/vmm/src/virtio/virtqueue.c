#include "virtqueue.h"

#include <errno.h>
#include <string.h>

#define DESC_SIZE 16u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint64_t avail_size(uint16_t num)
{
	return 4 + 2ull * num + 2;
}

static uint64_t used_size(uint16_t num)
{
	return 4 + 8ull * num + 2;
}

/* Ring fields are shared with a running driver: read and write them with
 * single volatile accesses. The pointers come from gm__ptr, which checked
 * the whole field lies in RAM. */
static bool load16(const struct guest_mem *gm, uint64_t gpa, uint16_t *v)
{
	volatile uint16_t *p = gm__ptr(gm, gpa, 2);
	if (!p)
		return false;
	*v = *p;
	return true;
}

static bool store16(const struct guest_mem *gm, uint64_t gpa, uint16_t v)
{
	volatile uint16_t *p = gm__ptr(gm, gpa, 2);
	if (!p)
		return false;
	*p = v;
	return true;
}

static int fail(struct virtq *vq, enum vq_error e)
{
	if (vq->error == VQ_OK)
		vq->error = e;
	return -EINVAL;
}

const char *virtq__error_text(enum vq_error e)
{
	switch (e) {
	case VQ_OK: return "no error";
	case VQ_ERR_AVAIL_JUMP: return "avail index moved by more than the queue size";
	case VQ_ERR_HEAD: return "descriptor head out of range";
	case VQ_ERR_DESC_ADDR: return "descriptor buffer outside guest memory";
	case VQ_ERR_NEXT: return "descriptor next index out of range";
	case VQ_ERR_LOOP: return "descriptor chain loops";
	case VQ_ERR_ORDER: return "device-readable descriptor after a writable one";
	case VQ_ERR_INDIRECT: return "malformed indirect descriptor table";
	case VQ_ERR_TOO_LONG: return "descriptor chain too long";
	case VQ_ERR_RING_ADDR: return "ring outside guest memory or misaligned";
	case VQ_ERR_OVERLAP: return "writable buffer overlaps another buffer of the chain";
	}
	return "unknown error";
}

int virtq__validate(struct virtq *vq, const struct guest_mem *gm)
{
	uint16_t n = vq->num;
	if (!n || n > VQ_MAX_SIZE || (n & (n - 1)))
		return fail(vq, VQ_ERR_RING_ADDR);
	/* virtio 1.x §2.7: descriptor table 16-aligned, avail 2, used 4. */
	if ((vq->desc & 15) || (vq->avail & 1) || (vq->used & 3))
		return fail(vq, VQ_ERR_RING_ADDR);
	if (!gm__range_ok(gm, vq->desc, DESC_SIZE * n) ||
	    !gm__range_ok(gm, vq->avail, avail_size(n)) ||
	    !gm__range_ok(gm, vq->used, used_size(n)))
		return fail(vq, VQ_ERR_RING_ADDR);
	return 0;
}

void virtq__reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

bool virtq__has_avail(struct virtq *vq, const struct guest_mem *gm)
{
	uint16_t idx;
	if (vq->error || !vq->ready || !load16(gm, vq->avail + 2, &idx))
		return false;
	return idx != vq->last_avail;
}

static int read_desc(const struct guest_mem *gm, uint64_t table, uint32_t i, struct desc *d)
{
	uint8_t raw[DESC_SIZE];
	if (gm__read(gm, table + (uint64_t)i * DESC_SIZE, raw, sizeof(raw)))
		return -EFAULT;
	memcpy(&d->addr, raw, 8);
	memcpy(&d->len, raw + 8, 4);
	memcpy(&d->flags, raw + 12, 2);
	memcpy(&d->next, raw + 14, 2);
	return 0;
}

static int add_seg(struct virtq *vq, const struct guest_mem *gm, struct vq_chain *c,
		   const struct desc *d)
{
	bool w = d->flags & VRING_DESC_F_WRITE;
	if (c->nr_out + c->nr_in >= VQ_MAX_SEGS)
		return fail(vq, VQ_ERR_TOO_LONG);
	if (!w && c->nr_in)
		return fail(vq, VQ_ERR_ORDER);
	if (!gm__range_ok(gm, d->addr, d->len))
		return fail(vq, VQ_ERR_DESC_ADDR);
	uint32_t *total = w ? &c->in_len : &c->out_len;
	if (d->len > VQ_MAX_CHAIN_LEN - *total)
		return fail(vq, VQ_ERR_TOO_LONG);
	*total += d->len;
	struct vq_seg *s = &c->seg[c->nr_out + c->nr_in];
	s->gpa = d->addr;
	s->len = d->len;
	if (w)
		c->nr_in++;
	else
		c->nr_out++;
	return 0;
}

/* Walks an indirect table (§2.7.5.3): no nesting, no NEXT on the pointer,
 * a whole number of descriptors, and a walk no longer than the table. */
static int walk_indirect(struct virtq *vq, const struct guest_mem *gm, struct vq_chain *c,
			 const struct desc *ind)
{
	if (!vq->indirect || (ind->flags & VRING_DESC_F_NEXT) || !ind->len ||
	    ind->len % DESC_SIZE || ind->len / DESC_SIZE > VQ_MAX_SEGS)
		return fail(vq, VQ_ERR_INDIRECT);
	if (!gm__range_ok(gm, ind->addr, ind->len))
		return fail(vq, VQ_ERR_DESC_ADDR);
	uint32_t n = ind->len / DESC_SIZE, i = 0;
	for (uint32_t steps = 0;; steps++) {
		struct desc d;
		if (steps >= n)
			return fail(vq, VQ_ERR_LOOP);
		if (read_desc(gm, ind->addr, i, &d))
			return fail(vq, VQ_ERR_DESC_ADDR);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return fail(vq, VQ_ERR_INDIRECT);
		int r = add_seg(vq, gm, c, &d);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return fail(vq, VQ_ERR_NEXT);
		i = d.next;
	}
}

/* A device writing into a buffer it is also reading from (or writing
 * twice) would act on data that changes under it: no honest driver builds
 * such a chain. Quadratic, but bounded by VQ_MAX_SEGS and only over the
 * writable segments. */
static int check_overlap(struct virtq *vq, const struct vq_chain *c)
{
	unsigned int n = c->nr_out + c->nr_in;
	for (unsigned int i = c->nr_out; i < n; i++) {
		const struct vq_seg *w = &c->seg[i];
		for (unsigned int j = 0; j < n; j++) {
			const struct vq_seg *o = &c->seg[j];
			if (j == i || !w->len || !o->len)
				continue;
			if (w->gpa < o->gpa + o->len && o->gpa < w->gpa + w->len)
				return fail(vq, VQ_ERR_OVERLAP);
		}
	}
	return 0;
}

static int parse_chain(struct virtq *vq, const struct guest_mem *gm, uint16_t head,
		       struct vq_chain *c)
{
	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	uint16_t i = head;
	for (uint32_t steps = 0;; steps++) {
		struct desc d;
		/* A chain can visit each descriptor once; more means a loop. */
		if (steps >= vq->num)
			return fail(vq, VQ_ERR_LOOP);
		if (read_desc(gm, vq->desc, i, &d))
			return fail(vq, VQ_ERR_RING_ADDR);
		int r = (d.flags & VRING_DESC_F_INDIRECT) ? walk_indirect(vq, gm, c, &d)
							   : add_seg(vq, gm, c, &d);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT) || (d.flags & VRING_DESC_F_INDIRECT))
			return check_overlap(vq, c);
		if (d.next >= vq->num)
			return fail(vq, VQ_ERR_NEXT);
		i = d.next;
	}
}

int virtq__pop(struct virtq *vq, const struct guest_mem *gm, struct vq_chain *c)
{
	uint16_t idx, head;
	if (vq->error)
		return -EINVAL;
	if (!vq->ready)
		return 0;
	if (!load16(gm, vq->avail + 2, &idx))
		return fail(vq, VQ_ERR_RING_ADDR);
	if (idx == vq->last_avail && vq->event_idx) {
		/* Ask for a kick at the next entry, then look again: the driver
		 * may have published between our read and the store (§2.7.10). */
		if (!store16(gm, vq->used + 4 + 8ull * vq->num, vq->last_avail))
			return fail(vq, VQ_ERR_RING_ADDR);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!load16(gm, vq->avail + 2, &idx))
			return fail(vq, VQ_ERR_RING_ADDR);
	}
	if (idx == vq->last_avail)
		return 0;
	/* The driver never has more than num buffers outstanding. */
	if ((uint16_t)(idx - vq->last_avail) > vq->num)
		return fail(vq, VQ_ERR_AVAIL_JUMP);
	/* Read ring entries and descriptors only after seeing the index. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (!load16(gm, vq->avail + 4 + 2ull * (vq->last_avail % vq->num), &head))
		return fail(vq, VQ_ERR_RING_ADDR);
	if (head >= vq->num)
		return fail(vq, VQ_ERR_HEAD);
	int r = parse_chain(vq, gm, head, c);
	if (r)
		return r;
	vq->last_avail++;
	return 1;
}

void virtq__unpop(struct virtq *vq)
{
	vq->last_avail--;
}

int virtq__push(struct virtq *vq, const struct guest_mem *gm, uint16_t head, uint32_t len)
{
	uint8_t elem[8];
	uint32_t id = head;
	if (vq->error)
		return -EINVAL;
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &len, 4);
	uint64_t slot = vq->used + 4 + 8ull * (vq->used_idx % vq->num);
	if (gm__write(gm, slot, elem, sizeof(elem)))
		return fail(vq, VQ_ERR_RING_ADDR);
	/* The element must be visible before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->used_idx++;
	if (!store16(gm, vq->used + 2, vq->used_idx))
		return fail(vq, VQ_ERR_RING_ADDR);
	return 0;
}

bool virtq__should_notify(struct virtq *vq, const struct guest_mem *gm)
{
	/* Order the used idx store before reading the driver's suppression. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		uint16_t flags;
		if (!load16(gm, vq->avail, &flags))
			return true;
		return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t old = vq->signalled_used, now = vq->used_idx, event;
	bool valid = vq->signalled_valid;
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	if (!load16(gm, vq->avail + 4 + 2ull * vq->num, &event))
		return true;
	/* vring_need_event: did used idx pass used_event since the last signal? */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

/* Visits [off, off+len) of one direction of the chain as guest ranges. */
typedef int (*seg_fn)(void *ctx, uint64_t gpa, uint32_t len);

static long walk(const struct vq_chain *c, bool in, uint32_t off, uint32_t len, seg_fn fn,
		 void *ctx)
{
	unsigned int first = in ? c->nr_out : 0, end = in ? c->nr_out + c->nr_in : c->nr_out;
	long done = 0;
	for (unsigned int i = first; i < end && len; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint32_t step = s->len - off < len ? s->len - off : len;
		int r = fn(ctx, s->gpa + off, step);
		if (r < 0)
			return r;
		off = 0;
		len -= step;
		done += step;
	}
	return done;
}

struct copy_ctx {
	const struct guest_mem *gm;
	uint8_t *buf;
	bool to_guest;
};

static int copy_seg(void *opaque, uint64_t gpa, uint32_t len)
{
	struct copy_ctx *x = opaque;
	int r = x->to_guest ? gm__write(x->gm, gpa, x->buf, len) : gm__read(x->gm, gpa, x->buf, len);
	x->buf += len;
	return r;
}

long vq_chain__read(const struct vq_chain *c, const struct guest_mem *gm, uint32_t off,
		    void *dst, uint32_t len)
{
	struct copy_ctx x = { gm, dst, false };
	return walk(c, false, off, len, copy_seg, &x);
}

long vq_chain__write(const struct vq_chain *c, const struct guest_mem *gm, uint32_t off,
		     const void *src, uint32_t len)
{
	struct copy_ctx x = { gm, (uint8_t *)src, true };
	return walk(c, true, off, len, copy_seg, &x);
}

struct iov_ctx {
	const struct guest_mem *gm;
	struct iovec *iov;
	int nr, max;
};

/* A segment may span adjacent regions: split it at region ends. */
static int iov_seg(void *opaque, uint64_t gpa, uint32_t len)
{
	struct iov_ctx *x = opaque;
	while (len) {
		uint32_t piece = len;
		void *p;
		while (!(p = gm__ptr(x->gm, gpa, piece)))
			if (!(piece /= 2))
				return -EFAULT;
		if (x->nr >= x->max)
			return -ENOBUFS;
		x->iov[x->nr].iov_base = p;
		x->iov[x->nr].iov_len = piece;
		x->nr++;
		gpa += piece;
		len -= piece;
	}
	return 0;
}

int vq_chain__iov(const struct vq_chain *c, const struct guest_mem *gm, bool in, uint32_t off,
		  uint32_t len, struct iovec *iov, int max)
{
	struct iov_ctx x = { gm, iov, 0, max };
	long r = walk(c, in, off, len, iov_seg, &x);
	return r < 0 ? (int)r : x.nr;
}
