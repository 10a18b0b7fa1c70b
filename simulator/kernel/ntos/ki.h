/* Internal interfaces between the simulated kernel's own files. */
#ifndef SIMKERNEL_KI_H
#define SIMKERNEL_KI_H
#define SIMKERNEL_BUILDING_KERNEL 1
#include "../sdk/ntapi.h"
#include "simsvc.h"

/* Pool tags, as four characters in memory ("Thrd" etc.). */
#define TAG(a, b, c, d) ((ULONG)(a) | ((ULONG)(b) << 8) | ((ULONG)(c) << 16) | ((ULONG)(d) << 24))

/* The image this code is linked into; lld-link defines it at the image base. */
extern IMAGE_DOS_HEADER __ImageBase;

static inline PKPCR KeGetPcr(VOID) {
  PKPCR Pcr;
  __asm__ volatile("movq %%gs:0x18, %0" : "=r"(Pcr));  /* KPCR.Self */
  return Pcr;
}

static inline PKPRCB KeGetCurrentPrcb(VOID) {
  PKPRCB Prcb;
  __asm__ volatile("movq %%gs:0x20, %0" : "=r"(Prcb));  /* KPCR.CurrentPrcb */
  return Prcb;
}

static inline void KeYieldProcessor(VOID) { __asm__ volatile("pause"); }

/* Spin locks (the simulator preempts threads at slice ends, so waiters also yield). */
VOID KeInitializeSpinLock(KSPIN_LOCK *Lock);
VOID KiAcquireSpinLock(KSPIN_LOCK *Lock);
VOID KiReleaseSpinLock(KSPIN_LOCK *Lock);

/* pool.c */
VOID ExInitializePool(ULONG64 Base, ULONG64 Size);
ULONG64 ExQueryPoolBytesFree(VOID);

/* thread.c */
extern ETHREAD KiIdleThread[MAXIMUM_PROCESSORS];
extern EPROCESS KiSystemProcess;
extern LIST_ENTRY PsActiveProcessHead;
extern LIST_ENTRY KiThreadListHead;
extern volatile LONG KiBugCheckActive;
VOID PsInitializeSystemProcess(VOID);
/* The user-mode side of the system (smss.exe, csrss.exe, explorer.exe): processes with
 * their own address spaces, PEBs and waiting threads (process.c). */
VOID PsInitializeUserProcesses(VOID);
VOID PsStartDeferredThreads(VOID);
/* A new thread of Process on its thread lists, with a Cid (thread.c). */
VOID PspInitializeThread(PETHREAD Thread, PEPROCESS Process, PCSTR Name, PUCHAR Stack,
                         SIZE_T StackSize, KTHREAD_STATE State);
VOID CopyName(CHAR *Destination, SIZE_T Size, PCSTR Source);
NTSTATUS PsCreateNamedSystemThread(PCSTR Name, PKSTART_ROUTINE StartRoutine, PVOID StartContext,
                                   PKTHREAD *Thread);
DECLSPEC_NORETURN VOID KiIdleLoop(VOID);
DECLSPEC_NORETURN VOID KiHaltProcessor(VOID);
VOID PspSystemThreadStartup(PKTHREAD Thread);
/* trap.S: the start stub handed to SIM_CREATE_THREAD (rcx = KTHREAD*). */
VOID KiStartSystemThread(PKTHREAD Thread);

/* loader.c */
PLDR_DATA_TABLE_ENTRY MiRegisterBootImage(PVOID Base, PCWSTR FullName, PCWSTR BaseName);
/* Maps FileName through SIM_MAP_IMAGE; Served/ServedSize: a copy the debugger served
 * (.kdfiles) for the simulator to map instead of its own file, or NULL/0. */
PLDR_DATA_TABLE_ENTRY MmLoadSystemImage(PCSTR FileName, PCWSTR FullName, PCWSTR BaseName,
                                        PVOID Served, ULONG64 ServedSize);
NTSTATUS MmUnloadSystemImage(PLDR_DATA_TABLE_ENTRY Entry);
NTSTATUS IopCallDriverEntry(PLDR_DATA_TABLE_ENTRY Entry, PCWSTR ServiceName);
IMAGE_NT_HEADERS64 *RtlImageNtHeader(PVOID Base);

/* kddata.c */
VOID KdInitializeDebuggerData(PSIM_LOADER_BLOCK LoaderBlock);

/* kdfile.c: files the debugger serves (.kdfiles) */
VOID IopRequestReplacementFile(PCWSTR Path);
/* The whole file in a pool buffer (free with IopFreeRemoteFile), or NULL and why. */
PVOID IopPullRemoteFile(PCWSTR Path, ULONG64 *Size, NTSTATUS *Status);
VOID IopFreeRemoteFile(PVOID Buffer);

/* workers.c */
typedef struct _SYSTEM_WORKER_PACING {
  ULONG64 TickPeriod;   /* iterations between tick lines; 0: no tick lines */
  ULONG64 LoadDelay;    /* yields before each load of simdrv2.sys */
  ULONG64 LoadedTime;   /* yields simdrv2.sys stays loaded */
} SYSTEM_WORKER_PACING;
extern SYSTEM_WORKER_PACING ExpPacing;
VOID ExStartSystemWorkers(ULONG64 Seed);
VOID ExpImageCycler(PVOID Context);  /* the automatic load/unload cycle of simdrv2.sys */

/* imagectl.c: the image cycler's manual mode (simdrv2.sys on request). The values are
 * an interface: the host (python/src/sim_host.cpp) and kd users write and read them. */
typedef enum _IMAGE_CYCLER_MODE {
  ImageCyclerAutomatic = 0,  /* ExpPacing's cycle (the default) */
  ImageCyclerManual = 1,     /* only on request (ExpImageRequest) */
} IMAGE_CYCLER_MODE;
typedef enum _IMAGE_REQUEST {
  ImageRequestNone = 0,
  ImageRequestLoad = 1,
  ImageRequestUnload = 2,
} IMAGE_REQUEST;
typedef enum _IMAGE_CYCLER_STATE {
  ImageCyclerNotManual = 0,  /* automatic mode, or the cycler has not started yet */
  ImageUnloaded = 1,
  ImageLoading = 2,
  ImageLoaded = 3,
  ImageUnloading = 4,
  ImageLoadFailed = 5,       /* the last load failed: no simdrv2.sys, or DriverEntry failed */
} IMAGE_CYCLER_STATE;
VOID ExpImageCyclerStart(PVOID Context);

#endif
