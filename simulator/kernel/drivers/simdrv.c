/* simdrv.sys, the boot driver: a worker thread runs a five-deep call chain forever,
 * and when a debugger writes 1 to the exported TriggerBug the deepest frame writes
 * through a NULL structure pointer (an access violation at address 0x10). */
#include "../sdk/ntapi.h"

#define SIMDRV_TAG 0x446D6953u  /* "SimD" as bytes in memory */
#define PASSES_PER_REPORT 16384

/* Set to 1 (e.g. `ed simdrv!TriggerBug 1`) to crash the worker thread; set to 2 for
 * one hard-coded breakpoint (DbgBreakPoint) in Level5, after which it reads 0 again. */
__declspec(dllexport) volatile ULONG TriggerBug;
/* Passes the worker has completed. */
__declspec(dllexport) volatile ULONG64 SimdrvPasses;

typedef struct _SIMDRV_WORK_ITEM {
  ULONG64 Pass;        /* 0x00 */
  ULONG64 Checksum;    /* 0x08 */
  ULONG64 Result;      /* 0x10: the faulting write lands here, i.e. at address 0x10 */
  ULONG64 History[4];
} SIMDRV_WORK_ITEM, *PSIMDRV_WORK_ITEM;

/* Always NULL: stands for a pointer some bug corrupted. volatile, so the compiler
 * cannot see the NULL and must emit the write. */
static PSIMDRV_WORK_ITEM volatile SimdrvCorruptedItem;

/* Absolute pointers in data (not const, so they stay in data): the loader must apply
 * base relocations to these. */
PCSTR SimdrvChainNames[] = {"Level1", "Level2", "Level3", "Level4", "Level5"};

#define CHAIN __declspec(noinline) __attribute__((disable_tail_calls))

CHAIN ULONG64 Level5(PSIMDRV_WORK_ITEM Item, ULONG64 Value) {
  ULONG64 Mix[4];
  for (ULONG I = 0; I < 4; ++I)
    Mix[I] = (Value >> (I * 16)) * 0x9E3779B97F4A7C15ull + I;
  if (TriggerBug == 2) {
    TriggerBug = 0;
    DbgPrint("simdrv: TriggerBug is 2; Level5 breaks into the debugger\n");
    DbgBreakPoint();
  }
  if (TriggerBug == 1) {
    DbgPrint("simdrv: TriggerBug is set; Level5 writes through a corrupted pointer\n");
    Item = SimdrvCorruptedItem;
  }
  Item->Result = Mix[0] ^ Mix[1] ^ Mix[2] ^ Mix[3];
  return Item->Result;
}

CHAIN ULONG64 Level4(PSIMDRV_WORK_ITEM Item, ULONG64 Value) {
  ULONG64 Rotated = Value << 13 | Value >> 51;
  ULONG64 Result = Level5(Item, Rotated ^ Item->Pass);
  Item->History[Item->Pass & 3] = Result;
  return Result + Rotated;
}

CHAIN ULONG64 Level3(PSIMDRV_WORK_ITEM Item, const ULONG64 *Window, ULONG Count) {
  ULONG64 Folded = 0;
  for (ULONG I = 0; I < Count; ++I)
    Folded = (Folded ^ Window[I]) * 31;
  ULONG64 Result = Level4(Item, Folded);
  return Result ^ Folded;
}

CHAIN ULONG64 Level2(PSIMDRV_WORK_ITEM Item, const ULONG64 *Data, ULONG Count) {
  ULONG64 Window[4] = {0};
  for (ULONG I = 0; I < Count; ++I)
    Window[I & 3] += Data[I] ^ (Data[I] >> 3);
  ULONG64 Result = Level3(Item, Window, 4);
  return Result + Window[Result & 3];
}

CHAIN ULONG64 Level1(PSIMDRV_WORK_ITEM Item, ULONG64 Seed) {
  ULONG64 Data[8];
  for (ULONG I = 0; I < 8; ++I) {
    Seed = Seed * 6364136223846793005ull + 1442695040888963407ull;
    Data[I] = Seed;
  }
  ULONG64 Result = Level2(Item, Data, 8);
  return Result ^ Data[Result & 7];
}

/* External linkage, so stack walks through the PDB publics name it. */
VOID SimdrvWorkerThread(PVOID Context);
VOID SimdrvWorkerThread(PVOID Context) {
  PSIMDRV_WORK_ITEM Item = Context;
  DbgPrint("simdrv: worker thread %p running on cpu %lu\n", KeGetCurrentThread(),
           KeGetCurrentProcessorNumber());
  for (;;) {
    Item->Pass++;
    Item->Checksum ^= Level1(Item, Item->Pass);
    SimdrvPasses = Item->Pass;
    if (Item->Pass % PASSES_PER_REPORT == 0)
      DbgPrint("simdrv: pass %llu through %s..%s, checksum %016llx\n", Item->Pass,
               SimdrvChainNames[0], SimdrvChainNames[ARRAYSIZE(SimdrvChainNames) - 1],
               Item->Checksum);
    KeDelayExecutionThread(KernelMode, FALSE, NULL);
  }
}

__declspec(dllexport) NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject,
                                           PUNICODE_STRING RegistryPath) {
  (void)RegistryPath;
  DbgPrint("simdrv: DriverEntry: driver object %p, image %p, TriggerBug at %p\n",
           DriverObject, DriverObject->DriverStart, (PVOID)&TriggerBug);
  PSIMDRV_WORK_ITEM Item = ExAllocatePoolWithTag(NonPagedPool, sizeof(*Item), SIMDRV_TAG);
  if (!Item)
    return STATUS_INSUFFICIENT_RESOURCES;
  HANDLE Thread;
  NTSTATUS Status =
      PsCreateSystemThread(&Thread, THREAD_ALL_ACCESS, NULL, NULL, NULL, SimdrvWorkerThread, Item);
  if (!NT_SUCCESS(Status)) {
    ExFreePoolWithTag(Item, SIMDRV_TAG);
    return Status;
  }
  return STATUS_SUCCESS;
}
