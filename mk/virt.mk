# virt-container (issue 6): the runtime, the QEMU hypervisor and the resource
# manager are TypeScript (nothing to compile here). At run time they need
# QEMU (qemu-system-x86_64, microvm machine), virtiofsd (Debian ships it in
# qemu-system-common as /usr/lib/qemu/virtiofsd), iproute2 (ip, tc) and
# nsenter for the pod network, and the guest kernel/initrd and vsock back end
# that mk/guest.mk and mk/devices.mk build. The tests build a small busybox
# initrd with cpio and gzip.
APT_PACKAGES += qemu-system-x86 qemu-system-common iproute2 util-linux cpio gzip busybox-static

.PHONY: virt-test
## virt-test: the virt-container Deno tests (real containerd, QEMU/TCG here)
virt-test: build
	@$(DENO) test -A tests/virt/
