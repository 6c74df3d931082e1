/* Test-guest entry. Two ways in, one way on:
 *  _start       64-bit boot protocol (joey's loader): long mode, paging on,
 *               RSI = zero page. The ELF entry point.
 *  pvh_start32  PVH (QEMU -M microvm -kernel guest.elf): 32-bit protected
 *               mode, paging off, EBX = hvm_start_info. Builds an identity
 *               map of the first 1 GiB and switches to long mode.
 * Both load the GDT below (code 0x10, data 0x18, as the Linux boot protocol
 * uses) and call guest_main on the guest's own stack. */

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
	movl $boot_pdpt + 3, boot_pml4
	movl $boot_pd + 3, boot_pdpt
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax			/* present, writable, 2 MiB page */
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
	call guest_main
	movl %eax, %edi
	call guest_exit

	.section .rodata
	.p2align 3
gdt:
	.quad 0
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x18: data */
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

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
