/* Test-guest runtime: a freestanding 64-bit environment for small guests
 * that exercise the VMM (and, in tests/devices/guests/, device models).
 *
 * A guest is a C file defining `int guest_main(void)`; its return value
 * leaves through the debug-exit port. It is entered either by joey's loader
 * (64-bit boot protocol, RSI = zero page, identity map of 4 GiB) or by QEMU
 * through the PVH note (32-bit entry; start.S builds a 1 GiB identity map).
 * No SSE (built with -mgeneral-regs-only), no interrupts (IF stays clear).
 * guest_main runs at CPL 3 unless the guest says GUEST_NEEDS_CPL0 (below).
 *
 * Build one with the make function in guest.mk:
 *   include tests/vmm/guests/guest.mk
 *   $(eval $(call vmm_guest,$(BUILD_DIR)/x/my.elf,tests/x/guests/my.c))
 */
#ifndef JOEY_TEST_GUEST_H
#define JOEY_TEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest-physical page the host side of a test may read (progress counters,
 * results). Below 1 MiB, clear of the loader's boot structures. */
#define GUEST_MAILBOX 0x30000ULL
#define GUEST_DEBUG_EXIT_PORT 0xf4
#define GUEST_COM1 0x3f8

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO: volatile accesses of exactly the given width. */
static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline uint64_t mmio_read64(uint64_t a) { return *(volatile uint64_t *)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void mmio_write64(uint64_t a, uint64_t v) { *(volatile uint64_t *)a = v; }

/* Full barrier for shared-memory protocols (virtqueues). */
static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* Zero page (boot_params) from joey's loader; 0 when entered through PVH. */
extern uint64_t guest_boot_params;
/* hvm_start_info from a PVH loader (QEMU); 0 when entered by joey. */
extern uint32_t guest_pvh_start_info;
/* The kernel command line, or "" when there is none. */
const char *guest_cmdline(void);

void uart_putc(char c);
void uart_puts(const char *s);
void uart_put_hex(uint64_t v);
void uart_put_dec(uint64_t v);

/* guest_main runs at CPL 3 with IOPL 3 (port I/O, MMIO and memory work;
 * privileged instructions such as hlt, lidt, mov to/from CRs, rdmsr fault)
 * because that is the ring a PVM host runs natively (see runtime.c). A
 * guest that needs ring 0 says so at file scope with GUEST_NEEDS_CPL0; it
 * then runs, slowly on PVM, at CPL 0 as before. */
#define GUEST_NEEDS_CPL0 const int guest_needs_cpl0 = 1
/* True while guest_main runs at CPL 3. */
extern bool guest_user_mode;

/* Leaves the VM through the debug-exit port; never returns. */
__attribute__((noreturn)) void guest_exit(uint32_t code);

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* The guest's program. */
int guest_main(void);

#endif
