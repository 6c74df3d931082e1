/* Interrupt lines and the eventfd shortcuts (irqfd, ioeventfd) the device
 * models use, plus the allocators for their MMIO windows and GSIs. */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

int irq__line(struct vm *vm, uint32_t gsi, bool level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int vm__irq_trigger(struct vm *vm, uint32_t gsi)
{
	int rc;

	if (gsi > IRQ_GSI_LAST)
		return -EINVAL;
	rc = irq__line(vm, gsi, true);
	return rc ? rc : irq__line(vm, gsi, false);
}

int vm__irqfd(struct vm *vm, uint32_t gsi, int eventfd)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)eventfd, .gsi = gsi };

	if (gsi > IRQ_GSI_LAST || eventfd < 0)
		return -EINVAL;
	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static int ioeventfd(struct vm *vm, uint64_t addr, uint32_t datamatch, int eventfd, bool remove)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch, .addr = addr, .len = 4, .fd = eventfd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (remove ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};

	if (eventfd < 0)
		return -EINVAL;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0)
		return -ENOTSUP;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return errno == ENOSYS || errno == EINVAL ? -ENOTSUP : -errno;
	return 0;
}

int vm__ioeventfd(struct vm *vm, uint64_t addr, uint32_t datamatch, int eventfd)
{
	return ioeventfd(vm, addr, datamatch, eventfd, false);
}

int vm__ioeventfd_remove(struct vm *vm, uint64_t addr, uint32_t datamatch, int eventfd)
{
	return ioeventfd(vm, addr, datamatch, eventfd, true);
}

int vm__alloc_mmio(struct vm *vm, uint64_t len, uint64_t *base)
{
	uint64_t size = (len + 4095) & ~4095ULL;

	if (!len || !base)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (size > VIRTIO_MMIO_END - vm->next_mmio) {
		pthread_mutex_unlock(&vm->lock);
		return -ENOSPC;
	}
	*base = vm->next_mmio;
	vm->next_mmio += size;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm__alloc_irq(struct vm *vm, uint32_t *gsi)
{
	int rc = 0;

	if (!gsi)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->next_gsi > IRQ_GSI_LAST)
		rc = -ENOSPC;
	else
		*gsi = vm->next_gsi++;
	pthread_mutex_unlock(&vm->lock);
	return rc;
}
