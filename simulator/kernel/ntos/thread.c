/* Threads and processes. The simulator schedules (ABI.md "Scheduling"); the kernel
 * owns the objects: a KTHREAD and a stack from pool per system thread, one idle
 * thread per processor for the boot context, and the System process. */
#include "ki.h"

#define KERNEL_STACK_SIZE 0x4000
#define SYSTEM_PROCESS_ID 4
#define DISPATCHER_PROCESS_OBJECT 3
#define DISPATCHER_THREAD_OBJECT 6

ETHREAD KiIdleThread[MAXIMUM_PROCESSORS];
/* Each processor's idle thread, which the boot context becomes: the simulator puts it
 * in KPRCB.CurrentThread/IdleThread before the first instruction (ABI.md "Entry"), so
 * the first state change a debugger sees names a real thread. */
__declspec(dllexport) PKTHREAD KiIdleThreadTable[MAXIMUM_PROCESSORS] = {
    &KiIdleThread[0].Tcb, &KiIdleThread[1].Tcb, &KiIdleThread[2].Tcb, &KiIdleThread[3].Tcb,
    &KiIdleThread[4].Tcb, &KiIdleThread[5].Tcb, &KiIdleThread[6].Tcb, &KiIdleThread[7].Tcb,
};
C_ASSERT(MAXIMUM_PROCESSORS == 8);
EPROCESS KiSystemProcess;
PEPROCESS PsInitialSystemProcess;
LIST_ENTRY PsActiveProcessHead = {&PsActiveProcessHead, &PsActiveProcessHead};
/* Every thread this kernel created, on SimExtension.ThreadListEntry. */
LIST_ENTRY KiThreadListHead = {&KiThreadListHead, &KiThreadListHead};
static KSPIN_LOCK KiThreadListLock;
/* System threads get ids 8, 12, 16, ... (4 is the System process). */
static volatile ULONG KiNextThreadId = 8;

/* The boot context is processor 0's idle thread, and the simulator runs an idle
 * thread only when nothing else is ready: a thread started during boot would keep
 * boot from finishing. So threads created before PsStartDeferredThreads (the kernel's
 * and the boot driver's) are handed to the simulator there, in creation order. */
static BOOLEAN PspDeferThreadStart = TRUE;
static PETHREAD PspDeferredHead, *PspDeferredTail = &PspDeferredHead;

static VOID PspStartThread(PETHREAD Thread) {
  Thread->Tcb.State = Ready;
  KiSimService(SIM_CREATE_THREAD, (ULONG64)Thread, (ULONG64)KiStartSystemThread,
               (ULONG64)Thread, (ULONG64)Thread->Tcb.InitialStack);
}

VOID PsStartDeferredThreads(VOID) {
  KiAcquireSpinLock(&KiThreadListLock);
  PETHREAD Thread = PspDeferredHead;
  PspDeferredHead = NULL;
  PspDeferredTail = &PspDeferredHead;
  PspDeferThreadStart = FALSE;
  KiReleaseSpinLock(&KiThreadListLock);
  while (Thread) {
    PETHREAD Next = Thread->SimExtension.DeferredNext;
    Thread->SimExtension.DeferredNext = NULL;
    PspStartThread(Thread);
    Thread = Next;
  }
}

static ULONG64 KiReadCr3(VOID) {
  ULONG64 Cr3;
  __asm__ volatile("movq %%cr3, %0" : "=r"(Cr3));
  return Cr3;
}

VOID CopyName(CHAR *Destination, SIZE_T Size, PCSTR Source) {
  SIZE_T I = 0;
  for (; Source && Source[I] && I + 1 < Size; ++I)
    Destination[I] = Source[I];
  Destination[I] = '\0';
}

VOID PsInitializeSystemProcess(VOID) {
  PEPROCESS Process = &KiSystemProcess;
  Process->Pcb.Header.Type = DISPATCHER_PROCESS_OBJECT;
  Process->Pcb.DirectoryTableBase = KiReadCr3();
  InitializeListHead(&Process->Pcb.ProfileListHead);
  InitializeListHead(&Process->Pcb.ThreadListHead);
  InitializeListHead(&Process->ThreadListHead);
  Process->UniqueProcessId = (HANDLE)SYSTEM_PROCESS_ID;
  CopyName((CHAR *)Process->ImageFileName, sizeof(Process->ImageFileName), "System");
  InsertTailList(&PsActiveProcessHead, &Process->ActiveProcessLinks);
  PsInitialSystemProcess = Process;
}

ULONG KeGetCurrentProcessorNumber(VOID) {
  ULONG Number;
  __asm__ volatile("movl %%gs:0x1A4, %0" : "=r"(Number));  /* KPCR.Prcb.Number */
  return Number;
}

PKTHREAD KeGetCurrentThread(VOID) {
  PKTHREAD Thread;
  __asm__ volatile("movq %%gs:0x188, %0" : "=r"(Thread));  /* KPCR.Prcb.CurrentThread */
  return Thread;
}

HANDLE PsGetCurrentThreadId(VOID) {
  PKTHREAD Thread = KeGetCurrentThread();
  return Thread ? (HANDLE)(ULONG_PTR)KiSimThread(Thread)->ThreadId : NULL;
}

/* Fills a new thread of Process: the KTHREAD, the Cid and the process's two thread
 * lists (KPROCESS.ThreadListHead through KTHREAD.ThreadListEntry, EPROCESS.ThreadListHead
 * through ETHREAD.ThreadListEntry), as Windows links them. */
VOID PspInitializeThread(PETHREAD Thread, PEPROCESS Process, PCSTR Name, PUCHAR Stack,
                         SIZE_T StackSize, KTHREAD_STATE State) {
  PKTHREAD Tcb = &Thread->Tcb;
  PUCHAR StackTop = Stack + StackSize;
  Tcb->Header.Type = DISPATCHER_THREAD_OBJECT;
  InitializeListHead(&Tcb->Header.WaitListHead);
  Tcb->StackLimit = Stack;
  Tcb->StackBase = StackTop;
  Tcb->InitialStack = StackTop;
  Tcb->KernelStack = StackTop;
  InitializeListHead(&Tcb->ApcState.ApcListHead[0]);
  InitializeListHead(&Tcb->ApcState.ApcListHead[1]);
  Tcb->ApcState.Process = &Process->Pcb;
  Tcb->Process = &Process->Pcb;
  Tcb->State = (UCHAR)State;
  ULONG Id = __atomic_fetch_add(&KiNextThreadId, 4, __ATOMIC_RELAXED);
  Thread->Cid.UniqueProcess = Process->UniqueProcessId;
  Thread->Cid.UniqueThread = (PVOID)(ULONG_PTR)Id;
  Thread->SimExtension.ThreadId = Id;
  Thread->SimExtension.CreatedOnProcessor = KeGetCurrentProcessorNumber();
  CopyName(Thread->SimExtension.Name, sizeof(Thread->SimExtension.Name), Name);
  KiAcquireSpinLock(&KiThreadListLock);
  InsertTailList(&KiThreadListHead, &Thread->SimExtension.ThreadListEntry);
  InsertTailList(&Process->Pcb.ThreadListHead, &Tcb->ThreadListEntry);
  InsertTailList(&Process->ThreadListHead, &Thread->ThreadListEntry);
  KiReleaseSpinLock(&KiThreadListLock);
}

NTSTATUS PsCreateNamedSystemThread(PCSTR Name, PKSTART_ROUTINE StartRoutine, PVOID StartContext,
                                   PKTHREAD *Created) {
  PETHREAD Thread = ExAllocatePoolWithTag(NonPagedPool, sizeof(ETHREAD), TAG('T', 'h', 'r', 'e'));
  PUCHAR Stack = ExAllocatePoolWithTag(NonPagedPool, KERNEL_STACK_SIZE, TAG('S', 't', 'a', 'k'));
  if (!Thread || !Stack) {
    ExFreePool(Thread);
    ExFreePool(Stack);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  memset(Thread, 0, sizeof(*Thread));
  Thread->SimExtension.StartRoutine = StartRoutine;
  Thread->SimExtension.StartContext = StartContext;
  Thread->Win32StartAddress = (PVOID)StartRoutine;
  PspInitializeThread(Thread, &KiSystemProcess, Name, Stack, KERNEL_STACK_SIZE, Initialized);

  KiAcquireSpinLock(&KiThreadListLock);
  BOOLEAN Defer = PspDeferThreadStart;
  if (Defer) {
    *PspDeferredTail = Thread;
    PspDeferredTail = &Thread->SimExtension.DeferredNext;
  }
  KiReleaseSpinLock(&KiThreadListLock);

  if (Created)
    *Created = &Thread->Tcb;
  if (!Defer)
    PspStartThread(Thread);
  return STATUS_SUCCESS;
}

NTSTATUS PsCreateSystemThread(PHANDLE ThreadHandle, ACCESS_MASK DesiredAccess,
                              PVOID ObjectAttributes, HANDLE ProcessHandle, PCLIENT_ID ClientId,
                              PKSTART_ROUTINE StartRoutine, PVOID StartContext) {
  (void)DesiredAccess;
  (void)ObjectAttributes;
  (void)ProcessHandle;
  PKTHREAD Thread = NULL;
  NTSTATUS Status = PsCreateNamedSystemThread("system", StartRoutine, StartContext, &Thread);
  if (!NT_SUCCESS(Status))
    return Status;
  /* No object manager: the handle is the thread object itself. */
  if (ThreadHandle)
    *ThreadHandle = Thread;
  if (ClientId) {
    ClientId->UniqueProcess = (HANDLE)SYSTEM_PROCESS_ID;
    ClientId->UniqueThread = (HANDLE)(ULONG_PTR)KiSimThread(Thread)->ThreadId;
  }
  return STATUS_SUCCESS;
}

/* Entered from KiStartSystemThread (trap.S) on the new thread's own stack. */
VOID PspSystemThreadStartup(PKTHREAD Thread) {
  Thread->State = Running;
  KiSimThread(Thread)->StartRoutine(KiSimThread(Thread)->StartContext);
  PsTerminateSystemThread(STATUS_SUCCESS);
}

NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus) {
  (void)ExitStatus;
  PKTHREAD Thread = KeGetCurrentThread();
  if (Thread)
    Thread->State = Terminated;
  /* The thread object and its stack stay: the thread is still running on them. */
  for (;;)
    KiSimService(SIM_EXIT_THREAD, 0, 0, 0, 0);
}

NTSTATUS ZwYieldExecution(VOID) {
  if (KiBugCheckActive)
    KiHaltProcessor();
  KiSimService(SIM_YIELD, 0, 0, 0, 0);
  return STATUS_SUCCESS;
}

NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                PLARGE_INTEGER Interval) {
  (void)WaitMode;
  (void)Alertable;
  (void)Interval;
  return ZwYieldExecution();
}

VOID KiIdleLoop(VOID) {
  PKPRCB Prcb = KeGetCurrentPrcb();
  for (;;) {
    if (KiBugCheckActive)
      KiHaltProcessor();
    Prcb->SimTicksIdle++;
    KiSimService(SIM_HALT, 0, 0, 0, 0);
  }
}
