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

/* KPROCESS, EPROCESS, KTHREAD and ETHREAD are laid out per modelled build: the
 * bodies come from sim_builds.h, generated from simulator/kernel/builds.py (the one
 * table of builds and their offsets, cited there) for the build this image is compiled
 * for (-DSIM_BUILD=N). Fields the table does not name are Reserved<offset> padding. */
#include "sim_builds.h"

typedef struct _CLIENT_ID {
  PVOID UniqueProcess;
  PVOID UniqueThread;
} CLIENT_ID, *PCLIENT_ID;
C_ASSERT(sizeof(CLIENT_ID) == 0x10);

typedef struct _KPROCESS {
  SIM_KPROCESS_BODY
} KPROCESS, *PKPROCESS;
C_ASSERT(FIELD_OFFSET(KPROCESS, DirectoryTableBase) == SIM_OFFSET_KPROCESS_DirectoryTableBase);
C_ASSERT(FIELD_OFFSET(KPROCESS, ThreadListHead) == SIM_OFFSET_KPROCESS_ThreadListHead);
C_ASSERT(sizeof(KPROCESS) == SIM_SIZE_KPROCESS);

typedef struct _EPROCESS {
  SIM_EPROCESS_BODY
} EPROCESS, *PEPROCESS;
C_ASSERT(FIELD_OFFSET(EPROCESS, UniqueProcessId) == SIM_OFFSET_EPROCESS_UniqueProcessId);
C_ASSERT(FIELD_OFFSET(EPROCESS, ActiveProcessLinks) == SIM_OFFSET_EPROCESS_ActiveProcessLinks);
C_ASSERT(FIELD_OFFSET(EPROCESS, Peb) == SIM_OFFSET_EPROCESS_Peb);
C_ASSERT(FIELD_OFFSET(EPROCESS, ImageFileName) == SIM_OFFSET_EPROCESS_ImageFileName);
C_ASSERT(FIELD_OFFSET(EPROCESS, ThreadListHead) == SIM_OFFSET_EPROCESS_ThreadListHead);
C_ASSERT(sizeof(EPROCESS) == SIM_OFFSET_EPROCESS_size);

typedef struct _KTHREAD {
  SIM_KTHREAD_BODY
} KTHREAD, *PKTHREAD;
C_ASSERT(FIELD_OFFSET(KTHREAD, InitialStack) == SIM_OFFSET_KTHREAD_InitialStack);
C_ASSERT(FIELD_OFFSET(KTHREAD, KernelStack) == SIM_OFFSET_KTHREAD_KernelStack);
C_ASSERT(FIELD_OFFSET(KTHREAD, ApcState) == SIM_OFFSET_KTHREAD_ApcState);
C_ASSERT(FIELD_OFFSET(KTHREAD, Teb) == SIM_OFFSET_KTHREAD_Teb);
C_ASSERT(FIELD_OFFSET(KTHREAD, State) == SIM_OFFSET_KTHREAD_State);
C_ASSERT(FIELD_OFFSET(KTHREAD, Process) == SIM_OFFSET_KTHREAD_Process);
C_ASSERT(FIELD_OFFSET(KTHREAD, ThreadListEntry) == SIM_OFFSET_KTHREAD_ThreadListEntry);
C_ASSERT(sizeof(KTHREAD) == SIM_OFFSET_KTHREAD_size);

/* This kernel's own per-thread fields, past the real ETHREAD (SimExtension). */
typedef struct _SIM_THREAD_EXTENSION {
  PKSTART_ROUTINE StartRoutine;
  PVOID StartContext;
  ULONG ThreadId;
  ULONG CreatedOnProcessor;
  LIST_ENTRY ThreadListEntry;       /* KiThreadListHead: every thread this kernel made */
  struct _ETHREAD *DeferredNext;    /* created during boot, started when boot ends */
  CHAR Name[16];
} SIM_THREAD_EXTENSION;

typedef struct _ETHREAD {
  SIM_ETHREAD_BODY
  SIM_THREAD_EXTENSION SimExtension;
} ETHREAD, *PETHREAD;
C_ASSERT(FIELD_OFFSET(ETHREAD, Cid) == SIM_OFFSET_ETHREAD_Cid);
C_ASSERT(FIELD_OFFSET(ETHREAD, Win32StartAddress) == SIM_OFFSET_ETHREAD_Win32StartAddress);
C_ASSERT(FIELD_OFFSET(ETHREAD, ThreadListEntry) == SIM_OFFSET_ETHREAD_ThreadListEntry);
C_ASSERT(FIELD_OFFSET(ETHREAD, SimExtension) == SIM_OFFSET_ETHREAD_size);

/* The Sim fields of a thread known by its KTHREAD (Tcb is at 0 of the ETHREAD). */
#define KiSimThread(Thread) (&((PETHREAD)(Thread))->SimExtension)

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
