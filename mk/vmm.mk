# VMM core (issue 3). Outputs:
#   build/vmm/libjoeyvmm.so        the library Deno loads (every ffi/vmm/src/*.c and */*.c)
#   build/vmm/libjoeyvmm.a         the same objects as a static archive
#   build/vmm-san/libjoeyvmm.a     ASan+UBSan build of the same, for C tests and fuzzers
#   build/vmm/guests/NAME.elf      test guests from tests/vmm/guests/NAME.c
#   build/vmm/tests/NAME           C tests from tests/vmm/NAME.c (build/vmm-san/tests/NAME: sanitized)
# Link the archives with -Wl,--whole-archive … -Wl,--no-whole-archive: the core
# has a weak device__find() and only whole-archive linking pulls in the strong
# one from devices.c. Test guests: see tests/vmm/guests/guest.mk (vmm_guest).
include tests/vmm/guests/guest.mk

VMM_SRCS := $(sort $(wildcard ffi/vmm/src/*.c ffi/vmm/src/*/*.c))
VMM_HDRS := $(wildcard ffi/vmm/include/*.h ffi/vmm/src/*.h ffi/vmm/src/*/*.h)
VMM_OBJS := $(patsubst ffi/vmm/src/%.c,$(BUILD_DIR)/vmm/obj/%.o,$(VMM_SRCS))
VMM_SAN_OBJS := $(patsubst ffi/vmm/src/%.c,$(BUILD_DIR)/vmm-san/obj/%.o,$(VMM_SRCS))
VMM_CFLAGS := $(CFLAGS_COMMON) -pthread -Iffi/vmm/include -Iffi/vmm/src
VMM_LIB := $(BUILD_DIR)/vmm/libjoeyvmm.so
VMM_AR := $(BUILD_DIR)/vmm/libjoeyvmm.a
VMM_SAN_AR := $(BUILD_DIR)/vmm-san/libjoeyvmm.a

VMM_GUEST_NAMES := $(patsubst tests/vmm/guests/%.c,%,$(wildcard tests/vmm/guests/*.c))
VMM_GUESTS := $(patsubst %,$(BUILD_DIR)/vmm/guests/%.elf,$(VMM_GUEST_NAMES))
VMM_TEST_NAMES := $(patsubst tests/vmm/%.c,%,$(filter-out tests/vmm/harness.c,$(wildcard tests/vmm/*.c)))
VMM_TESTS := $(patsubst %,$(BUILD_DIR)/vmm/tests/%,$(VMM_TEST_NAMES))
VMM_SAN_TESTS := $(patsubst %,$(BUILD_DIR)/vmm-san/tests/%,$(VMM_TEST_NAMES))
VMM_TEST_CFLAGS = -DVMM_GUEST_DIR='"$(BUILD_DIR)/vmm/guests"' -Itests/vmm

BUILD_TARGETS += vmm
APT_PACKAGES += gcc make libc6-dev linux-libc-dev qemu-system-x86 libclang-rt-14-dev lz4

.PHONY: vmm vmm-lib vmm-guests vmm-tests
vmm: vmm-lib vmm-guests vmm-tests
vmm-lib: $(VMM_LIB) $(VMM_AR) $(VMM_SAN_AR)
vmm-guests: $(VMM_GUESTS)
vmm-tests: $(VMM_TESTS) $(VMM_SAN_TESTS)

$(BUILD_DIR)/vmm/obj/%.o: ffi/vmm/src/%.c $(VMM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(VMM_CFLAGS) -c -o $@ $<

$(BUILD_DIR)/vmm-san/obj/%.o: ffi/vmm/src/%.c $(VMM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(VMM_CFLAGS) $(SAN_FLAGS) -O1 -c -o $@ $<

$(VMM_LIB): $(VMM_OBJS)
	$(CC) -shared -pthread -o $@ $^

$(VMM_AR): $(VMM_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(VMM_SAN_AR): $(VMM_SAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(foreach g,$(VMM_GUEST_NAMES),$(eval $(call vmm_guest,$(BUILD_DIR)/vmm/guests/$(g).elf,tests/vmm/guests/$(g).c)))

$(BUILD_DIR)/vmm/tests/%: tests/vmm/%.c tests/vmm/harness.c tests/vmm/harness.h $(VMM_AR) $(VMM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(VMM_CFLAGS) $(VMM_TEST_CFLAGS) -o $@ $< tests/vmm/harness.c \
		-Wl,--whole-archive $(VMM_AR) -Wl,--no-whole-archive -pthread

$(BUILD_DIR)/vmm-san/tests/%: tests/vmm/%.c tests/vmm/harness.c tests/vmm/harness.h $(VMM_SAN_AR) $(VMM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(VMM_CFLAGS) $(SAN_FLAGS) $(VMM_TEST_CFLAGS) -O1 -o $@ $< tests/vmm/harness.c \
		-Wl,--whole-archive $(VMM_SAN_AR) -Wl,--no-whole-archive -pthread
