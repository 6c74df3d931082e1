/* virtio-blk device (ID 2) on a raw file: read, write, flush, get-id, and a
 * read-only mode. Requests are parsed into a typed blk_req (all bounds
 * checked) before any I/O; I/O runs on the VM's loop thread, never on a
 * vCPU thread, straight between the file and guest memory.
 * Spec: "path=<file>[,ro=1][,id=<serial, up to 20 bytes>]". */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk.h"
#include "mmio.h"

#define SECTOR 512u
#define BLK_F_SEG_MAX 2
#define BLK_F_RO 5
#define BLK_F_BLK_SIZE 6
#define BLK_F_FLUSH 9
#define BLK_SEG_MAX 126
#define BLK_ID_BYTES 20

enum { BLK_T_IN = 0, BLK_T_OUT = 1, BLK_T_FLUSH = 4, BLK_T_GET_ID = 8 };
enum { BLK_S_OK = 0, BLK_S_IOERR = 1, BLK_S_UNSUPP = 2 };

struct blk_dev {
	struct virtio_mmio t;
	int fd;
	bool ro;
	uint64_t capacity; /* bytes, a multiple of SECTOR */
	char id[BLK_ID_BYTES];
};

/* A request as the device will carry it out. */
struct blk_req {
	uint32_t type;
	uint64_t offset;    /* byte offset in the file */
	uint32_t data_len;  /* bytes moved (IN/OUT) or offered (GET_ID) */
	uint32_t status_at; /* offset of the status byte in the chain's in part */
	uint8_t status;     /* set by parsing when the request is refused */
};

/* Parses and checks a chain. Returns false for a chain that cannot carry a
 * request at all (no status byte): a broken driver. */
static bool blk_req__parse(struct blk_dev *b, const struct vq_chain *c, const struct guest_mem *gm,
			   struct blk_req *r)
{
	uint8_t hdr[16];
	memset(r, 0, sizeof(*r));
	if (c->out_len < sizeof(hdr) || c->in_len < 1)
		return false;
	if (vq_chain__read(c, gm, 0, hdr, sizeof(hdr)) != sizeof(hdr))
		return false;
	uint64_t sector;
	memcpy(&r->type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	r->status_at = c->in_len - 1;
	r->status = BLK_S_OK;
	switch (r->type) {
	case BLK_T_IN:
	case BLK_T_OUT:
		r->data_len = r->type == BLK_T_IN ? c->in_len - 1 : c->out_len - (uint32_t)sizeof(hdr);
		if (r->data_len % SECTOR || sector > b->capacity / SECTOR ||
		    r->data_len > b->capacity - sector * SECTOR)
			r->status = BLK_S_IOERR;
		else if (r->type == BLK_T_OUT && b->ro)
			r->status = BLK_S_IOERR;
		r->offset = sector * SECTOR;
		break;
	case BLK_T_FLUSH:
		break;
	case BLK_T_GET_ID:
		r->data_len = c->in_len - 1 < BLK_ID_BYTES ? c->in_len - 1 : BLK_ID_BYTES;
		break;
	default:
		r->status = BLK_S_UNSUPP;
		break;
	}
	return true;
}

/* Moves data between the file and the chain; returns bytes written into the
 * chain's in part before the status byte. */
static uint32_t blk_req__execute(struct blk_dev *b, const struct vq_chain *c,
				 const struct guest_mem *gm, struct blk_req *r)
{
	struct iovec iov[VQ_MAX_SEGS];
	if (r->status != BLK_S_OK)
		return 0;
	switch (r->type) {
	case BLK_T_IN:
	case BLK_T_OUT: {
		bool in = r->type == BLK_T_IN;
		int n = vq_chain__iov(c, gm, in, in ? 0 : 16, r->data_len, iov, VQ_MAX_SEGS);
		if (n < 0) {
			r->status = BLK_S_IOERR;
			return 0;
		}
		uint64_t off = r->offset;
		uint32_t left = r->data_len;
		struct iovec *v = iov;
		/* preadv/pwritev may stop short; carry on where they stopped. */
		while (left) {
			ssize_t done = in ? preadv(b->fd, v, n, (off_t)off) : pwritev(b->fd, v, n, (off_t)off);
			if (done <= 0) {
				r->status = BLK_S_IOERR;
				return 0;
			}
			off += (uint64_t)done;
			left -= (uint32_t)done;
			while (n && (size_t)done >= v->iov_len) {
				done -= (ssize_t)v->iov_len;
				v++;
				n--;
			}
			if (n) {
				v->iov_base = (uint8_t *)v->iov_base + done;
				v->iov_len -= (size_t)done;
			}
		}
		return in ? r->data_len : 0;
	}
	case BLK_T_FLUSH:
		if (fdatasync(b->fd))
			r->status = BLK_S_IOERR;
		return 0;
	case BLK_T_GET_ID:
		if (vq_chain__write(c, gm, 0, b->id, r->data_len) != (long)r->data_len)
			r->status = BLK_S_IOERR;
		return r->data_len;
	}
	return 0;
}

static void blk_notify(void *dev, unsigned int q)
{
	struct blk_dev *b = dev;
	const struct guest_mem *gm = virtio_mmio__gm(&b->t);
	struct virtq *vq = &b->t.vq[q];
	struct vq_chain *c = malloc(sizeof(*c));
	bool pushed = false;
	unsigned int budget = 256;
	if (!c)
		return;
	for (; budget; budget--) {
		struct blk_req r;
		int got = virtq__pop(vq, gm, c);
		if (got < 0) {
			virtio_mmio__fail(&b->t, "request queue: %s", virtq__error_text(vq->error));
			break;
		}
		if (!got)
			break;
		if (!blk_req__parse(b, c, gm, &r)) {
			virtio_mmio__fail(&b->t, "request without header or status byte");
			break;
		}
		uint32_t written = blk_req__execute(b, c, gm, &r);
		vq_chain__write(c, gm, r.status_at, &r.status, 1);
		virtq__push(vq, gm, c->head, written + 1);
		pushed = true;
	}
	free(c);
	if (pushed)
		virtio_mmio__notify_queue(&b->t, q);
	/* Out of budget with chains left: a driver using EVENT_IDX will not
	 * kick for them (we never asked, avail_event is behind), so come back
	 * after the loop's other fds have had their turn. */
	if (!budget)
		virtio_mmio__rekick(&b->t, q);
}

static void blk_read_config(void *dev, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct blk_dev *b = dev;
	uint8_t cfg[24] = { 0 };
	uint64_t sectors = b->capacity / SECTOR;
	uint32_t seg_max = BLK_SEG_MAX, blk_size = SECTOR;
	memcpy(cfg, &sectors, 8);         /* capacity */
	memcpy(cfg + 12, &seg_max, 4);    /* seg_max */
	memcpy(cfg + 20, &blk_size, 4);   /* blk_size */
	memcpy(buf, cfg + off, len);
}

static int blk_activate(void *dev)
{
	(void)dev;
	return 0;
}

static void blk_reset(void *dev)
{
	(void)dev; /* requests complete synchronously: nothing in flight */
}

static const struct virtio_dev_ops blk_ops_rw = {
	.device_id = VIRTIO_ID_BLOCK, .nr_queues = 1, .queue_max = 256,
	.features = (1ull << BLK_F_SEG_MAX) | (1ull << BLK_F_BLK_SIZE) | (1ull << BLK_F_FLUSH),
	.config_size = 24, .read_config = blk_read_config, .activate = blk_activate,
	.reset = blk_reset, .notify = blk_notify,
};

static const struct virtio_dev_ops blk_ops_ro = {
	.device_id = VIRTIO_ID_BLOCK, .nr_queues = 1, .queue_max = 256,
	.features = (1ull << BLK_F_SEG_MAX) | (1ull << BLK_F_BLK_SIZE) | (1ull << BLK_F_FLUSH) |
		    (1ull << BLK_F_RO),
	.config_size = 24, .read_config = blk_read_config, .activate = blk_activate,
	.reset = blk_reset, .notify = blk_notify,
};

static int blk_init_one(struct vm *vm, const char *spec, void **state)
{
	char path[4096], ro[8] = "0";
	struct stat st;
	int r;
	if (virtio_spec__get(spec, "path", path, sizeof(path))) {
		vm__device_error(vm, "blk", "spec '%s' needs path=<file>", spec);
		return -EINVAL;
	}
	virtio_spec__get(spec, "ro", ro, sizeof(ro));
	struct blk_dev *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ro = !strcmp(ro, "1") || !strcmp(ro, "true");
	if (virtio_spec__get(spec, "id", b->id, sizeof(b->id)) == -ENAMETOOLONG) {
		r = -ENAMETOOLONG;
		goto err_free;
	}
	b->fd = open(path, (b->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		r = -errno;
		vm__device_error(vm, "blk", "cannot open %s: %s", path, strerror(errno));
		goto err_free;
	}
	if (fstat(b->fd, &st)) {
		r = -errno;
		goto err_close;
	}
	b->capacity = (uint64_t)st.st_size / SECTOR * SECTOR;
	r = virtio_mmio__init(&b->t, vm, "blk", b->ro ? &blk_ops_ro : &blk_ops_rw, b);
	if (r)
		goto err_close;
	*state = b;
	return 0;
err_close:
	close(b->fd);
err_free:
	free(b);
	return r;
}

static void blk_exit_one(struct vm *vm, void *state)
{
	struct blk_dev *b = state;
	(void)vm;
	virtio_mmio__exit(&b->t);
	close(b->fd);
	free(b);
}

const struct device_ops blk_device_ops = {
	.type = "blk",
	.init_one = blk_init_one,
	.exit_one = blk_exit_one,
};
