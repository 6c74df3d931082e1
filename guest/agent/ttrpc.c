/* The agent's ttrpc server (see ttrpc.h). */
#include "ttrpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

#include "google/rpc/status.pb-c.h"
#include "loop.h"
#include "ttrpc/ttrpc.pb-c.h"
#include "util.h"

#define HDR_LEN 10
#define TYPE_REQUEST 1
#define TYPE_RESPONSE 2
/* A peer that does not read its answers may not make the agent buffer
 * without limit. */
#define OUT_LIMIT (64u << 20)

struct conn {
	struct watch w;
	struct conn *prev, *next; /* open connections, for shutdown */
	int refs;   /* the socket itself + held calls */
	int closed; /* socket gone; answers are dropped */
	uint8_t *in;
	size_t in_len, in_cap;
	size_t discard;        /* bytes of an oversized frame still to skip */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
};

static struct {
	struct watch w;
	struct conn *conns;
	const struct rpc_method *methods;
	size_t n;
	void (*close_hooks[4])(void);
} server;

int rpc_fail(struct rpc_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static void conn__put(struct conn *c)
{
	if (--c->refs)
		return;
	free(c->in);
	free(c->out);
	free(c);
}

static void conn__close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		server.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	loop__del(&c->w);
	close(c->w.fd);
	c->w.fd = -1;
	/* Hooks see c closed and release its held calls; the socket's own
	 * reference goes last, so c outlives them. */
	for (size_t i = 0; i < ARRAY_SIZE(server.close_hooks) && server.close_hooks[i]; i++)
		server.close_hooks[i]();
	conn__put(c);
}

static void conn__flush(struct conn *c)
{
	while (c->out_len > c->out_off) {
		ssize_t n = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			conn__close(c);
			return;
		}
		c->out_off += n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	loop__mod(&c->w, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

static void conn__send_frame(struct conn *c, uint32_t id, const uint8_t *data, size_t len)
{
	uint32_t be_len = htonl(len), be_id = htonl(id);
	size_t need = c->out_len + HDR_LEN + len;

	if (c->closed)
		return;
	if (need > OUT_LIMIT) {
		agent_log("ttrpc: peer does not read its answers; closing the connection");
		conn__close(c);
		return;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 8192;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			conn__close(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, &be_len, 4);
	memcpy(c->out + c->out_len + 4, &be_id, 4);
	c->out[c->out_len + 8] = TYPE_RESPONSE;
	c->out[c->out_len + 9] = 0;
	if (len)
		memcpy(c->out + c->out_len + HDR_LEN, data, len);
	c->out_len = need;
	conn__flush(c);
}

/* Encodes a Response (status only when not OK) and queues it. */
static void conn__respond(struct conn *c, uint32_t id, int code, const char *msg,
			  const ProtobufCMessage *resp)
{
	Ttrpc__Response r = TTRPC__RESPONSE__INIT;
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	uint8_t *payload = NULL, *frame;
	size_t len;

	if (code != RPC_OK) {
		st.code = code;
		st.message = (char *)msg;
		r.status = &st;
	} else if (resp) {
		r.payload.len = protobuf_c_message_get_packed_size(resp);
		payload = malloc(r.payload.len ? r.payload.len : 1);
		if (!payload) {
			conn__respond(c, id, RPC_RESOURCE_EXHAUSTED, "agent: out of memory", NULL);
			return;
		}
		protobuf_c_message_pack(resp, payload);
		r.payload.data = payload;
	}
	len = ttrpc__response__get_packed_size(&r);
	if (len > TTRPC_MAX_DATA) {
		free(payload);
		conn__respond(c, id, RPC_RESOURCE_EXHAUSTED, "agent: response exceeds 4 MiB", NULL);
		return;
	}
	frame = malloc(len ? len : 1);
	if (frame) {
		ttrpc__response__pack(&r, frame);
		conn__send_frame(c, id, frame, len);
	} else {
		conn__close(c);
	}
	free(frame);
	free(payload);
}

static const struct rpc_method *find_method(const char *service, const char *method)
{
	for (size_t i = 0; i < server.n; i++)
		if (!strcmp(server.methods[i].service, service) && !strcmp(server.methods[i].method, method))
			return &server.methods[i];
	return NULL;
}

static void conn__dispatch(struct conn *c, uint32_t id, const uint8_t *data, size_t len)
{
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, data);
	const struct rpc_method *m;
	ProtobufCMessage *msg;
	struct rpc_reply r = { 0 };
	struct call call = { c, id };
	int rc;

	if (!req) {
		conn__respond(c, id, RPC_INVALID_ARGUMENT, "ttrpc: malformed request envelope", NULL);
		return;
	}
	m = find_method(req->service, req->method);
	if (!m) {
		snprintf(r.msg, sizeof(r.msg), "%s/%s is not implemented", req->service, req->method);
		conn__respond(c, id, RPC_UNIMPLEMENTED, r.msg, NULL);
		ttrpc__request__free_unpacked(req, NULL);
		return;
	}
	msg = protobuf_c_message_unpack(m->request, NULL, req->payload.len, req->payload.data);
	if (!msg) {
		snprintf(r.msg, sizeof(r.msg), "%s/%s: malformed %s", req->service, req->method,
			 m->request->name);
		conn__respond(c, id, RPC_INVALID_ARGUMENT, r.msg, NULL);
		ttrpc__request__free_unpacked(req, NULL);
		return;
	}
	/* The call references the connection until it is answered, so a
	 * handler may move it elsewhere and answer later. */
	c->refs++;
	rc = m->fn(msg, &call, &r);
	if (rc < 0)
		ttrpc__answer_error(&call, r.code ? r.code : RPC_UNKNOWN, "%s", r.msg);
	else
		ttrpc__answer(&call, NULL); /* no-op when answered or held */
	protobuf_c_message_free_unpacked(msg, NULL);
	ttrpc__request__free_unpacked(req, NULL);
}

/* Consumes every complete frame in the input buffer. */
static void conn__parse(struct conn *c)
{
	size_t off = 0;

	while (!c->closed) {
		size_t avail = c->in_len - off;
		uint32_t len, id;
		uint8_t type;

		if (c->discard) {
			size_t n = avail < c->discard ? avail : c->discard;
			off += n;
			c->discard -= n;
			if (c->discard)
				break;
			continue;
		}
		if (avail < HDR_LEN)
			break;
		memcpy(&len, c->in + off, 4);
		memcpy(&id, c->in + off + 4, 4);
		len = ntohl(len);
		id = ntohl(id);
		type = c->in[off + 8];
		if (len > TTRPC_MAX_DATA) {
			/* Skip the body, answer the stream, keep serving. */
			off += HDR_LEN;
			c->discard = len;
			if (type == TYPE_REQUEST)
				conn__respond(c, id, RPC_RESOURCE_EXHAUSTED,
					      "ttrpc: message exceeds the 4 MiB limit", NULL);
			continue;
		}
		if (avail < HDR_LEN + len)
			break;
		if (type == TYPE_REQUEST) {
			if (id % 2 == 0)
				conn__respond(c, id, RPC_INVALID_ARGUMENT,
					      "ttrpc: client stream ids must be odd", NULL);
			else
				conn__dispatch(c, id, c->in + off + HDR_LEN, len);
		}
		/* Other frame types (streams) are not used by the agent API. */
		off += HDR_LEN + len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void conn__on_io(struct watch *w, uint32_t events)
{
	struct conn *c = container_of(w, struct conn, w);

	c->refs++;
	if (events & EPOLLOUT)
		conn__flush(c);
	if (!c->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		size_t want = HDR_LEN + 65536;
		ssize_t n;

		if (c->in_cap < c->in_len + want) {
			uint8_t *p = realloc(c->in, c->in_len + want);
			if (!p) {
				conn__close(c);
				goto out;
			}
			c->in = p;
			c->in_cap = c->in_len + want;
		}
		n = read(w->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				conn__close(c);
			goto out;
		}
		c->in_len += n;
		conn__parse(c);
	}
out:
	conn__put(c);
}

static void server__on_accept(struct watch *w, uint32_t events)
{
	(void)events;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(w->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		/* vsock is not confined by network namespaces: a container could
		 * reach the agent through vsock loopback (CID 1 or the guest's own
		 * CID). Only the host (CID 2) may talk to it. */
		if (peer.ss_family == AF_VSOCK && ((struct sockaddr_vm *)&peer)->svm_cid != VMADDR_CID_HOST) {
			agent_log("refused a vsock connection from CID %u", ((struct sockaddr_vm *)&peer)->svm_cid);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || loop__add(&c->w, fd, EPOLLIN, conn__on_io) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->refs = 1;
		c->next = server.conns;
		if (c->next)
			c->next->prev = c;
		server.conns = c;
	}
}

void ttrpc__shutdown(void)
{
	while (server.conns)
		conn__close(server.conns);
	if (server.w.fn) {
		loop__del(&server.w);
		close(server.w.fd);
	}
}

int ttrpc__serve(int listen_fd, const struct rpc_method *methods, size_t n)
{
	server.methods = methods;
	server.n = n;
	return loop__add(&server.w, listen_fd, EPOLLIN, server__on_accept);
}

int ttrpc__on_close(void (*fn)(void))
{
	for (size_t i = 0; i < ARRAY_SIZE(server.close_hooks); i++) {
		if (server.close_hooks[i] == fn)
			return 0;
		if (!server.close_hooks[i]) {
			server.close_hooks[i] = fn;
			return 0;
		}
	}
	return -ENOSPC;
}

void ttrpc__hold(struct call *call, struct call *held)
{
	*held = *call;
	call->conn = NULL;
}

bool ttrpc__call_alive(const struct call *held)
{
	return held->conn && !held->conn->closed;
}

void ttrpc__drop(struct call *held)
{
	if (held->conn)
		conn__put(held->conn);
	held->conn = NULL;
}

void ttrpc__answer(struct call *held, const ProtobufCMessage *resp)
{
	if (!held->conn)
		return;
	conn__respond(held->conn, held->stream_id, RPC_OK, NULL, resp);
	conn__put(held->conn);
	held->conn = NULL;
}

void ttrpc__answer_error(struct call *held, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!held->conn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn__respond(held->conn, held->stream_id, code, msg, NULL);
	conn__put(held->conn);
	held->conn = NULL;
}
