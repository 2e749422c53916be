/* Multiboot entry, flat GDT and 256 interrupt stubs for the irqchip guest test kernel. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        cli
        mov $stack_top, %esp
        lgdt gdt_desc
        ljmp $0x08, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss
        call kmain
2:      cli
        hlt
        jmp 2b

/* Stub n sits at isr_stubs + 16 * n: it pushes a dummy error code where the CPU pushes none,
   then the vector, and joins isr_common. */
        .align 16
        .globl isr_stubs
isr_stubs:
        .set vec, 0
        .rept 256
        .align 16
        .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        .else
        push $0
        .endif
        push $vec
        jmp isr_common
        .set vec, vec + 1
        .endr

isr_common:
        pusha
        cld
        push 32(%esp)          /* the vector */
        call isr_dispatch
        add $4, %esp
        popa
        add $8, %esp           /* vector and error code */
        iret

        .data
        .align 8
gdt:
        .quad 0
        .quad 0x00CF9A000000FFFF   /* 0x08: code, flat, 32-bit */
        .quad 0x00CF92000000FFFF   /* 0x10: data, flat */
gdt_desc:
        .word gdt_desc - gdt - 1
        .long gdt

        .bss
        .align 16
        .space 65536
stack_top:
        .section .note.GNU-stack, "", @progbits
