# Test-guest build function, for tests/vmm and tests/devices.
#
#   include tests/vmm/guests/guest.mk
#   $(eval $(call vmm_guest,OUTPUT.elf,SOURCES.c...))
#
# links the sources with the runtime in tests/vmm/guests/lib/ (start.S,
# runtime.c, guest.h: #include "guest.h") into a freestanding x86-64 ELF with
# a PVH note, loadable by joey's VMM and by qemu-system-x86_64 -M microvm.
ifndef VMM_GUEST_MK
VMM_GUEST_MK := 1

VMM_GUEST_LIB := tests/vmm/guests/lib
VMM_GUEST_RUNTIME := $(VMM_GUEST_LIB)/start.S $(VMM_GUEST_LIB)/runtime.c
VMM_GUEST_DEPS := $(VMM_GUEST_RUNTIME) $(VMM_GUEST_LIB)/guest.h $(VMM_GUEST_LIB)/guest.ld \
	tests/vmm/guests/guest.mk
VMM_GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fno-builtin -I$(VMM_GUEST_LIB)
VMM_GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(VMM_GUEST_LIB)/guest.ld \
	-Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096

# vmm_guest OUTPUT, SOURCES
define vmm_guest
$(1): $(2) $$(VMM_GUEST_DEPS)
	@mkdir -p $$(@D)
	$$(CC) $$(VMM_GUEST_CFLAGS) $$(VMM_GUEST_LDFLAGS) -o $$@ $$(VMM_GUEST_RUNTIME) $(2)
endef

endif
