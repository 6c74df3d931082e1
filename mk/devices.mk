# Devices (issue 4): virtio-mmio transport, virtqueues, device models and
# vhost-user. Their sources live in ffi/vmm/src/{virtio,vhost_user}/ and
# devices.c, so mk/vmm.mk compiles them into libjoeyvmm. This file builds:
#   build/vmm/joey-vhost-vsock            the standalone vhost-user vsock back end
#   build/devices/tests/NAME              C tests from tests/devices/NAME.c (+ -san)
#   build/devices/guests/NAME.elf         driver test guests (tests/devices/guests/)
#   build/devices/fuzz/NAME               libFuzzer targets from fuzz/NAME.c (make fuzz)
# The tool and the unit tests link only the VMM-independent objects below, so
# they build without KVM and without the core.
include tests/vmm/guests/guest.mk

# seccomp.c: the in-process back end's thread confines itself.
DEV_STANDALONE_SRCS := ffi/vmm/src/guest_mem.c ffi/vmm/src/seccomp.c \
	$(wildcard ffi/vmm/src/vhost_user/*.c) ffi/vmm/src/virtio/virtqueue.c \
	ffi/vmm/src/virtio/vsock_model.c
DEV_HDRS := $(wildcard ffi/vmm/src/*.h ffi/vmm/src/virtio/*.h ffi/vmm/src/vhost_user/*.h)
DEV_CFLAGS := $(CFLAGS_COMMON) -pthread -Iffi/vmm/include -Iffi/vmm/src
DEV_OBJS := $(patsubst ffi/vmm/src/%.c,$(BUILD_DIR)/devices/obj/%.o,$(DEV_STANDALONE_SRCS))
DEV_SAN_OBJS := $(patsubst ffi/vmm/src/%.c,$(BUILD_DIR)/devices/san-obj/%.o,$(DEV_STANDALONE_SRCS))
DEV_FUZZ_OBJS := $(patsubst ffi/vmm/src/%.c,$(BUILD_DIR)/devices/fuzz-obj/%.o,$(DEV_STANDALONE_SRCS))
DEV_TOOL := $(BUILD_DIR)/vmm/joey-vhost-vsock

# Unit tests (no VM): tests/devices/unit_*.c. VM tests (need the core):
# tests/devices/vm_*.c, linked whole-archive with libjoeyvmm.a.
DEV_UNIT_NAMES := $(patsubst tests/devices/%.c,%,$(wildcard tests/devices/unit_*.c))
DEV_VM_NAMES := $(patsubst tests/devices/%.c,%,$(wildcard tests/devices/vm_*.c))
DEV_TESTS := $(patsubst %,$(BUILD_DIR)/devices/tests/%,$(DEV_UNIT_NAMES) $(DEV_VM_NAMES))
DEV_SAN_TESTS := $(patsubst %,$(BUILD_DIR)/devices/tests/%-san,$(DEV_UNIT_NAMES) $(DEV_VM_NAMES))
DEV_GUEST_NAMES := $(patsubst tests/devices/guests/%.c,%,$(wildcard tests/devices/guests/*.c))
DEV_GUESTS := $(patsubst %,$(BUILD_DIR)/devices/guests/%.elf,$(DEV_GUEST_NAMES))
DEV_LINUX_PROG := $(BUILD_DIR)/devices/vsock_probe
DEV_HOST_PROG := $(BUILD_DIR)/devices/vsock_host
DEV_FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))
DEV_FUZZERS := $(patsubst %,$(BUILD_DIR)/devices/fuzz/%,$(DEV_FUZZ_NAMES))
DEV_VMM_AR := $(BUILD_DIR)/vmm/libjoeyvmm.a
DEV_VMM_SAN_AR := $(BUILD_DIR)/vmm-san/libjoeyvmm.a
FUZZ_SECONDS ?= 10
DEV_VM_DEFS = -DDEV_GUEST_DIR='"$(BUILD_DIR)/devices/guests"' -DVMM_GUEST_DIR='"$(BUILD_DIR)/vmm/guests"' \
	-DBUILD_DIR='"$(BUILD_DIR)"'
FUZZ_CC := clang-14
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer-no-link,address,undefined -Iffi/vmm/include -Iffi/vmm/src -Itests/devices

BUILD_TARGETS += devices
APT_PACKAGES += clang-14 libclang-rt-14-dev qemu-system-x86 qemu-system-common busybox-static cpio iproute2

.PHONY: devices devices-tests fuzz fuzz-build
DEV_BENCH := $(BUILD_DIR)/devices/bench_dev
devices: $(DEV_TOOL) $(DEV_LINUX_PROG) $(DEV_HOST_PROG) $(DEV_GUESTS) $(DEV_BENCH)
devices-tests: devices $(DEV_TESTS) $(DEV_SAN_TESTS) fuzz-build
fuzz-build: $(DEV_FUZZERS)

$(BUILD_DIR)/devices/obj/%.o: ffi/vmm/src/%.c $(DEV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) -c -o $@ $<

$(BUILD_DIR)/devices/san-obj/%.o: ffi/vmm/src/%.c $(DEV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) $(SAN_FLAGS) -O1 -c -o $@ $<

$(BUILD_DIR)/devices/fuzz-obj/%.o: ffi/vmm/src/%.c $(DEV_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(DEV_TOOL): ffi/vmm/tools/joey_vhost_vsock.c $(DEV_OBJS) $(DEV_HDRS)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) -o $@ $< $(DEV_OBJS) -pthread

# The program the real Linux guest runs (static: the initrd has no libc).
$(DEV_LINUX_PROG): tests/devices/linux/vsock_probe.c tests/devices/linux/pattern.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -o $@ $<

$(DEV_HOST_PROG): tests/devices/linux/vsock_host.c tests/devices/linux/pattern.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -pthread -o $@ $<

$(BUILD_DIR)/devices/tests/unit_%: tests/devices/unit_%.c tests/devices/dev_test.h tests/devices/ring_util.h $(DEV_OBJS)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) -Itests/devices -o $@ $< $(DEV_OBJS) -pthread

$(BUILD_DIR)/devices/tests/unit_%-san: tests/devices/unit_%.c tests/devices/dev_test.h tests/devices/ring_util.h $(DEV_SAN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) $(SAN_FLAGS) -O1 -Itests/devices -o $@ $< $(DEV_SAN_OBJS) -pthread

$(BUILD_DIR)/devices/tests/vm_%: tests/devices/vm_%.c tests/devices/dev_test.h tests/devices/linux/pattern.h tests/vmm/harness.c $(DEV_VMM_AR)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) -Itests/devices -Itests/vmm $(DEV_VM_DEFS) \
		-o $@ $< tests/vmm/harness.c -Wl,--whole-archive $(DEV_VMM_AR) -Wl,--no-whole-archive -pthread

# Benchmark helper for bench/suites/dev.ts (not a test).
$(DEV_BENCH): tests/devices/bench_dev.c tests/devices/dev_test.h tests/vmm/harness.c $(DEV_VMM_AR)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) -Itests/devices -Itests/vmm $(DEV_VM_DEFS) -o $@ $< tests/vmm/harness.c \
		-Wl,--whole-archive $(DEV_VMM_AR) -Wl,--no-whole-archive -pthread

$(BUILD_DIR)/devices/tests/vm_%-san: tests/devices/vm_%.c tests/devices/dev_test.h tests/devices/linux/pattern.h tests/vmm/harness.c $(DEV_VMM_SAN_AR)
	@mkdir -p $(@D)
	$(CC) $(DEV_CFLAGS) $(SAN_FLAGS) -O1 -Itests/devices -Itests/vmm \
		$(DEV_VM_DEFS) \
		-o $@ $< tests/vmm/harness.c -Wl,--whole-archive $(DEV_VMM_SAN_AR) -Wl,--no-whole-archive -pthread

DEV_GUEST_LIB := tests/devices/guests/lib/virtio_drv.c
$(foreach g,$(DEV_GUEST_NAMES),$(eval $(call vmm_guest,$(BUILD_DIR)/devices/guests/$(g).elf,tests/devices/guests/$(g).c $(DEV_GUEST_LIB))))
$(DEV_GUESTS): tests/devices/guests/lib/virtio_drv.h tests/devices/guests/lib/vsock_hdr.h
$(DEV_GUESTS): VMM_GUEST_CFLAGS += -Itests/devices/guests/lib

$(BUILD_DIR)/devices/fuzz/%: fuzz/%.c fuzz/fuzz_mem.h tests/devices/ring_util.h $(DEV_FUZZ_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(DEV_FUZZ_OBJS)

## fuzz: every libFuzzer target for FUZZ_SECONDS each, from its corpus in fuzz/corpus/NAME
fuzz: $(DEV_FUZZERS)
	@set -e; for f in $(DEV_FUZZ_NAMES); do \
		mkdir -p $(BUILD_DIR)/devices/fuzz-corpus/$$f; \
		echo "fuzz: $$f for $(FUZZ_SECONDS)s"; \
		$(BUILD_DIR)/devices/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			-max_len=4096 $(BUILD_DIR)/devices/fuzz-corpus/$$f fuzz/corpus/$$f 2>&1 | tail -3; \
	done
