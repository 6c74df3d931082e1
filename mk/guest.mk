# Guest side (issue 5): the guest kernel, the agent (PID 1 in the VM) and the
# initrd.
#   build/guest/kernel/{bzImage,vmlinux,config}  guest/kernel/build.sh (cached)
GUEST_KERNEL_DIR := $(BUILD_DIR)/guest/kernel

BUILD_TARGETS += guest-kernel
APT_PACKAGES += linux-source-6.1 bc bison flex libelf-dev libssl-dev cpio xz-utils \
	qemu-system-x86 busybox-static

.PHONY: guest-kernel
## guest-kernel: the minimal microVM kernel (rebuilt only when the source or fragment changes)
guest-kernel:
	@bash guest/kernel/build.sh $(GUEST_KERNEL_DIR)
