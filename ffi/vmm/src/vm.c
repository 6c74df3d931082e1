/* The VM object and the public lifecycle API: create (KVM VM, RAM, vCPUs,
 * platform devices, kernel), add_device, start, pause, resume, stop and
 * destroy, with teardown in reverse order of setup. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host_limits.h"
#include "vm.h"

#define CMDLINE_HARD_MAX 65536

/* FFI callers (src/hypervisor/builtin/ffi.ts) build and read these by offset. */
_Static_assert(sizeof(struct joey_vm_config) == 48, "joey_vm_config layout");
_Static_assert(offsetof(struct joey_vm_config, mem_bytes) == 8, "joey_vm_config layout");
_Static_assert(offsetof(struct joey_vm_config, kernel) == 16, "joey_vm_config layout");
_Static_assert(offsetof(struct joey_vm_config, console_fd) == 40, "joey_vm_config layout");
_Static_assert(offsetof(struct joey_vm_config, console_ring) == 44, "joey_vm_config layout");
_Static_assert(sizeof(struct joey_event) == 32, "joey_event layout");
_Static_assert(offsetof(struct joey_event, code) == 12, "joey_event layout");
_Static_assert(offsetof(struct joey_event, arg1) == 24, "joey_event layout");

static uint64_t next_vm_id = 1;

const char *joey_vmm_version(void)
{
	return "joey-vmm 0.1.0 (api 1)";
}

int joey_vmm_check(char *err, uint32_t errlen)
{
	char buf[JOEY_ERR_MAX];
	int fd = kvm__open(buf, sizeof(buf));
	int rc;

	if (fd >= 0) {
		rc = kvm__check_caps(fd, buf, sizeof(buf));
		close(fd);
	} else {
		rc = fd;
	}
	if (errlen)
		snprintf(err, errlen, "%s", rc ? buf : "");
	return rc;
}

/* Defaults for the device table: devices.c (the device models) provides the
 * real one; without it no device type is known. */
__attribute__((weak)) const struct device_ops *device__find(const char *type)
{
	(void)type;
	return NULL;
}

int joey_vmm_device_known(const char *type)
{
	return type && device__find(type) ? 1 : 0;
}

const struct guest_mem *vm__guest_mem(struct vm *vm)
{
	return &vm->gm;
}

int vm__cmdline_append(struct vm *vm, const char *text)
{
	size_t old, add;
	char *grown;

	if (!text)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->state != JOEY_VM_CREATED) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	old = strlen(vm->cmdline);
	add = strlen(text);
	if (old + add + 2 > CMDLINE_HARD_MAX) {
		pthread_mutex_unlock(&vm->lock);
		return -E2BIG;
	}
	grown = realloc(vm->cmdline, old + add + 2);
	if (!grown) {
		pthread_mutex_unlock(&vm->lock);
		return -ENOMEM;
	}
	grown[old] = old ? ' ' : '\0';
	memcpy(grown + old + (old ? 1 : 0), text, add + 1);
	vm->cmdline = grown;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* A hostile guest can make a device fail in a loop: one DEVICE_ERROR event
 * stays queued until the caller reads the text (joey_vm_last_error), so the
 * queue cannot grow without bound; the text is always the latest. */
void vm__device_error(struct vm *vm, const char *device, const char *fmt, ...)
{
	char msg[JOEY_ERR_MAX];
	bool post;
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "device %s: ", device);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&vm->err_lock);
	memcpy(vm->err, msg, sizeof(vm->err));
	post = !vm->device_error_queued;
	vm->device_error_queued = true;
	pthread_mutex_unlock(&vm->err_lock);
	if (post)
		event__post(vm, JOEY_EVENT_DEVICE_ERROR, 0, 0, 0);
}

void vm__terminate(struct vm *vm, uint32_t type, int32_t code, uint64_t arg0, uint64_t arg1)
{
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = !vm->terminal_sent && !vm->stop_requested;
	if (first) {
		vm->terminal_sent = true;
		vm->stop_requested = true;
		vm->state = JOEY_VM_STOPPED;
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (!first)
		return;
	event__post(vm, type, code, arg0, arg1);
	vcpu__kick_all(vm);
}

static int platform__init(struct vm *vm)
{
	int rc = serial__init(vm);

	if (!rc)
		rc = i8042__init(vm);
	if (!rc)
		rc = debug_exit__init(vm);
	if (rc && !vm->err[0])
		vm__set_error(vm, "registering platform devices: %s", strerror(-rc));
	return rc;
}

struct vm *vm__alloc(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
	for (unsigned int i = 0; i < JOEY_VM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	pthread_mutex_init(&vm->err_lock, NULL);
	pthread_mutex_init(&vm->console_lock, NULL);
	pthread_rwlock_init(&vm->bus_lock, NULL);
	vm->next_mmio = VIRTIO_MMIO_BASE;
	vm->next_gsi = IRQ_GSI_FIRST;
	vm->state = JOEY_VM_CREATED;
	vm->id = __atomic_fetch_add(&next_vm_id, 1, __ATOMIC_RELAXED);
	return vm;
}

void vm__free(struct vm *vm)
{
	event__drop_vm(vm->id);
	loop__destroy(vm);
	devices__exit_all(vm);
	serial__exit(vm);
	for (unsigned int i = 0; i < JOEY_VM_MAX_VCPUS; i++)
		vcpu__destroy(&vm->vcpus[i]);
	memory__teardown(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	kvm__system_put(vm);
	console__exit(vm);
	free(vm->cmdline);
	free(vm->zero_page);
	pthread_rwlock_destroy(&vm->bus_lock);
	pthread_mutex_destroy(&vm->console_lock);
	pthread_mutex_destroy(&vm->err_lock);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vm__setup_shell(struct vm *vm, uint64_t mem_bytes, bool hugepages)
{
	int rc;

	rc = kvm__system(vm);
	if (!rc)
		rc = kvm__create_vm(vm);
	/* Memory slots before the interrupt controllers: measured on PVM, a
	 * slot added after KVM_CREATE_IRQCHIP costs ~7 ms (a kernel grace
	 * period), before it ~0.3 ms; the order is otherwise free. */
	if (!rc)
		rc = memory__setup(vm, mem_bytes, hugepages);
	if (!rc)
		rc = kvm__setup_irqchip(vm);
	return rc;
}

int joey_vm_create(const struct joey_vm_config *cfg, joey_vm **out, char *err, uint32_t errlen)
{
	struct vm *vm;
	bool fresh;
	int rc;

	if (out)
		*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!cfg || !out) {
		if (errlen)
			snprintf(err, errlen, "joey_vm_create: missing config or result pointer");
		return -EINVAL;
	}
	/* A pre-built shell (KVM VM, irqchip, PIT, RAM) when the pool has one of
	 * this size; it never ran a guest, so its RAM is fresh. */
	vm = cfg->flags & (JOEY_VM_F_HUGEPAGES | JOEY_VM_F_NO_PIT) ? NULL
								   : pool__take(cfg->mem_bytes);
	fresh = !vm;
	if (fresh)
		vm = vm__alloc();
	if (!vm) {
		if (errlen)
			snprintf(err, errlen, "out of memory for a VM");
		return -ENOMEM;
	}
	if (cfg->vcpus < 1 || cfg->vcpus > JOEY_VM_MAX_VCPUS) {
		vm__set_error(vm, "vCPU count %u is invalid: need 1..%u", cfg->vcpus,
			      JOEY_VM_MAX_VCPUS);
		rc = -EINVAL;
		goto fail;
	}
	vm->nr_vcpus = cfg->vcpus;
	if (fresh)
		vm->no_pit = cfg->flags & JOEY_VM_F_NO_PIT;
	/* Density (issue 9): host limits first, so running out of fds, threads
	 * or memory is reported by name instead of failing inside KVM. */
	rc = limits__check_vm(vm, cfg->vcpus, cfg->mem_bytes);
	if (rc)
		goto fail_limits;
	vm->cmdline = strdup(cfg->cmdline ? cfg->cmdline : "");
	if (!vm->cmdline) {
		rc = -ENOMEM;
		vm__set_error(vm, "out of memory for the command line");
		goto fail;
	}
	rc = console__init(vm, cfg->console_ring, cfg->console_fd);
	if (rc)
		goto fail;
	if (fresh) {
		rc = vm__setup_shell(vm, cfg->mem_bytes, cfg->flags & JOEY_VM_F_HUGEPAGES);
		if (rc)
			goto fail;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		rc = vcpu__create(vm, i);
		if (rc)
			goto fail;
	}
	rc = platform__init(vm);
	if (rc)
		goto fail;
	rc = loader__load(vm, cfg->kernel, cfg->initrd);
	if (rc)
		goto fail;
	*out = vm;
	return 0;

fail:
	if (rc == -EMFILE || rc == -ENFILE) {
		/* A limit reached after the check (another thread took the fds). */
		char step[JOEY_ERR_MAX];

		snprintf(step, sizeof(step), "%s", vm->err[0] ? vm->err : "creating the VM");
		limits__explain(vm, rc, step);
	}
fail_limits:
	if (errlen)
		snprintf(err, errlen, "%s", vm->err[0] ? vm->err : strerror(-rc));
	vm__free(vm);
	return rc;
}

int joey_vm_add_device(joey_vm *vm, const char *type, const char *spec)
{
	const struct device_ops *ops;
	void *state = NULL;
	int rc;

	if (!vm || !type)
		return -EINVAL;
	if (vm->state != JOEY_VM_CREATED) {
		vm__set_error(vm, "device '%s' can only be added before the VM starts", type);
		return -EBUSY;
	}
	if (vm->nr_devices >= MAX_DEVICES) {
		vm__set_error(vm, "too many devices (at most %d)", MAX_DEVICES);
		return -ENOSPC;
	}
	ops = device__find(type);
	if (!ops || !ops->init_one) {
		vm__set_error(vm, "unknown device type '%s'", type);
		return -ENOENT;
	}
	vm->err[0] = '\0';
	rc = ops->init_one(vm, spec ? spec : "", &state);
	if (rc) {
		if (!vm->err[0])
			vm__set_error(vm, "device '%s' (%s) failed to start: %s", type,
				      spec ? spec : "", strerror(rc < 0 ? -rc : rc));
		return rc < 0 ? rc : -rc;
	}
	vm->devices[vm->nr_devices++] = (struct device_slot){ .ops = ops, .state = state };
	return 0;
}

void devices__exit_all(struct vm *vm)
{
	while (vm->nr_devices) {
		struct device_slot *d = &vm->devices[--vm->nr_devices];

		if (d->ops->exit_one)
			d->ops->exit_one(vm, d->state);
	}
}

int joey_vm_start(joey_vm *vm)
{
	int rc;

	if (!vm)
		return -EINVAL;
	if (vm->state != JOEY_VM_CREATED) {
		vm__set_error(vm, "VM %llu cannot start: it was already started",
			      (unsigned long long)vm->id);
		return -EBUSY;
	}
	rc = loader__finalize(vm);
	if (rc)
		return rc;
	pthread_mutex_lock(&vm->lock);
	vm->state = JOEY_VM_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	event__post(vm, JOEY_EVENT_STARTED, 0, 0, 0);
	rc = vcpu__start_all(vm);
	if (rc == -EAGAIN)
		limits__explain(vm, rc, "starting the vCPU threads");
	if (rc) {
		joey_vm_stop(vm);
		return rc;
	}
	return 0;
}

/* Takes vm->lock if the VM is in state `from`: returns 1 holding it; 0 when
 * it is already in `to` (nothing to do); -EINVAL with the error set else. */
static int vm__lock_in(struct vm *vm, int from, int to, const char *verb, const char *need)
{
	int state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	if (state == from)
		return 1;
	pthread_mutex_unlock(&vm->lock);
	if (state == to)
		return 0;
	vm__set_error(vm, "VM %llu cannot %s: it is not %s", (unsigned long long)vm->id, verb, need);
	return -EINVAL;
}

int joey_vm_pause(joey_vm *vm)
{
	int rc;

	if (!vm)
		return -EINVAL;
	rc = vm__lock_in(vm, JOEY_VM_RUNNING, JOEY_VM_PAUSED, "pause", "running");
	if (rc <= 0)
		return rc;
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->lock);
	vcpu__kick_all(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->live && !vm->stop_requested)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->state == JOEY_VM_RUNNING)
		vm->state = JOEY_VM_PAUSED;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int joey_vm_resume(joey_vm *vm)
{
	int rc;

	if (!vm)
		return -EINVAL;
	rc = vm__lock_in(vm, JOEY_VM_PAUSED, JOEY_VM_RUNNING, "resume", "paused");
	if (rc <= 0)
		return rc;
	vm->pause_requested = false;
	vm->state = JOEY_VM_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int joey_vm_stop(joey_vm *vm)
{
	bool was_running;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	was_running = vm->state == JOEY_VM_RUNNING || vm->state == JOEY_VM_PAUSED;
	vm->stop_requested = true;
	vm->state = JOEY_VM_STOPPED;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vcpu__kick_all(vm);
	vcpu__join_all(vm);
	if (was_running)
		event__post(vm, JOEY_EVENT_STOPPED, 0, 0, 0);
	return 0;
}

void joey_vm_destroy(joey_vm *vm)
{
	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->stop_requested = true;
	vm->state = JOEY_VM_STOPPED;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vcpu__kick_all(vm);
	vcpu__join_all(vm);
	vm__free(vm);
}

int joey_vm_state(joey_vm *vm)
{
	int state;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return state;
}

uint64_t joey_vm_id(joey_vm *vm)
{
	return vm ? vm->id : 0;
}

int joey_vm_read_mem(joey_vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	if (!vm || (!buf && len))
		return -EINVAL;
	return gm__read(&vm->gm, gpa, buf, len);
}
