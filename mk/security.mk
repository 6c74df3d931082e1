# Reliability and security (issue 8). Outputs:
#   build/security/tests/NAME[-san]   C tests from tests/security/NAME.c, linked with the VMM
#   build/security/fuzz/NAME          libFuzzer targets from fuzz/security/NAME.c
# `make fuzz-security FUZZ_SECONDS=N` runs each target for N seconds from its
# corpus in fuzz/security/corpus/NAME (plus a scratch corpus under build/)
# and prints its executions; `make fuzz` runs them too (its prerequisite).
# Sources are listed here rather than taken from mk/vmm.mk's variables,
# because this file is read before mk/vmm.mk.
SEC_VMM_SRCS := $(sort $(wildcard ffi/vmm/src/*.c ffi/vmm/src/*/*.c))
SEC_VMM_HDRS := $(wildcard ffi/vmm/include/*.h ffi/vmm/src/*.h ffi/vmm/src/*/*.h)
SEC_FUZZ_CC := clang-14
SEC_FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
SEC_FUZZ_VMM_OBJS := $(patsubst ffi/vmm/src/%.c,$(BUILD_DIR)/security/fuzz-obj/vmm/%.o,$(SEC_VMM_SRCS))
SEC_FUZZ_VMM_AR := $(BUILD_DIR)/security/fuzz-obj/libjoeyvmm-fuzz.a
SEC_AGENT_GEN := $(BUILD_DIR)/guest/agent/gen
SEC_AGENT_GEN_SRCS := $(addprefix $(SEC_AGENT_GEN)/,agent.pb-c.c oci.pb-c.c health.pb-c.c \
	ttrpc/ttrpc.pb-c.c google/rpc/status.pb-c.c google/protobuf/empty.pb-c.c google/protobuf/any.pb-c.c)
SEC_FUZZ_NAMES := $(patsubst fuzz/security/%.c,%,$(wildcard fuzz/security/*.c))
SEC_FUZZERS := $(patsubst %,$(BUILD_DIR)/security/fuzz/%,$(SEC_FUZZ_NAMES))
SEC_TEST_NAMES := $(patsubst tests/security/%.c,%,$(wildcard tests/security/*.c))
SEC_TESTS := $(patsubst %,$(BUILD_DIR)/security/tests/%,$(SEC_TEST_NAMES)) \
	$(patsubst %,$(BUILD_DIR)/security/tests/%-san,$(SEC_TEST_NAMES))
SEC_GUEST_NAMES := $(patsubst tests/security/guests/%.c,%,$(wildcard tests/security/guests/*.c))
SEC_GUESTS := $(patsubst %,$(BUILD_DIR)/security/guests/%.elf,$(SEC_GUEST_NAMES))
SEC_TEST_FLAGS := $(CFLAGS_COMMON) -pthread -Iffi/vmm/include -Iffi/vmm/src -Itests/vmm \
	-DVMM_GUEST_DIR='"$(BUILD_DIR)/vmm/guests"' -DSEC_GUEST_DIR='"$(BUILD_DIR)/security/guests"'
FUZZ_SECONDS ?= 10

BUILD_TARGETS += security
APT_PACKAGES += clang-14 libclang-rt-14-dev protobuf-c-compiler libprotobuf-c-dev util-linux

.PHONY: security security-tests security-fuzz-build fuzz-security
security: security-tests security-fuzz-build
security-tests: $(SEC_TESTS) $(SEC_GUESTS)

# Hostile test guests, built like the VMM's (tests/vmm/guests/guest.mk), with
# the devices area's virtio driver library (tests/devices/guests/lib).
include tests/vmm/guests/guest.mk
SEC_GUEST_LIB := tests/devices/guests/lib/virtio_drv.c
$(foreach g,$(SEC_GUEST_NAMES),$(eval $(call vmm_guest,$(BUILD_DIR)/security/guests/$(g).elf,tests/security/guests/$(g).c $(SEC_GUEST_LIB))))
$(SEC_GUESTS): tests/devices/guests/lib/virtio_drv.h tests/devices/guests/lib/vsock_hdr.h
security-fuzz-build: $(SEC_FUZZERS)

$(BUILD_DIR)/security/tests/%: tests/security/%.c tests/vmm/harness.c tests/vmm/harness.h \
		$(BUILD_DIR)/vmm/libjoeyvmm.a $(SEC_VMM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SEC_TEST_FLAGS) -o $@ $< tests/vmm/harness.c \
		-Wl,--whole-archive $(BUILD_DIR)/vmm/libjoeyvmm.a -Wl,--no-whole-archive -pthread

$(BUILD_DIR)/security/tests/%-san: tests/security/%.c tests/vmm/harness.c tests/vmm/harness.h \
		$(BUILD_DIR)/vmm-san/libjoeyvmm.a $(SEC_VMM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SEC_TEST_FLAGS) $(SAN_FLAGS) -O1 -o $@ $< tests/vmm/harness.c \
		-Wl,--whole-archive $(BUILD_DIR)/vmm-san/libjoeyvmm.a -Wl,--no-whole-archive -pthread

$(BUILD_DIR)/security/fuzz-obj/vmm/%.o: ffi/vmm/src/%.c $(SEC_VMM_HDRS)
	@mkdir -p $(@D)
	$(SEC_FUZZ_CC) $(SEC_FUZZ_FLAGS) -Wno-gnu-variable-sized-type-not-at-end -pthread \
		-Iffi/vmm/include -Iffi/vmm/src -c -o $@ $<

$(SEC_FUZZ_VMM_AR): $(SEC_FUZZ_VMM_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD_DIR)/security/fuzz/loader_image: fuzz/security/loader_image.c $(SEC_FUZZ_VMM_AR) $(SEC_VMM_HDRS)
	@mkdir -p $(@D)
	$(SEC_FUZZ_CC) $(SEC_FUZZ_FLAGS) -fsanitize=fuzzer -Iffi/vmm/include -Iffi/vmm/src -o $@ $< \
		-Wl,--whole-archive $(SEC_FUZZ_VMM_AR) -Wl,--no-whole-archive -pthread

# The agent's generated code comes from mk/guest.mk's protoc-c stamp rule.
$(BUILD_DIR)/security/fuzz/agent_proto: fuzz/security/agent_proto.c $(SEC_AGENT_GEN)/.stamp
	@mkdir -p $(@D)
	$(SEC_FUZZ_CC) $(SEC_FUZZ_FLAGS) -fsanitize=fuzzer -Wno-unused-parameter -I$(SEC_AGENT_GEN) \
		-o $@ $< $(SEC_AGENT_GEN_SRCS) -lprotobuf-c

# The agent's ttrpc server as the agent builds it (its own loop and log), with
# the fuzz target's scripted method table in place of service.c.
SEC_AGENT_TTRPC_SRCS := guest/agent/ttrpc.c guest/agent/loop.c guest/agent/util.c
$(BUILD_DIR)/security/fuzz/agent_ttrpc: fuzz/security/agent_ttrpc.c $(SEC_AGENT_TTRPC_SRCS) \
		guest/agent/ttrpc.h guest/agent/loop.h guest/agent/util.h $(SEC_AGENT_GEN)/.stamp
	@mkdir -p $(@D)
	$(SEC_FUZZ_CC) $(SEC_FUZZ_FLAGS) -fsanitize=fuzzer -Wno-unused-parameter -Iguest/agent \
		-I$(SEC_AGENT_GEN) -o $@ $< $(SEC_AGENT_TTRPC_SRCS) $(SEC_AGENT_GEN_SRCS) -lprotobuf-c

## fuzz-security: each security fuzz target for FUZZ_SECONDS (executions reported)
fuzz-security: $(SEC_FUZZERS)
	@set -e; for f in $(SEC_FUZZ_NAMES); do \
		mkdir -p $(BUILD_DIR)/security/fuzz-corpus/$$f; \
		log=$(BUILD_DIR)/security/fuzz-$$f.log; \
		echo "fuzz-security: $$f for $(FUZZ_SECONDS)s"; \
		rc=0; (cd $(BUILD_DIR)/security/fuzz-corpus && \
		 $(BUILD_DIR)/security/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-max_len=65536 -rss_limit_mb=4096 $(BUILD_DIR)/security/fuzz-corpus/$$f \
			$(CURDIR)/fuzz/security/corpus/$$f) >$$log 2>&1 || rc=$$?; \
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|Test unit written' $$log || true; \
		if [ $$rc -ne 0 ]; then tail -40 $$log; echo "fuzz-security: $$f FAILED ($$rc)"; exit 1; fi; \
	done

fuzz: fuzz-security
