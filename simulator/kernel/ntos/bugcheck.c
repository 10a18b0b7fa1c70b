/* Bug checks: record the code and parameters where debuggers look for them, tell the
 * debugger through the bug check breakpoint, then stop the machine. */
#include "ki.h"

/* Code and four parameters of the current bug check (KDDEBUGGER_DATA64.KiBugcheckData). */
ULONG64 KiBugCheckData[5];

/* Set by the first processor that bug checks; every other thread then halts at its
 * next yield, so the machine freezes as Windows' does. */
volatile LONG KiBugCheckActive;

/* An EXCEPTION_RECORD for bug check parameter 3 of SYSTEM_THREAD_EXCEPTION_NOT_HANDLED. */
typedef struct _EXCEPTION_RECORD {
  NTSTATUS ExceptionCode;
  ULONG ExceptionFlags;
  struct _EXCEPTION_RECORD *ExceptionRecord;
  PVOID ExceptionAddress;
  ULONG NumberParameters;
  ULONG64 ExceptionInformation[15];
} EXCEPTION_RECORD, *PEXCEPTION_RECORD;
C_ASSERT(sizeof(EXCEPTION_RECORD) == 0x98);

#define EXCEPTION_NONCONTINUABLE 1

/* The last unhandled exception; static so it outlives the bug check for the debugger. */
EXCEPTION_RECORD KiUnhandledExceptionRecord;

DECLSPEC_NORETURN VOID KiHaltProcessor(VOID) {
  __asm__ volatile("cli");
  for (;;)
    KiSimService(SIM_HALT, 0, 0, 0, 0);
}

VOID KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4) {
  /* A second bug check (another processor, or the breakpoint below reaching
   * KiUnhandledException when no debugger is attached) just stops. */
  if (__atomic_exchange_n(&KiBugCheckActive, 1, __ATOMIC_ACQ_REL) != 0)
    KiHaltProcessor();
  KiBugCheckData[0] = BugCheckCode;
  KiBugCheckData[1] = P1;
  KiBugCheckData[2] = P2;
  KiBugCheckData[3] = P3;
  KiBugCheckData[4] = P4;
  /* No text of its own: as on Windows, the debugger prints "*** Fatal System Error"
   * after reading KiBugCheckData. */
  DbgBreakPointWithStatus(DBG_STATUS_BUGCHECK_FIRST);
  KiHaltProcessor();
}

VOID KeBugCheck(ULONG BugCheckCode) { KeBugCheckEx(BugCheckCode, 0, 0, 0, 0); }

/* Called by the KiUnhandledException stub (trap.S). */
DECLSPEC_NORETURN VOID KiDispatchUnhandledException(ULONG Code, ULONG64 Rip, ULONG64 Info0,
                                                    ULONG64 Info1) {
  if (KiBugCheckActive)
    KiHaltProcessor();
  PEXCEPTION_RECORD Record = &KiUnhandledExceptionRecord;
  memset(Record, 0, sizeof(*Record));
  Record->ExceptionCode = (NTSTATUS)Code;
  Record->ExceptionFlags = EXCEPTION_NONCONTINUABLE;
  Record->ExceptionAddress = (PVOID)Rip;
  Record->NumberParameters = 2;
  Record->ExceptionInformation[0] = Info0;
  Record->ExceptionInformation[1] = Info1;
  KeBugCheckEx(SYSTEM_THREAD_EXCEPTION_NOT_HANDLED, Code, Rip, (ULONG_PTR)Record, 0);
}
