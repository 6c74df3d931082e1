/* The agent's ttrpc server (shared/PROTOCOLS.md §1): frames over a stream
 * socket, ttrpc.Request/Response envelopes, unary calls dispatched to a
 * method table. A handler either answers at once or holds the call and
 * answers later (WaitProcess, Read*), so one slow call never blocks others. */
#ifndef JOEY_AGENT_TTRPC_H
#define JOEY_AGENT_TTRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#define TTRPC_MAX_DATA (4u << 20)

/* google.rpc codes the agent answers with. */
enum rpc_code {
	RPC_OK = 0,
	RPC_CANCELED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
};

struct conn;

/* A call in progress: the connection (referenced) and its stream id. */
struct call {
	struct conn *conn;
	uint32_t stream_id;
};

/* Where a handler describes its error when it returns -1. */
struct rpc_reply {
	int code;
	char msg[512];
};

struct rpc_method {
	const char *service;
	const char *method;
	const ProtobufCMessageDescriptor *request;
	/* Returns -1 with r filled for an error, or 0 having answered the call
	 * (ttrpc__answer), moved it away (ttrpc__hold), or neither, which
	 * answers google.protobuf.Empty. */
	int (*fn)(const ProtobufCMessage *req, struct call *call, struct rpc_reply *r);
};

/* Sets an error in r and returns -1, for `return rpc_fail(r, ...)`. */
int rpc_fail(struct rpc_reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Serves ttrpc on a listening socket with the given method table. */
int ttrpc__serve(int listen_fd, const struct rpc_method *methods, size_t n);

/* Closes the listener and every connection (held calls are dropped as
 * their owners release them). */
void ttrpc__shutdown(void);

/* Registers fn to run after any connection closes, so that a module
 * holding calls can release those whose client has gone at once rather
 * than at its next answer (at most 4 hooks; -ENOSPC beyond). */
int ttrpc__on_close(void (*fn)(void));

/* Moves a call into *held for a later answer; the held call keeps the
 * connection referenced (answers on a connection that has gone are dropped). */
void ttrpc__hold(struct call *call, struct call *held);
/* Whether the client of a held call is still connected. */
bool ttrpc__call_alive(const struct call *held);
/* Releases a held call without answering (its client has gone). */
void ttrpc__drop(struct call *held);
/* Answers a held call and releases it. */
void ttrpc__answer(struct call *held, const ProtobufCMessage *resp);
void ttrpc__answer_error(struct call *held, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
