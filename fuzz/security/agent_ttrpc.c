/* libFuzzer target: the guest agent's ttrpc server (guest/agent/ttrpc.c)
 * through its real connection code. The agent's own loop, accept path,
 * frame reader (conn__parse), request dispatch, hold/answer/drop and output
 * queue run unchanged; only the method table is this file's: every
 * AgentService and Health method with its real generated request type, but
 * handlers that answer from a script instead of touching the system.
 *
 * An input is [chunking][behaviour] then a byte stream for the socket:
 * - chunking picks how the first MAX_CUTS writes cut the stream, each
 *   followed by loop turns until the agent has read it (partial headers and
 *   bodies);
 * - behaviour picks, call by call, what a handler does: answer Empty, echo
 *   the decoded request as its response (a repack), fail with a status, or
 *   hold the call (up to MAX_HELD streams at once) for a later answer.
 * Half of the held calls are answered while the client is connected; of the
 * others, a close hook (ttrpc__on_close, as the agent's OOM module uses it)
 * releases every other one as the connection closes, and the rest are
 * answered (dropped) or released after the close.
 *
 * Oracle besides the sanitizers: every response frame must be a well-formed
 * ttrpc.Response of type 2 within 4 MiB, and the agent must answer each
 * request exactly once: an independent count of the input's complete
 * request frames (oversized ones included) minus the calls answered only
 * after the close. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "loop.h"
#include "ttrpc.h"
#include "ttrpc/ttrpc.pb-c.h"

#define HDR_LEN 10
#define MAX_HELD 64
#define MAX_TURNS 10000
#define MAX_CUTS 64

static int listen_fd = -1;
static struct sockaddr_un listen_addr;
static socklen_t listen_addr_len;
static struct rpc_method *methods;
static size_t n_methods;

static uint8_t behaviour;
static unsigned int call_no;
static struct call held[MAX_HELD];
static size_t n_held;

static int scripted(const ProtobufCMessage *req, struct call *call, struct rpc_reply *r)
{
	unsigned int b = (behaviour >> ((call_no++ % 4) * 2)) & 3;

	switch (b) {
	case 0:
		return 0; /* the server answers google.protobuf.Empty */
	case 1:
		ttrpc__answer(call, req);
		return 0;
	case 2:
		return rpc_fail(r, RPC_NOT_FOUND, "fuzz: %s refused", req->descriptor->name);
	default:
		if (n_held == MAX_HELD)
			return rpc_fail(r, RPC_RESOURCE_EXHAUSTED, "fuzz: too many held calls");
		ttrpc__hold(call, &held[n_held++]);
		return 0;
	}
}

/* Runs inside the server's connection close: releases the odd-numbered
 * held calls whose client has gone. */
static void on_close(void)
{
	for (size_t i = 1; i < n_held; i += 2)
		if (held[i].conn && !ttrpc__call_alive(&held[i]))
			ttrpc__drop(&held[i]);
}

static const ProtobufCServiceDescriptor *const services[] = {
	&grpc__agent_service__descriptor,
	&grpc__health__descriptor,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i = 0;

	(void)argc;
	(void)argv;
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		n_methods += services[s]->n_methods;
	methods = calloc(n_methods, sizeof(*methods));
	if (!methods)
		abort();
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		for (unsigned int m = 0; m < services[s]->n_methods; m++, i++) {
			methods[i].service = services[s]->name;
			methods[i].method = services[s]->methods[m].name;
			methods[i].request = services[s]->methods[m].input;
			methods[i].fn = scripted;
		}
	/* An abstract, kernel-chosen name: nothing on disk, no clash between
	 * parallel fuzzing jobs. */
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	listen_addr.sun_family = AF_UNIX;
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof(sa_family_t)) ||
	    listen(listen_fd, 16))
		abort();
	listen_addr_len = sizeof(listen_addr);
	if (getsockname(listen_fd, (struct sockaddr *)&listen_addr, &listen_addr_len) ||
	    loop__init() || ttrpc__serve(listen_fd, methods, n_methods) || ttrpc__on_close(on_close))
		abort();
	return 0;
}

/* How many answers the input's frames call for, counted apart from the
 * agent's reader: a complete request frame, or the header of an oversized
 * one (answered at once, its body skipped). */
static size_t count_requests(const uint8_t *p, size_t n)
{
	size_t off = 0, count = 0;

	while (n - off >= HDR_LEN) {
		uint32_t len = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
			       (uint32_t)p[off + 2] << 8 | p[off + 3];
		bool request = p[off + 8] == 1;

		if (len > TTRPC_MAX_DATA) {
			count += request;
			return count; /* the body outlasts any input */
		}
		if (n - off - HDR_LEN < len)
			break;
		count += request;
		off += HDR_LEN + len;
	}
	return count;
}

struct reader {
	uint8_t *buf;
	size_t len, cap;
	size_t frames;
	bool eof;
};

/* Reads what the agent sent and checks each complete frame. */
static void reader__pump(struct reader *rd, int fd)
{
	for (;;) {
		ssize_t n;
		size_t off = 0;

		if (rd->cap - rd->len < 65536) {
			rd->cap = rd->cap ? rd->cap * 2 : 1 << 17;
			rd->buf = realloc(rd->buf, rd->cap);
			if (!rd->buf)
				abort();
		}
		n = read(fd, rd->buf + rd->len, rd->cap - rd->len);

		if (n == 0)
			rd->eof = true;
		if (n <= 0)
			break;
		rd->len += (size_t)n;
		while (rd->len - off >= HDR_LEN) {
			const uint8_t *h = rd->buf + off;
			uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
				       (uint32_t)h[2] << 8 | h[3];
			Ttrpc__Response *resp;

			if (len > TTRPC_MAX_DATA || h[8] != 2 || h[9] != 0)
				abort(); /* the agent wrote a bad frame header */
			if (rd->len - off - HDR_LEN < len)
				break;
			resp = ttrpc__response__unpack(NULL, len, h + HDR_LEN);
			if (!resp)
				abort(); /* the agent wrote a body it cannot have meant */
			ttrpc__response__free_unpacked(resp, NULL);
			rd->frames++;
			off += HDR_LEN + len;
		}
		memmove(rd->buf, rd->buf + off, rd->len - off);
		rd->len -= off;
	}
}

static int unread_by_agent(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCOUTQ, &n) ? -1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t cuts[8] = { 1, 2, 9, 10, 11, 100, 4096, 65536 };
	struct reader rd = { 0 };
	size_t expected, off = 0, chunk = 0, early;
	uint8_t chunking;
	int fd, turns;

	if (size < 2)
		return 0;
	chunking = data[0];
	behaviour = data[1];
	data += 2;
	size -= 2;
	call_no = 0;
	n_held = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&listen_addr, listen_addr_len))
		abort();
	while (off < size) {
		/* Past MAX_CUTS writes the rest goes in big ones: byte-sized writes
		 * of a long input would cost turns without new paths. */
		size_t want = chunk < MAX_CUTS ? cuts[(chunking + chunk * (1u + (chunking >> 3))) & 7]
					       : 65536;
		ssize_t w;

		chunk++;
		if (want > size - off)
			want = size - off;
		w = write(fd, data + off, want);
		if (w < 0 && errno != EAGAIN)
			abort();
		if (w > 0)
			off += (size_t)w;
		/* Turns until the agent has taken every byte written so far. */
		for (turns = 0; turns < MAX_TURNS; turns++) {
			loop__run_once(0);
			reader__pump(&rd, fd);
			if (unread_by_agent(fd) == 0 || rd.eof)
				break;
		}
		if (rd.eof)
			abort(); /* the agent hung up on a connected client */
	}
	/* Half the held calls are answered now, in reverse order. */
	early = n_held / 2;
	for (size_t i = 0; i < early; i++) {
		struct call *c = &held[n_held - 1 - i];

		if (!ttrpc__call_alive(c))
			abort();
		if (i % 2)
			ttrpc__answer_error(c, RPC_CANCELED, "fuzz: late error %zu", i);
		else
			ttrpc__answer(c, NULL);
	}
	expected = count_requests(data, size) - (n_held - early);
	for (turns = 0; turns < MAX_TURNS && rd.frames < expected; turns++) {
		loop__run_once(0);
		reader__pump(&rd, fd);
	}
	if (rd.frames != expected)
		abort(); /* a request went unanswered, or was answered twice */
	/* The client goes; the agent sees EOF and closes its side. */
	shutdown(fd, SHUT_WR);
	for (turns = 0; turns < MAX_TURNS && !rd.eof; turns++) {
		loop__run_once(0);
		reader__pump(&rd, fd);
	}
	if (!rd.eof || rd.frames != expected)
		abort(); /* the agent never closed, or answered something twice */
	close(fd);
	free(rd.buf);
	/* The rest: the client is gone, answers are dropped or never made. */
	for (size_t i = 0; i < n_held - early; i++) {
		struct call *c = &held[i];

		if (ttrpc__call_alive(c) || (i % 2 && c->conn))
			abort(); /* alive after the close, or missed by the close hook */
		if (i % 2)
			ttrpc__answer(c, NULL);
		else
			ttrpc__drop(c);
	}
	return 0;
}
