#include "virtio_drv.h"

enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_DEV_FEAT = 0x010,
	R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020, R_DRV_FEAT_SEL = 0x024, R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050, R_STATUS = 0x070, R_QUEUE_DESC_LO = 0x080,
	R_QUEUE_DESC_HI = 0x084, R_QUEUE_AVAIL_LO = 0x090, R_QUEUE_AVAIL_HI = 0x094,
	R_QUEUE_USED_LO = 0x0a0, R_QUEUE_USED_HI = 0x0a4,
};

uint32_t vdrv_read(uint64_t base, uint32_t off) { return mmio_read32(base + off); }
void vdrv_write(uint64_t base, uint32_t off, uint32_t v) { mmio_write32(base + off, v); }

static const char *find(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; *s; s++)
		if (!memcmp(s, needle, n))
			return s + n;
	return 0;
}

static uint64_t parse_num(const char **p)
{
	uint64_t v = 0;
	const char *s = *p;
	if (s[0] == '0' && s[1] == 'x') {
		s += 2;
		for (;; s++) {
			char c = *s;
			if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
			else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
			else break;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	return v;
}

uint64_t guest_opt(const char *key, uint64_t def)
{
	char k[40];
	size_t n = strlen(key);
	if (n + 2 > sizeof(k))
		return def;
	memcpy(k, key, n);
	k[n] = '=';
	k[n + 1] = 0;
	const char *p = find(guest_cmdline(), k);
	return p ? parse_num(&p) : def;
}

uint64_t vdrv_find(uint32_t device_id, unsigned int nth)
{
	const char *p = guest_cmdline();
	while ((p = find(p, "virtio_mmio.device="))) {
		const char *at = find(p, "@");
		if (!at)
			break;
		uint64_t base = parse_num(&at);
		if (vdrv_read(base, R_MAGIC) == 0x74726976 && vdrv_read(base, R_VERSION) == 2 &&
		    vdrv_read(base, R_DEVICE_ID) == device_id && nth-- == 0)
			return base;
	}
	return 0;
}

uint64_t vdrv_features(uint64_t base)
{
	vdrv_write(base, R_DEV_FEAT_SEL, 0);
	uint64_t lo = vdrv_read(base, R_DEV_FEAT);
	vdrv_write(base, R_DEV_FEAT_SEL, 1);
	return lo | ((uint64_t)vdrv_read(base, R_DEV_FEAT) << 32);
}

uint64_t vdrv_negotiate(uint64_t base, uint64_t want)
{
	vdrv_write(base, R_STATUS, 0);
	vdrv_write(base, R_STATUS, VDRV_STATUS_ACK);
	vdrv_write(base, R_STATUS, VDRV_STATUS_ACK | VDRV_STATUS_DRIVER);
	uint64_t f = want;
	vdrv_write(base, R_DRV_FEAT_SEL, 0);
	vdrv_write(base, R_DRV_FEAT, (uint32_t)f);
	vdrv_write(base, R_DRV_FEAT_SEL, 1);
	vdrv_write(base, R_DRV_FEAT, (uint32_t)(f >> 32));
	uint32_t st = VDRV_STATUS_ACK | VDRV_STATUS_DRIVER | VDRV_STATUS_FEATURES_OK;
	vdrv_write(base, R_STATUS, st);
	if (!(vdrv_read(base, R_STATUS) & VDRV_STATUS_FEATURES_OK))
		return ~0ull;
	return f;
}

int vdrv_queue(struct vq *vq, uint64_t base, unsigned int q, uint16_t num, uint64_t mem)
{
	memset(vq, 0, sizeof(*vq));
	memset((void *)mem, 0, 0x14000);
	vdrv_write(base, R_QUEUE_SEL, q);
	if (vdrv_read(base, R_QUEUE_READY) || vdrv_read(base, R_QUEUE_NUM_MAX) < num || num > 256)
		return -1;
	vq->base = base;
	vq->index = q;
	vq->num = num;
	vq->desc = (volatile struct vdesc *)mem;
	vq->avail = (volatile uint16_t *)(mem + 0x1000 * 1);
	vq->used = (volatile uint32_t *)(mem + 0x2000 * 1);
	vq->indirect = (struct vdesc *)(mem + 0x4000); /* 256 tables of 16 entries */
	for (uint16_t i = 0; i < num; i++)
		vq->next_free[i] = (uint16_t)(i + 1);
	vq->nr_free = num;
	vdrv_write(base, R_QUEUE_NUM, num);
	vdrv_write(base, R_QUEUE_DESC_LO, (uint32_t)mem);
	vdrv_write(base, R_QUEUE_DESC_HI, (uint32_t)(mem >> 32));
	vdrv_write(base, R_QUEUE_AVAIL_LO, (uint32_t)(mem + 0x1000));
	vdrv_write(base, R_QUEUE_AVAIL_HI, 0);
	vdrv_write(base, R_QUEUE_USED_LO, (uint32_t)(mem + 0x2000));
	vdrv_write(base, R_QUEUE_USED_HI, 0);
	vdrv_write(base, R_QUEUE_READY, 1);
	return 0;
}

void vdrv_driver_ok(uint64_t base)
{
	vdrv_write(base, R_STATUS, vdrv_read(base, R_STATUS) | VDRV_STATUS_DRIVER_OK);
}

int vq_add(struct vq *vq, const struct vbuf *b, unsigned int n, bool indirect)
{
	unsigned int need = indirect ? 1 : n;
	if (vq->nr_free < need || !n || (indirect && n > 16))
		return -1;
	uint16_t head = vq->free_head, d = head;
	if (indirect) {
		/* Table for this head: 16 entries at indirect + head * 256. */
		struct vdesc *t = (struct vdesc *)((uint64_t)vq->indirect + (uint64_t)head * 256);
		for (unsigned int i = 0; i < n; i++) {
			t[i].addr = b[i].addr;
			t[i].len = b[i].len;
			t[i].flags = (uint16_t)((b[i].write ? VDESC_F_WRITE : 0) |
						(i + 1 < n ? VDESC_F_NEXT : 0));
			t[i].next = (uint16_t)(i + 1);
		}
		vq->desc[d].addr = (uint64_t)t;
		vq->desc[d].len = n * 16;
		vq->desc[d].flags = VDESC_F_INDIRECT;
		vq->free_head = vq->next_free[d];
		vq->nr_free--;
	} else {
		for (unsigned int i = 0; i < n; i++) {
			vq->desc[d].addr = b[i].addr;
			vq->desc[d].len = b[i].len;
			vq->desc[d].flags = (uint16_t)((b[i].write ? VDESC_F_WRITE : 0) |
						       (i + 1 < n ? VDESC_F_NEXT : 0));
			uint16_t nx = vq->next_free[d];
			vq->desc[d].next = nx;
			vq->nr_free--;
			if (i + 1 < n)
				d = nx;
			else
				vq->free_head = nx;
		}
	}
	vq->avail[2 + (vq->avail_idx % vq->num)] = head;
	mb();
	vq->avail_idx++;
	vq->avail[1] = vq->avail_idx;
	mb();
	return head;
}

void vq_kick(struct vq *vq)
{
	vdrv_write(vq->base, R_QUEUE_NOTIFY, vq->index);
}

int vq_used(struct vq *vq, uint16_t *head, uint32_t *len)
{
	uint16_t idx = (uint16_t)(vq->used[0] >> 16);
	if (idx == vq->last_used)
		return 0;
	mb();
	unsigned int slot = vq->last_used % vq->num;
	*head = (uint16_t)vq->used[1 + 2 * slot];
	*len = vq->used[2 + 2 * slot];
	vq->last_used++;
	/* Tell the device where we are (EVENT_IDX used_event). */
	vq->avail[2 + vq->num] = vq->last_used;
	return 1;
}

void vq_free(struct vq *vq, uint16_t head)
{
	uint16_t d = head;
	for (;;) {
		uint16_t flags = vq->desc[d].flags, nx = vq->desc[d].next;
		vq->next_free[d] = vq->free_head;
		vq->free_head = d;
		vq->nr_free++;
		if ((flags & VDESC_F_INDIRECT) || !(flags & VDESC_F_NEXT))
			break;
		d = nx;
	}
}

void vq_reclaim(struct vq *vq)
{
	uint16_t head;
	uint32_t len;
	while (vq_used(vq, &head, &len))
		vq_free(vq, head);
}

void vdrv_fail(const char *who, const char *why, uint64_t v)
{
	uart_puts(who);
	uart_puts(": FAIL ");
	uart_puts(why);
	uart_putc(' ');
	uart_put_dec(v);
	uart_putc('\n');
	guest_exit(1);
}

bool vdrv_wait_needs_reset(uint64_t base, uint64_t spins)
{
	while (spins--) {
		if (vdrv_read(base, R_STATUS) & VDRV_STATUS_NEEDS_RESET)
			return true;
		cpu_relax();
	}
	return false;
}

void pattern_init(struct pattern *p, uint64_t seed)
{
	p->s = seed * 0x9e3779b97f4a7c15ull + 1;
}

uint8_t pattern_next(struct pattern *p)
{
	p->s ^= p->s << 13;
	p->s ^= p->s >> 7;
	p->s ^= p->s << 17;
	return (uint8_t)(p->s >> 24);
}
