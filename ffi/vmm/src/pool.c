/* The VM shell pool: a background thread keeps `target` VMs of one RAM size
 * built up to their KVM VM (irqchip, PIT) and memory slots, the part of
 * creation that costs milliseconds of kernel work, so joey_vm_create only
 * adds vCPUs, devices and the kernel. Shells are taken once, never returned. */
#include <errno.h>

#include "vm.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vm *head;
	uint32_t ready, target;
	uint64_t mem_bytes;
	pthread_t thread;
	bool running, stop;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *pool__thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "joey-pool");
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.stop && pool.ready >= pool.target)
			pthread_cond_wait(&pool.cond, &pool.lock);
		if (pool.stop)
			break;
		uint64_t mem = pool.mem_bytes;
		pthread_mutex_unlock(&pool.lock);

		struct vm *vm = vm__alloc();
		int rc = vm ? vm__setup_shell(vm, mem, false) : -ENOMEM;

		pthread_mutex_lock(&pool.lock);
		if (rc) {
			/* The host cannot build this shell (e.g. no KVM): stop trying;
			 * joey_vm_create reports the reason itself. */
			if (vm)
				vm__free(vm);
			pool.target = 0;
			continue;
		}
		vm->pool_next = pool.head;
		pool.head = vm;
		pool.ready++;
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

struct vm *pool__take(uint64_t mem_bytes)
{
	struct vm *vm = NULL;

	pthread_mutex_lock(&pool.lock);
	if (pool.head && pool.mem_bytes == mem_bytes) {
		vm = pool.head;
		pool.head = vm->pool_next;
		vm->pool_next = NULL;
		pool.ready--;
		pthread_cond_broadcast(&pool.cond);
	}
	pthread_mutex_unlock(&pool.lock);
	return vm;
}

uint32_t joey_vmm_pool_ready(void)
{
	uint32_t n;

	pthread_mutex_lock(&pool.lock);
	n = pool.ready;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

int joey_vmm_pool(uint32_t count, uint64_t mem_bytes)
{
	struct vm *list;
	int rc = 0;

	if (count && (mem_bytes < (2ULL << 20) || mem_bytes % 4096))
		return -EINVAL;
	pthread_mutex_lock(&pool.lock);
	if (pool.running) {
		pool.stop = true;
		pthread_cond_broadcast(&pool.cond);
		pthread_mutex_unlock(&pool.lock);
		pthread_join(pool.thread, NULL);
		pthread_mutex_lock(&pool.lock);
		pool.running = false;
	}
	list = pool.head;
	pool.head = NULL;
	pool.ready = 0;
	pool.stop = false;
	pool.target = count;
	pool.mem_bytes = mem_bytes;
	if (count) {
		rc = -pthread_create(&pool.thread, NULL, pool__thread, NULL);
		pool.running = rc == 0;
	}
	pthread_mutex_unlock(&pool.lock);
	while (list) {
		struct vm *next = list->pool_next;

		vm__free(list);
		list = next;
	}
	return rc;
}
