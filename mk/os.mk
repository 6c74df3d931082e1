# ffi/os: the small C helper library behind src/os/ (Deno.dlopen), and its
# C test under ASan/UBSan. Linked -z nodelete: its threads (I/O loop, and
# calls parked in it) outlive any one Deno isolate that closes its handle,
# as each test module does, so dlclose must never unmap it.
OS_SRCS := $(wildcard ffi/os/src/*.c)
OS_HDRS := $(wildcard ffi/os/include/*.h ffi/os/src/*.h)
OS_LIB := $(BUILD_DIR)/os/libjoeyos.so
OS_TEST := $(BUILD_DIR)/os/os_test

BUILD_TARGETS += $(OS_LIB) $(OS_TEST)
APT_PACKAGES += runc crun busybox-static gcc libc6-dev util-linux

$(OS_LIB): $(OS_SRCS) $(OS_HDRS) mk/os.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) -Iffi/os/include -shared -Wl,-z,nodelete -o $@ $(OS_SRCS) -lpthread

$(OS_TEST): tests/os/os_test.c $(OS_SRCS) $(OS_HDRS) mk/os.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -Iffi/os/include -o $@ tests/os/os_test.c $(OS_SRCS) -lpthread

.PHONY: os
os: $(OS_LIB) $(OS_TEST)
