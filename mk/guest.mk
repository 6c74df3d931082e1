# Guest side (issue 5): the guest kernel, the agent (PID 1 in the VM) and the
# initrd.
#   build/guest/kernel/{bzImage,vmlinux,config}  guest/kernel/build.sh (cached)
GUEST_KERNEL_DIR := $(BUILD_DIR)/guest/kernel

BUILD_TARGETS += guest-kernel
APT_PACKAGES += linux-source-6.1 bc bison flex libelf-dev libssl-dev cpio xz-utils lz4 \
	qemu-system-x86 busybox-static

.PHONY: guest-kernel
## guest-kernel: the minimal microVM kernel (rebuilt only when the source or fragment changes)
guest-kernel:
	@bash guest/kernel/build.sh $(GUEST_KERNEL_DIR)

#   build/guest/agent/joey-agent          the agent, static and stripped (/init in the VM)
#   build/guest/agent/joey-agent.debug    the same, with symbols
#   build/guest/agent/joey-agent-san      a dynamic ASan+UBSan build for host test mode
#   build/guest/initrd.img                the initrd: the agent as /init
#   build/guest/initrd-debug.img          the same plus busybox
AGENT_DIR := $(BUILD_DIR)/guest/agent
AGENT_GEN := $(AGENT_DIR)/gen
AGENT_PROTOS := agent.proto oci.proto health.proto ttrpc/ttrpc.proto google/rpc/status.proto
AGENT_PB_INCLUDE := /usr/include
AGENT_GEN_SRCS := $(patsubst %.proto,$(AGENT_GEN)/%.pb-c.c,$(AGENT_PROTOS)) \
	$(AGENT_GEN)/google/protobuf/empty.pb-c.c $(AGENT_GEN)/google/protobuf/any.pb-c.c
AGENT_SRCS := $(wildcard guest/agent/*.c)
AGENT_HDRS := $(wildcard guest/agent/*.h)
AGENT_CFLAGS := $(filter-out -fPIC,$(CFLAGS_COMMON)) -Os -ffunction-sections -fdata-sections \
	-Iguest/agent -I$(AGENT_GEN)
AGENT_BIN := $(AGENT_DIR)/joey-agent
AGENT_SAN := $(AGENT_DIR)/joey-agent-san
GUEST_INITRD := $(BUILD_DIR)/guest/initrd.img
GUEST_INITRD_DEBUG := $(BUILD_DIR)/guest/initrd-debug.img

BUILD_TARGETS += guest-agent guest-initrd guest-tests
APT_PACKAGES += protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev gzip file util-linux

.PHONY: guest-agent guest-initrd guest
## guest: kernel, agent and initrd
guest: guest-kernel guest-agent guest-initrd
guest-agent: $(AGENT_BIN) $(AGENT_SAN)
guest-initrd: $(GUEST_INITRD) $(GUEST_INITRD_DEBUG)

# protoc-c writes every generated file of a run at once: one stamp rule.
$(AGENT_GEN)/.stamp: $(addprefix proto/,$(AGENT_PROTOS))
	@mkdir -p $(AGENT_GEN)
	protoc-c -Iproto -I$(AGENT_PB_INCLUDE) --c_out=$(AGENT_GEN) $(AGENT_PROTOS) \
		$(AGENT_PB_INCLUDE)/google/protobuf/empty.proto $(AGENT_PB_INCLUDE)/google/protobuf/any.proto
	@touch $@
$(AGENT_GEN_SRCS): $(AGENT_GEN)/.stamp

$(AGENT_DIR)/joey-agent.debug: $(AGENT_SRCS) $(AGENT_HDRS) $(AGENT_GEN_SRCS)
	$(CC) $(AGENT_CFLAGS) -static -Wl,--gc-sections -o $@ $(AGENT_SRCS) $(AGENT_GEN_SRCS) -l:libprotobuf-c.a

$(AGENT_BIN): $(AGENT_DIR)/joey-agent.debug
	strip -o $@ $<

$(AGENT_SAN): $(AGENT_SRCS) $(AGENT_HDRS) $(AGENT_GEN_SRCS)
	$(CC) $(AGENT_CFLAGS) $(SAN_FLAGS) -O1 -o $@ $(AGENT_SRCS) $(AGENT_GEN_SRCS) -lprotobuf-c

$(GUEST_INITRD): $(AGENT_BIN) guest/image/build.sh
	@bash guest/image/build.sh $@ $(AGENT_BIN)

$(GUEST_INITRD_DEBUG): $(AGENT_BIN) guest/image/build.sh
	@bash guest/image/build.sh $@ $(AGENT_BIN) /bin/busybox

# C unit tests of the agent's pure parts (tests/guest/unit_test.c).
GUEST_UNIT_SRCS := tests/guest/unit_test.c guest/agent/buf.c guest/agent/util.c guest/agent/mount.c
.PHONY: guest-tests
guest-tests: $(BUILD_DIR)/guest/tests/unit_test $(BUILD_DIR)/guest/tests/unit_test-san
$(BUILD_DIR)/guest/tests/unit_test: $(GUEST_UNIT_SRCS) $(AGENT_HDRS) $(AGENT_GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(AGENT_CFLAGS) -o $@ $(GUEST_UNIT_SRCS)
$(BUILD_DIR)/guest/tests/unit_test-san: $(GUEST_UNIT_SRCS) $(AGENT_HDRS) $(AGENT_GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(AGENT_CFLAGS) $(SAN_FLAGS) -O1 -o $@ $(GUEST_UNIT_SRCS)

# A static vsock client the in-VM test runs inside a container.
GUEST_VSOCK_DIAL := $(BUILD_DIR)/guest/tests/vsock_dial
guest-tests: $(GUEST_VSOCK_DIAL)
$(GUEST_VSOCK_DIAL): tests/guest/vsock_dial.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -o $@ $<
