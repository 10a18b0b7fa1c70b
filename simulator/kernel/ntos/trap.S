/* Entry points that must be exact instructions: the breakpoint routines, the
 * unhandled-exception entry and the system thread start stub. Each carries unwind
 * data (.seh_*) so a debugger can walk through it. */
        .intel_syntax noprefix
        .text

/* VOID DbgBreakPoint(VOID) */
        .globl  DbgBreakPoint
        .def    DbgBreakPoint; .scl 2; .type 32; .endef
        .p2align 4
DbgBreakPoint:
        .seh_proc DbgBreakPoint
        .seh_endprologue
        int3
        ret
        .seh_endproc

/* VOID DbgBreakPointWithStatus(ULONG Status): the status stays in ecx for the debugger.
 * A debugger recognises a bug check by the address of this int 3
 * (KDDEBUGGER_DATA64.BreakpointWithStatus). */
        .globl  DbgBreakPointWithStatus
        .def    DbgBreakPointWithStatus; .scl 2; .type 32; .endef
        .globl  RtlpBreakWithStatusInstruction
        .def    RtlpBreakWithStatusInstruction; .scl 2; .type 32; .endef
        .p2align 4
DbgBreakPointWithStatus:
        .seh_proc DbgBreakPointWithStatus
        .seh_endprologue
RtlpBreakWithStatusInstruction:
        int3
        ret
        .seh_endproc

/* KiUnhandledException: the simulator sends an exception nobody handled here with
 * rcx = code, rdx = faulting rip, r8/r9 = Information[0..1] (ABI.md), after pushing
 * an interrupt frame as the CPU would: [rsp] = faulting rip, cs, rflags, faulting
 * rsp, ss. .seh_pushframe (UWOP_PUSH_MACHFRAME) tells unwinders to take rip and rsp
 * from that frame, so stack walks continue into the faulting function whatever the
 * simulator's alignment. rbp keeps this frame walkable; the C handler then runs on a
 * 16-byte aligned stack. */
        .globl  KiUnhandledException
        .def    KiUnhandledException; .scl 2; .type 32; .endef
        .p2align 4
KiUnhandledException:
        .seh_proc KiUnhandledException
        .seh_pushframe
        push    rbp
        .seh_pushreg rbp
        mov     rbp, rsp
        .seh_setframe rbp, 0
        .seh_endprologue
        and     rsp, -16
        sub     rsp, 32
        call    KiDispatchUnhandledException
        int3
        .seh_endproc

/* KdpCauseBugCheck: a bug check a debugger asked for (.crash). The simulator enters
 * it as it enters KiUnhandledException (same interrupt frame) with rcx = the code,
 * usually MANUALLY_INITIATED_CRASH (0xE2); stack walks continue into whatever the
 * processor was running. */
        .globl  KdpCauseBugCheck
        .def    KdpCauseBugCheck; .scl 2; .type 32; .endef
        .p2align 4
KdpCauseBugCheck:
        .seh_proc KdpCauseBugCheck
        .seh_pushframe
        push    rbp
        .seh_pushreg rbp
        mov     rbp, rsp
        .seh_setframe rbp, 0
        .seh_endprologue
        and     rsp, -16
        sub     rsp, 48
        xor     edx, edx
        xor     r8d, r8d
        xor     r9d, r9d
        mov     qword ptr [rsp + 32], 0
        call    KeBugCheckEx
        int3
        .seh_endproc

/* KiStartSystemThread(KTHREAD *Thread): where SIM_CREATE_THREAD starts a thread
 * (rcx = the KTHREAD). A zero return address ends stack walks here; rsp then has the
 * alignment of a function entry. */
        .globl  KiStartSystemThread
        .def    KiStartSystemThread; .scl 2; .type 32; .endef
        .p2align 4
KiStartSystemThread:
        and     rsp, -16
        push    0
        jmp     PspSystemThreadStartup

        .section .drectve,"yn"
        .ascii  " -export:DbgBreakPoint -export:DbgBreakPointWithStatus"
        .ascii  " -export:RtlpBreakWithStatusInstruction -export:KiUnhandledException"
        .ascii  " -export:KdpCauseBugCheck"
