/* Processor and thread structures of the simulated kernel.
 * Offsets named in simulator/ABI.md and docs/protocol.md section 5 follow Windows 10 x64 and are
 * asserted below; fields past them are this kernel's own (named Sim*). */
#ifndef SIMKERNEL_KE_H
#define SIMKERNEL_KE_H
#include "nttypes.h"

#define MAXIMUM_PROCESSORS 8

typedef struct DECLSPEC_ALIGN(16) _M128A {
  ULONG64 Low;
  LONG64 High;
} M128A;

typedef struct DECLSPEC_ALIGN(16) _XSAVE_FORMAT {
  USHORT ControlWord, StatusWord;
  UCHAR TagWord, Reserved1;
  USHORT ErrorOpcode;
  ULONG ErrorOffset;
  USHORT ErrorSelector, Reserved2;
  ULONG DataOffset;
  USHORT DataSelector, Reserved3;
  ULONG MxCsr, MxCsr_Mask;
  M128A FloatRegisters[8];
  M128A XmmRegisters[16];
  UCHAR Reserved4[96];
} XSAVE_FORMAT;
C_ASSERT(sizeof(XSAVE_FORMAT) == 512);

/* The AMD64 CONTEXT record (1232 bytes, docs/protocol.md section 5). */
typedef struct DECLSPEC_ALIGN(16) _CONTEXT {
  ULONG64 P1Home, P2Home, P3Home, P4Home, P5Home, P6Home;
  ULONG ContextFlags, MxCsr;
  USHORT SegCs, SegDs, SegEs, SegFs, SegGs, SegSs;
  ULONG EFlags;
  ULONG64 Dr0, Dr1, Dr2, Dr3, Dr6, Dr7;
  ULONG64 Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi;
  ULONG64 R8, R9, R10, R11, R12, R13, R14, R15;
  ULONG64 Rip;
  XSAVE_FORMAT FltSave;
  M128A VectorRegister[26];
  ULONG64 VectorControl, DebugControl;
  ULONG64 LastBranchToRip, LastBranchFromRip, LastExceptionToRip, LastExceptionFromRip;
} CONTEXT, *PCONTEXT;
C_ASSERT(sizeof(CONTEXT) == 0x4D0);
C_ASSERT(FIELD_OFFSET(CONTEXT, Rip) == 0xF8);
C_ASSERT(FIELD_OFFSET(CONTEXT, VectorControl) == 0x4A0);

typedef struct _KDESCRIPTOR {
  USHORT Pad[3];
  USHORT Limit;
  PVOID Base;
} KDESCRIPTOR;

/* KSPECIAL_REGISTERS, 224 bytes (docs/protocol.md section 5). */
typedef struct _KSPECIAL_REGISTERS {
  ULONG64 Cr0, Cr2, Cr3, Cr4;
  ULONG64 KernelDr0, KernelDr1, KernelDr2, KernelDr3, KernelDr6, KernelDr7;
  KDESCRIPTOR Gdtr, Idtr;
  USHORT Tr, Ldtr;
  ULONG MxCsr;
  ULONG64 DebugControl;
  ULONG64 LastBranchToRip, LastBranchFromRip, LastExceptionToRip, LastExceptionFromRip;
  ULONG64 Cr8, MsrGsBase, MsrGsSwap, MsrStar, MsrLStar, MsrCStar, MsrSyscallMask, Xcr0;
} KSPECIAL_REGISTERS;
C_ASSERT(sizeof(KSPECIAL_REGISTERS) == 0xE0);
C_ASSERT(FIELD_OFFSET(KSPECIAL_REGISTERS, Gdtr) == 0x50);
C_ASSERT(FIELD_OFFSET(KSPECIAL_REGISTERS, Cr8) == 0xA0);

typedef struct _KPROCESSOR_STATE {
  KSPECIAL_REGISTERS SpecialRegisters;
  CONTEXT ContextFrame;
} KPROCESSOR_STATE;

typedef struct _DISPATCHER_HEADER {
  UCHAR Type, Signalling, Size, Reserved1;
  LONG SignalState;
  LIST_ENTRY WaitListHead;
} DISPATCHER_HEADER;
C_ASSERT(sizeof(DISPATCHER_HEADER) == 0x18);

struct _KPROCESS;
struct _KTHREAD;
typedef VOID (*PKSTART_ROUTINE)(PVOID StartContext);

typedef struct _KAPC_STATE {
  LIST_ENTRY ApcListHead[2];
  struct _KPROCESS *Process;
  UCHAR InProgressFlags, KernelApcPending, UserApcPendingAll, Reserved;
} KAPC_STATE;

/* Thread states as Windows numbers them (KTHREAD_STATE). */
typedef enum _KTHREAD_STATE {
  Initialized = 0, Ready = 1, Running = 2, Standby = 3, Terminated = 4, Waiting = 5,
} KTHREAD_STATE;

/* A minimal KTHREAD: the stack and process fields sit where Windows 10 19041 keeps
 * them so debugger extensions that know those offsets read sensible values. */
typedef struct _KTHREAD {
  DISPATCHER_HEADER Header;          /* 0x000 */
  PVOID SListFaultAddress;           /* 0x018 */
  ULONG64 QuantumTarget;             /* 0x020 */
  PVOID InitialStack;                /* 0x028 */
  PVOID StackLimit;                  /* 0x030 */
  PVOID StackBase;                   /* 0x038 */
  KSPIN_LOCK ThreadLock;             /* 0x040 */
  ULONG64 CycleTime;                 /* 0x048 */
  ULONG CurrentRunTime;              /* 0x050 */
  ULONG ExpectedRunTime;             /* 0x054 */
  PVOID KernelStack;                 /* 0x058 */
  UCHAR Reserved060[0x98 - 0x60];
  KAPC_STATE ApcState;               /* 0x098; ApcState.Process at 0x0B8 */
  UCHAR Reserved0C8[0xF0 - 0xC8];
  PVOID Teb;                         /* 0x0F0 */
  UCHAR Reserved0F8[0x184 - 0xF8];
  UCHAR State;                       /* 0x184, KTHREAD_STATE */
  UCHAR Reserved185[0x220 - 0x185];
  struct _KPROCESS *Process;         /* 0x220 */
  /* This kernel's own fields. */
  PKSTART_ROUTINE SimStartRoutine;   /* 0x228 */
  PVOID SimStartContext;
  ULONG SimThreadId;
  ULONG SimCreatedOnProcessor;
  LIST_ENTRY SimThreadListEntry;     /* KiThreadListHead */
  struct _KTHREAD *SimDeferredNext;  /* created during boot, started when boot ends */
  CHAR SimName[16];
} KTHREAD, *PKTHREAD, *PETHREAD;
C_ASSERT(FIELD_OFFSET(KTHREAD, InitialStack) == 0x28);
C_ASSERT(FIELD_OFFSET(KTHREAD, KernelStack) == 0x58);
C_ASSERT(FIELD_OFFSET(KTHREAD, ApcState) + FIELD_OFFSET(KAPC_STATE, Process) == 0xB8);
C_ASSERT(FIELD_OFFSET(KTHREAD, Teb) == 0xF0);
C_ASSERT(FIELD_OFFSET(KTHREAD, State) == 0x184);
C_ASSERT(FIELD_OFFSET(KTHREAD, Process) == 0x220);

/* KPROCESS/EPROCESS: only the System process exists. Offsets of Windows 10 19041. */
typedef struct _KPROCESS {
  DISPATCHER_HEADER Header;          /* 0x000 */
  LIST_ENTRY ProfileListHead;        /* 0x018 */
  ULONG64 DirectoryTableBase;        /* 0x028 */
  LIST_ENTRY ThreadListHead;         /* 0x030 */
  UCHAR Reserved040[0x438 - 0x40];
} KPROCESS, *PKPROCESS;

typedef struct _EPROCESS {
  KPROCESS Pcb;                      /* 0x000 */
  ULONG64 ProcessLock;               /* 0x438 */
  PVOID UniqueProcessId;             /* 0x440 */
  LIST_ENTRY ActiveProcessLinks;     /* 0x448, on PsActiveProcessHead */
  UCHAR Reserved458[0x540 - 0x458];
  PVOID InheritedFromUniqueProcessId;/* 0x540 */
  UCHAR Reserved548[0x550 - 0x548];
  PVOID Peb;                         /* 0x550 */
  UCHAR Reserved558[0x5A8 - 0x558];
  UCHAR ImageFileName[15];           /* 0x5A8 */
  UCHAR Reserved5B7[0x5E0 - 0x5B7];
  LIST_ENTRY ThreadListHead;         /* 0x5E0 */
  UCHAR Reserved5F0[0xA40 - 0x5F0];
} EPROCESS, *PEPROCESS;
C_ASSERT(FIELD_OFFSET(EPROCESS, ActiveProcessLinks) == 0x448);
C_ASSERT(FIELD_OFFSET(EPROCESS, ImageFileName) == 0x5A8);
C_ASSERT(sizeof(EPROCESS) == 0xA40);

/* KPRCB: the fields up to Number are Windows 10's (ABI.md); ProcessorState sits where
 * Windows 7/8 x64 kept it. */
typedef struct _KPRCB {
  ULONG MxCsr;                       /* 0x000 */
  UCHAR LegacyNumber;                /* 0x004 */
  UCHAR ReservedMustBeZero;
  UCHAR InterruptRequest;
  UCHAR IdleHalt;
  PKTHREAD CurrentThread;            /* 0x008: gs:[0x188] */
  PKTHREAD NextThread;               /* 0x010 */
  PKTHREAD IdleThread;               /* 0x018 */
  UCHAR NestingLevel;                /* 0x020 */
  UCHAR ClockOwner;
  UCHAR PendingTickFlags;
  UCHAR IdleState;
  ULONG Number;                      /* 0x024: gs:[0x1A4] */
  ULONG64 RspBase;                   /* 0x028 */
  KSPIN_LOCK PrcbLock;               /* 0x030 */
  PCHAR PriorityState;               /* 0x038 */
  KPROCESSOR_STATE ProcessorState;   /* 0x040 */
  PCONTEXT Context;                  /* &ProcessorState.ContextFrame */
  CHAR CpuType;
  CHAR CpuID;
  USHORT CpuStep;
  ULONG MHz;
  CHAR VendorString[13];
  UCHAR SimReserved[3];
  ULONG64 SimTicksIdle;              /* idle loop iterations on this processor */
} KPRCB, *PKPRCB;
C_ASSERT(FIELD_OFFSET(KPRCB, CurrentThread) == 0x08);
C_ASSERT(FIELD_OFFSET(KPRCB, NextThread) == 0x10);
C_ASSERT(FIELD_OFFSET(KPRCB, IdleThread) == 0x18);
C_ASSERT(FIELD_OFFSET(KPRCB, Number) == 0x24);

/* KPCR: one page per processor; GS base points at it (ABI.md). */
typedef struct _KPCR {
  PVOID GdtBase;                     /* 0x000 */
  PVOID TssBase;                     /* 0x008 */
  ULONG64 UserRsp;                   /* 0x010 */
  struct _KPCR *Self;                /* 0x018 */
  PKPRCB CurrentPrcb;                /* 0x020 */
  PVOID LockArray;                   /* 0x028 */
  PVOID Used_Self;                   /* 0x030 */
  PVOID IdtBase;                     /* 0x038 */
  ULONG64 Unused[2];                 /* 0x040 */
  UCHAR Irql;                        /* 0x050 */
  UCHAR SecondLevelCacheAssociativity;
  UCHAR ObsoleteNumber;
  UCHAR Fill0;
  ULONG Unused0[3];                  /* 0x054 */
  USHORT MajorVersion;               /* 0x060 */
  USHORT MinorVersion;
  ULONG StallScaleFactor;
  PVOID Unused1[3];                  /* 0x068 */
  ULONG KernelReserved[15];          /* 0x080 */
  ULONG SecondLevelCacheSize;        /* 0x0BC */
  ULONG HalReserved[16];             /* 0x0C0 */
  ULONG Unused2;                     /* 0x100 */
  PVOID KdVersionBlock;              /* 0x108 */
  PVOID Unused3;                     /* 0x110 */
  ULONG PcrAlign1[24];               /* 0x118 */
  KPRCB Prcb;                        /* 0x180 */
} KPCR, *PKPCR;
C_ASSERT(FIELD_OFFSET(KPCR, Self) == 0x18);
C_ASSERT(FIELD_OFFSET(KPCR, CurrentPrcb) == 0x20);
C_ASSERT(FIELD_OFFSET(KPCR, Prcb) == 0x180);
C_ASSERT(sizeof(KPCR) <= 0x1000);

#endif
