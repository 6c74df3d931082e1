/* The event pump: one process-wide queue that every VM posts to, so the
 * caller drains all VMs with one non-blocking call (joey_event_next) and may
 * sleep in one place (joey_event_wait) instead of parking a thread per VM. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "vm.h"

struct event_node {
	struct joey_event ev;
	struct event_node *next;
};

static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t event_cond;
static pthread_once_t event_once = PTHREAD_ONCE_INIT;
static struct event_node *event_head, *event_tail;
/* Set by joey_event_interrupt, consumed by the next wait: an interrupt that
 * lands before the waiter blocks is not lost. */
static bool event_interrupted;

/* Waits use CLOCK_MONOTONIC so a clock change cannot stretch a timeout. */
static void event__init_cond(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&event_cond, &attr);
	pthread_condattr_destroy(&attr);
}

void event__post(struct vm *vm, uint32_t type, int32_t code, uint64_t arg0, uint64_t arg1)
{
	struct event_node *node = malloc(sizeof(*node));

	/* Out of memory: the event is lost, but the VM state still tells. */
	if (!node)
		return;
	node->ev = (struct joey_event){ .vm_id = vm->id, .type = type, .code = code,
					.arg0 = arg0, .arg1 = arg1 };
	node->next = NULL;
	pthread_once(&event_once, event__init_cond);
	pthread_mutex_lock(&event_lock);
	if (event_tail)
		event_tail->next = node;
	else
		event_head = node;
	event_tail = node;
	pthread_cond_broadcast(&event_cond);
	pthread_mutex_unlock(&event_lock);
}

void event__drop_vm(uint64_t vm_id)
{
	struct event_node **pp, *node, *prev = NULL;

	pthread_mutex_lock(&event_lock);
	for (pp = &event_head; (node = *pp);) {
		if (node->ev.vm_id == vm_id) {
			*pp = node->next;
			free(node);
			continue;
		}
		prev = node;
		pp = &node->next;
	}
	event_tail = prev;
	pthread_mutex_unlock(&event_lock);
}

int joey_event_next(struct joey_event *ev)
{
	struct event_node *node;

	pthread_mutex_lock(&event_lock);
	node = event_head;
	if (node) {
		event_head = node->next;
		if (!event_head)
			event_tail = NULL;
	}
	pthread_mutex_unlock(&event_lock);
	if (!node)
		return 0;
	*ev = node->ev;
	free(node);
	return 1;
}

int joey_event_wait(int32_t timeout_ms)
{
	struct timespec deadline;
	int ret = 0;

	pthread_once(&event_once, event__init_cond);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms >= 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&event_lock);
	while (!event_head && !event_interrupted) {
		int rc = timeout_ms < 0 ? pthread_cond_wait(&event_cond, &event_lock)
					: pthread_cond_timedwait(&event_cond, &event_lock, &deadline);
		if (rc == ETIMEDOUT)
			break;
	}
	ret = event_head != NULL;
	event_interrupted = false;
	pthread_mutex_unlock(&event_lock);
	return ret;
}

void joey_event_interrupt(void)
{
	pthread_once(&event_once, event__init_cond);
	pthread_mutex_lock(&event_lock);
	event_interrupted = true;
	pthread_cond_broadcast(&event_cond);
	pthread_mutex_unlock(&event_lock);
}
