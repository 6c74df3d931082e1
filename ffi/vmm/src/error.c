/* Per-VM last-error text: the reason behind the most recent failure, for the
 * caller to show. Written from any thread, so it has its own lock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm.h"

void vm__vset_error(struct vm *vm, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&vm->err_lock);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	pthread_mutex_unlock(&vm->err_lock);
}

void vm__set_error(struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm__vset_error(vm, fmt, ap);
	va_end(ap);
}

int joey_vm_last_error(joey_vm *vm, char *buf, uint32_t len)
{
	int n;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->err_lock);
	n = (int)strlen(vm->err);
	vm->device_error_queued = false; /* re-arms DEVICE_ERROR events */
	if (len)
		snprintf(buf, len, "%s", vm->err);
	pthread_mutex_unlock(&vm->err_lock);
	return n;
}
