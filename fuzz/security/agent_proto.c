/* libFuzzer target: the guest agent's request decoding with its own
 * generated protobuf-c code (build/guest/agent/gen) — the ttrpc envelope,
 * then the payload as the request type of the named method, as the agent's
 * dispatcher does, plus every AgentService/Health request type directly.
 *
 * The agent trusts its host, but a hostile container inside the guest may
 * reach the agent's socket, and a bug here runs as PID 1 of the guest. Each
 * accepted message must survive a repack/unpack round trip with the same
 * packed size (protobuf-c canonical output), and free cleanly. The agent's
 * frame reader and dispatcher (guest/agent/ttrpc.c) are fuzzed through the
 * real server by agent_ttrpc.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "ttrpc/ttrpc.pb-c.h"

static const ProtobufCServiceDescriptor *const services[] = {
	&grpc__agent_service__descriptor,
	&grpc__health__descriptor,
};

static const ProtobufCMessageDescriptor *method_input(const char *service, const char *method)
{
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		const ProtobufCServiceDescriptor *d = services[s];

		if (!service || strcmp(service, d->name))
			continue;
		for (unsigned int m = 0; m < d->n_methods; m++)
			if (method && !strcmp(method, d->methods[m].name))
				return d->methods[m].input;
	}
	return NULL;
}

/* Unpacks, repacks and unpacks again; aborts on an inconsistency. */
static void round_trip(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
	ProtobufCMessage *again;
	uint8_t *buf;
	size_t n, n2;

	if (!m)
		return;
	n = protobuf_c_message_get_packed_size(m);
	buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	if (protobuf_c_message_pack(m, buf) != n)
		abort();
	again = protobuf_c_message_unpack(desc, NULL, n, buf);
	if (!again) {
		/* Found by this target (corpus: regress_field0_nonminimal_tag):
		 * protobuf-c accepts a tag of field number 0 written as a
		 * non-minimal varint (0x82 0x00) and keeps it as an unknown field,
		 * whose canonical re-encoding (0x02) it then rejects. The agent
		 * ignores unknown fields and never re-encodes a request, so this is
		 * not an agent bug; only memory errors and size drift fail here. */
		protobuf_c_message_free_unpacked(m, NULL);
		free(buf);
		return;
	}
	n2 = protobuf_c_message_get_packed_size(again);
	if (n2 != n)
		abort();
	protobuf_c_message_free_unpacked(again, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ttrpc__Request *req;
	const ProtobufCMessageDescriptor *in;
	unsigned int total = 0, pick;

	if (size < 1)
		return 0;
	/* Byte 0 = 0: a whole ttrpc Request, dispatched by its names. */
	if (data[0] == 0) {
		req = ttrpc__request__unpack(NULL, size - 1, data + 1);
		if (!req)
			return 0;
		in = method_input(req->service, req->method);
		if (in)
			round_trip(in, req->payload.data, req->payload.len);
		ttrpc__request__free_unpacked(req, NULL);
		return 0;
	}
	/* Else byte 0 picks a request type directly. */
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		total += services[s]->n_methods;
	pick = (unsigned int)(data[0] - 1) % (total + 1);
	if (pick == total) {
		round_trip(&ttrpc__response__descriptor, data + 1, size - 1);
		return 0;
	}
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		if (pick < services[s]->n_methods) {
			round_trip(services[s]->methods[pick].input, data + 1, size - 1);
			return 0;
		}
		pick -= services[s]->n_methods;
	}
	return 0;
}
