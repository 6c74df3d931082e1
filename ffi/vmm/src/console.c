/* The console sink: bytes the guest writes to its UART go to a ring buffer
 * the caller drains with joey_vm_console_read (oldest bytes are dropped when
 * it is full) and, optionally, to a caller-owned fd. One CONSOLE event is
 * outstanding at a time, re-armed when the reader drains the ring. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "vm.h"

#define CONSOLE_RING_DEFAULT (64u << 10)
#define CONSOLE_RING_MAX (16u << 20)

int console__init(struct vm *vm, uint32_t ring, int sink_fd)
{
	struct console *c = &vm->console;

	if (!ring)
		ring = CONSOLE_RING_DEFAULT;
	if (ring > CONSOLE_RING_MAX) {
		vm__set_error(vm, "console ring of %u bytes is larger than %u", ring,
			      CONSOLE_RING_MAX);
		return -EINVAL;
	}
	/* One byte stays free to tell full from empty. */
	c->size = ring + 1;
	c->ring = malloc(c->size);
	if (!c->ring) {
		vm__set_error(vm, "out of memory for the console ring");
		return -ENOMEM;
	}
	c->head = c->tail = 0;
	c->sink_fd = sink_fd;
	return 0;
}

void console__exit(struct vm *vm)
{
	free(vm->console.ring);
	vm->console.ring = NULL;
}

void console__put(struct vm *vm, const uint8_t *buf, size_t len)
{
	struct console *c = &vm->console;
	bool notify = false;

	if (c->sink_fd >= 0) {
		/* Best effort: a slow or closed sink must not stall the vCPU. */
		if (write(c->sink_fd, buf, len) < 0) {
		}
	}
	pthread_mutex_lock(&vm->console_lock);
	for (size_t i = 0; i < len; i++) {
		c->ring[c->head] = buf[i];
		c->head = (c->head + 1) % c->size;
		if (c->head == c->tail)
			c->tail = (c->tail + 1) % c->size;
	}
	if (len && !c->notified) {
		c->notified = true;
		notify = true;
	}
	pthread_mutex_unlock(&vm->console_lock);
	if (notify)
		event__post(vm, JOEY_EVENT_CONSOLE, 0, 0, 0);
}

int joey_vm_console_read(joey_vm *vm, uint8_t *buf, uint32_t len)
{
	struct console *c;
	uint32_t n = 0;

	if (!vm || (!buf && len))
		return -EINVAL;
	c = &vm->console;
	pthread_mutex_lock(&vm->console_lock);
	while (n < len && c->tail != c->head) {
		buf[n++] = c->ring[c->tail];
		c->tail = (c->tail + 1) % c->size;
	}
	if (c->tail == c->head)
		c->notified = false;
	pthread_mutex_unlock(&vm->console_lock);
	return (int)n;
}
