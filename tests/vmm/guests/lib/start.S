/* Test-guest entry. Two ways in, one way on:
 *  _start       64-bit boot protocol (joey's loader): long mode, paging on,
 *               RSI = zero page. The ELF entry point.
 *  pvh_start32  PVH (QEMU -M microvm -kernel guest.elf): 32-bit protected
 *               mode, paging off, EBX = hvm_start_info. Builds an identity
 *               map of the first 1 GiB and switches to long mode.
 * Both load the GDT below (kernel code 0x10, data 0x18, as the Linux boot
 * protocol uses; user segments and a TSS for guest_start) and call
 * guest_start (runtime.c) on the guest's own stack, which runs guest_main at
 * CPL 3 unless the guest asked for CPL 0 (see guest.h). The identity maps
 * carry the U bit for that. */

	.section .note.Xen, "a", @note
	.p2align 2
	.long 4			/* name size: "Xen\0" */
	.long 4			/* descriptor size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start32

	.section .text.boot, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	movl %ebx, guest_pvh_start_info
	movl $boot_pdpt + 7, boot_pml4	/* present, writable, user */
	movl $boot_pd + 7, boot_pdpt
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x87, %eax			/* present, writable, user, 2 MiB page */
	movl %eax, boot_pd(, %ecx, 8)
	incl %ecx
	cmpl $512, %ecx
	jb 1b
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	lgdt gdt_ptr
	ljmp $0x10, $common64

	.code64
	.globl _start
_start:
	movq %rsi, guest_boot_params(%rip)
	lgdt gdt_ptr(%rip)
	pushq $0x10
	leaq common64(%rip), %rax
	pushq %rax
	lretq
common64:
	movl $0x18, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	leaq guest_stack_top(%rip), %rsp
	xorl %ebp, %ebp
	call guest_start
	movl %eax, %edi
	call guest_exit

	/* Writable: ltr marks the TSS descriptor busy. The user selectors are
	 * the ones Linux uses (0x23, 0x2b, 0x33): a PVM host runs guest user
	 * code on its own user segments, which have these numbers. */
	.data
	.p2align 4
	.globl guest_gdt
guest_gdt:
	.quad 0
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x18: data */
	.quad 0x00cffb000000ffff	/* 0x23: user 32-bit code (unused) */
	.quad 0x00cff3000000ffff	/* 0x2b: user data */
	.quad 0x00affb000000ffff	/* 0x33: user 64-bit code */
	.quad 0
	.quad 0				/* 0x40: 64-bit TSS, filled by guest_start */
	.quad 0
gdt_end:
	.p2align 3
gdt_ptr:
	.word gdt_end - guest_gdt - 1
	.quad guest_gdt

	.section .bss
	.p2align 12
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096
	.p2align 4
guest_stack:	.skip 65536
	.globl guest_stack_top
guest_stack_top:

	.section .note.GNU-stack, "", @progbits
