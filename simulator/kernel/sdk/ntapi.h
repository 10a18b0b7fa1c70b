/* The simulated kernel's exported API: what simdrv.sys and simdrv2.sys import from
 * simkrnl.exe (names and signatures as in the WDK, behaviour as simple as possible). */
#ifndef SIMKERNEL_NTAPI_H
#define SIMKERNEL_NTAPI_H
#include "nttypes.h"
#include "ke.h"
#include "kd.h"
#include "ldr.h"

#ifdef SIMKERNEL_BUILDING_KERNEL
#define NTKERNELAPI __declspec(dllexport)
#else
#define NTKERNELAPI __declspec(dllimport)
#endif
#define NTAPI
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

typedef PVOID HANDLE, *PHANDLE;
typedef ULONG ACCESS_MASK;
typedef UCHAR KPROCESSOR_MODE;
#define KernelMode 0
#define THREAD_ALL_ACCESS 0x1FFFFF

typedef union _LARGE_INTEGER {
  struct { ULONG LowPart; LONG HighPart; } u;
  LONG64 QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef enum _POOL_TYPE { NonPagedPool = 0, PagedPool = 1, NonPagedPoolNx = 512 } POOL_TYPE;

/* Bug check codes this kernel raises. */
#define SYSTEM_THREAD_EXCEPTION_NOT_HANDLED 0x7E
#define MANUALLY_INITIATED_CRASH 0xE2
/* DbgBreakPointWithStatus argument used by KeBugCheckEx (DBG_STATUS_BUGCHECK_FIRST). */
#define DBG_STATUS_BUGCHECK_FIRST 3

/* Debug output and breakpoints (int 2Dh services, ABI.md). */
NTKERNELAPI NTSTATUS DbgPrint(PCSTR Format, ...) PRINTF_LIKE(1, 2);
NTKERNELAPI ULONG DbgPrompt(PCCH Prompt, PCHAR Response, ULONG Length);
NTKERNELAPI VOID DbgBreakPoint(VOID);
NTKERNELAPI VOID DbgBreakPointWithStatus(ULONG Status);
NTKERNELAPI VOID RtlpBreakWithStatusInstruction(VOID);  /* a label: the int 3 above */
NTKERNELAPI VOID DbgLoadImageSymbols(PSTRING FileName, PVOID ImageBase, ULONG_PTR ProcessId);
NTKERNELAPI VOID DbgUnLoadImageSymbols(PSTRING FileName, PVOID ImageBase, ULONG_PTR ProcessId);

/* Bug checks and unhandled exceptions. */
NTKERNELAPI DECLSPEC_NORETURN VOID KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR P1,
                                                ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4);
NTKERNELAPI DECLSPEC_NORETURN VOID KeBugCheck(ULONG BugCheckCode);
/* Entered by the simulator (not called): rcx code, rdx faulting rip, r8/r9 Information[0..1]. */
NTKERNELAPI VOID KiUnhandledException(ULONG Code, ULONG64 Rip, ULONG64 Info0, ULONG64 Info1);
/* Entered by the simulator for a debugger's .crash: rcx = bug check code. */
NTKERNELAPI VOID KdpCauseBugCheck(ULONG BugCheckCode);

/* Threads and processors. */
NTKERNELAPI NTSTATUS PsCreateSystemThread(PHANDLE ThreadHandle, ACCESS_MASK DesiredAccess,
                                          PVOID ObjectAttributes, HANDLE ProcessHandle,
                                          PCLIENT_ID ClientId, PKSTART_ROUTINE StartRoutine,
                                          PVOID StartContext);
NTKERNELAPI DECLSPEC_NORETURN NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus);
/* Gives up the processor once (the simulated clock has no timers); Interval is ignored. */
NTKERNELAPI NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                            PLARGE_INTEGER Interval);
NTKERNELAPI NTSTATUS ZwYieldExecution(VOID);
NTKERNELAPI ULONG KeGetCurrentProcessorNumber(VOID);
NTKERNELAPI PKTHREAD KeGetCurrentThread(VOID);
NTKERNELAPI HANDLE PsGetCurrentThreadId(VOID);

/* Pool. */
NTKERNELAPI PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
NTKERNELAPI PVOID ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes);
NTKERNELAPI VOID ExFreePoolWithTag(PVOID P, ULONG Tag);
NTKERNELAPI VOID ExFreePool(PVOID P);

/* Run-time library. */
NTKERNELAPI VOID RtlInitUnicodeString(PUNICODE_STRING Destination, PCWSTR Source);
NTKERNELAPI VOID RtlInitAnsiString(PANSI_STRING Destination, PCSTR Source);
NTKERNELAPI void *memcpy(void *Destination, const void *Source, SIZE_T Count);
NTKERNELAPI void *memmove(void *Destination, const void *Source, SIZE_T Count);
NTKERNELAPI void *memset(void *Destination, int Value, SIZE_T Count);
NTKERNELAPI int memcmp(const void *A, const void *B, SIZE_T Count);
NTKERNELAPI SIZE_T strlen(const char *String);
NTKERNELAPI SIZE_T wcslen(const unsigned short *String);
/* Always NUL-terminates (unlike the CRT's); returns the length it would have written. */
NTKERNELAPI int _vsnprintf(char *Buffer, SIZE_T Count, const char *Format, va_list Args);
NTKERNELAPI int _snprintf(char *Buffer, SIZE_T Count, const char *Format, ...) PRINTF_LIKE(3, 4);

/* Data the debugger and the simulator look up by name (ABI.md). */
NTKERNELAPI extern LIST_ENTRY PsLoadedModuleList;
NTKERNELAPI extern KDDEBUGGER_DATA64 KdDebuggerDataBlock;
NTKERNELAPI extern LIST_ENTRY64 KdpDebuggerDataListHead;
NTKERNELAPI extern CHAR NtBuildLab[];
/* 0xF0000000 | build, as Windows exports it (a free build). */
NTKERNELAPI extern ULONG NtBuildNumber;
NTKERNELAPI extern volatile ULONG64 KeTickCount;     /* advanced by the simulator */
NTKERNELAPI extern ULONG64 KiBugCheckData[5];
NTKERNELAPI extern PKPRCB KiProcessorBlock[MAXIMUM_PROCESSORS];
NTKERNELAPI extern PEPROCESS PsInitialSystemProcess;
NTKERNELAPI extern volatile ULONG KeNumberProcessors;

#endif
