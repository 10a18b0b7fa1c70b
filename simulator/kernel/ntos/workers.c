/* The kernel's own system threads, so a debugger always finds something happening:
 * a ticker that prints, an image cycler that loads and unloads simdrv2.sys, and a
 * pool exerciser. Everything counts loop iterations (no clock), so a given seed and
 * schedule always produce the same output. */
#include "ki.h"

/* Thread routines have external linkage so they are PDB publics: stack walks name them. */
VOID ExpTickWorker(PVOID Context);
VOID ExpImageCycler(PVOID Context);
VOID ExpPoolExerciser(PVOID Context);

/* One iteration does WORK_UNITS_PER_ITERATION rounds of mixing (about ten
 * instructions each) and then yields. */
#define WORK_UNITS_PER_ITERATION 256
#define POOL_EXERCISE_SLOTS 16
#define SIMDRV2_PATH u"\\SystemRoot\\system32\\drivers\\simdrv2.sys"
#define POOL_EXERCISE_YIELDS 4

/* Pacing in iterations, set from the boot options (KiApplyBootOptions). With about
 * 3500 instructions per round of all threads on one processor, the defaults give a
 * tick line every ~7 million instructions. */
SYSTEM_WORKER_PACING ExpPacing = {
    .TickPeriod = 2048,      /* a "simkrnl: tick" line every this many iterations */
    .LoadDelay = 2048,       /* simdrv2.sys absent this long ... */
    .LoadedTime = 4096,      /* ... then present this long */
};

/* Progress, readable by a debugger (dt/dq on these symbols). */
volatile ULONG64 ExpTickCount;
volatile ULONG64 ExpTickChecksum;  /* keeps the work observable */
volatile ULONG64 ExpImageLoadCount;
volatile ULONG64 ExpPoolExerciseRounds;
static ULONG64 ExpSeed;

/* xorshift64*: the kernel's deterministic PRNG, seeded from the loader block. */
static ULONG64 ExpNextRandom(ULONG64 *State) {
  ULONG64 X = *State ? *State : 0x9E3779B97F4A7C15ull;
  X ^= X >> 12;
  X ^= X << 25;
  X ^= X >> 27;
  *State = X;
  return X * 0x2545F4914F6CDD1Dull;
}

static ULONG64 ExpDoWork(ULONG64 *State) {
  ULONG64 Sum = 0;
  for (ULONG I = 0; I < WORK_UNITS_PER_ITERATION; ++I)
    Sum += ExpNextRandom(State) >> 7;
  return Sum;
}

static VOID ExpYieldTimes(ULONG64 Count) {
  for (ULONG64 I = 0; I < Count; ++I)
    KeDelayExecutionThread(KernelMode, FALSE, NULL);
}

VOID ExpTickWorker(PVOID Context) {
  (void)Context;
  ULONG64 State = ExpSeed ^ 0x7469636Bull;  /* "tick" */
  for (ULONG64 Iteration = 1;; ++Iteration) {
    ExpTickChecksum ^= ExpDoWork(&State);
    if (ExpPacing.TickPeriod && Iteration % ExpPacing.TickPeriod == 0) {
      ULONG64 Tick = ++ExpTickCount;
      DbgPrint("simkrnl: tick %llu on cpu %lu\n", Tick, KeGetCurrentProcessorNumber());
    }
    KeDelayExecutionThread(KernelMode, FALSE, NULL);
  }
}

VOID ExpImageCycler(PVOID Context) {
  (void)Context;
  for (;;) {
    ExpYieldTimes(ExpPacing.LoadDelay);
    /* As Windows' loader with .kdfiles: a copy the debugger serves wins. */
    ULONG64 ServedSize;
    NTSTATUS Status;
    PVOID Served = IopPullRemoteFile(SIMDRV2_PATH, &ServedSize, &Status);
    if (Served)
      DbgPrint("simkrnl: loading simdrv2.sys from the debugger's copy (%llu bytes)\n", ServedSize);
    PLDR_DATA_TABLE_ENTRY Entry =
        MmLoadSystemImage("simdrv2.sys", SIMDRV2_PATH, u"simdrv2.sys", Served, ServedSize);
    if (Served)
      IopFreeRemoteFile(Served);
    if (!Entry) {
      /* Nothing to cycle (the simulator has no simdrv2.sys): stop quietly. */
      PsTerminateSystemThread(STATUS_UNSUCCESSFUL);
    }
    ++ExpImageLoadCount;
    if (NT_SUCCESS(IopCallDriverEntry(Entry, u"simdrv2")))
      ExpYieldTimes(ExpPacing.LoadedTime);
    MmUnloadSystemImage(Entry);
  }
}

/* Allocates and frees pool blocks of random sizes, filled with a pattern it checks. */
VOID ExpPoolExerciser(PVOID Context) {
  (void)Context;
  ULONG64 State = ExpSeed ^ 0x706F6F6Cull;  /* "pool" */
  PUCHAR Slots[POOL_EXERCISE_SLOTS] = {0};
  SIZE_T Sizes[POOL_EXERCISE_SLOTS] = {0};
  for (;;) {
    ULONG Slot = (ULONG)(ExpNextRandom(&State) % POOL_EXERCISE_SLOTS);
    if (Slots[Slot]) {
      for (SIZE_T I = 0; I < Sizes[Slot]; ++I)
        if (Slots[Slot][I] != (UCHAR)(Slot + I))
          KeBugCheckEx(0x19 /* BAD_POOL_HEADER */, 0x20, (ULONG_PTR)Slots[Slot], I, Slot);
      ExFreePoolWithTag(Slots[Slot], TAG('E', 'x', 'P', 'l'));
      Slots[Slot] = NULL;
    } else {
      SIZE_T Size = 16 + (SIZE_T)(ExpNextRandom(&State) % 2048);
      PUCHAR Block = ExAllocatePoolWithTag(NonPagedPool, Size, TAG('E', 'x', 'P', 'l'));
      if (Block) {
        for (SIZE_T I = 0; I < Size; ++I)
          Block[I] = (UCHAR)(Slot + I);
        Slots[Slot] = Block;
        Sizes[Slot] = Size;
      }
    }
    ++ExpPoolExerciseRounds;
    ExpYieldTimes(POOL_EXERCISE_YIELDS);
  }
}

VOID ExStartSystemWorkers(ULONG64 Seed) {
  static const struct {
    PCSTR Name;
    PKSTART_ROUTINE Routine;
  } Workers[] = {
      {"tick worker", ExpTickWorker},
      {"image cycler", ExpImageCyclerStart},  /* imagectl.c: ExpImageCycler, or on request */
      {"pool exerciser", ExpPoolExerciser},
  };
  ExpSeed = Seed;
  for (SIZE_T I = 0; I < ARRAYSIZE(Workers); ++I) {
    NTSTATUS Status = PsCreateNamedSystemThread(Workers[I].Name, Workers[I].Routine, NULL, NULL);
    if (!NT_SUCCESS(Status))
      DbgPrint("simkrnl: cannot create the %s: 0x%08lx\n", Workers[I].Name, Status);
  }
}
