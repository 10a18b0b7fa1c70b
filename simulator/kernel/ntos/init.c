/* KiSystemStartup: where every processor begins (ABI.md "Entry"). Processor 0 brings
 * the system up; the others wait for it, then idle. */
#include "ki.h"

#define BOOT_STACK_HOME_SPACE 0x28  /* ABI.md: rsp = boot stack top - 0x28 */
#define BOOT_STACK_SIZE 0x10000
#define BOOT_OPTIONS_LENGTH 64

SIM_LOADER_BLOCK KeLoaderBlock;             /* processor 0's copy */
static volatile LONG KiProcessorsReleased;  /* set by processor 0 when the system is up */
CHAR KiBootOptions[BOOT_OPTIONS_LENGTH];

void *_AddressOfReturnAddress(void);

/* Fills this processor's KPCR/KPRCB and makes the boot context its idle thread. */
static VOID KiInitializeProcessor(PSIM_LOADER_BLOCK LoaderBlock, ULONG64 BootStackTop) {
  ULONG Number = LoaderBlock->Processor;
  PKPCR Pcr = (PKPCR)LoaderBlock->Kpcr[Number];
  PKPRCB Prcb = &Pcr->Prcb;
  Pcr->Self = Pcr;
  Pcr->CurrentPrcb = Prcb;
  Pcr->MajorVersion = 1;  /* PCR_MAJOR_VERSION */
  Pcr->MinorVersion = 1;
  Prcb->Number = Number;
  Prcb->LegacyNumber = (UCHAR)Number;
  Prcb->Context = &Prcb->ProcessorState.ContextFrame;
  Prcb->CpuType = 6;
  Prcb->MHz = 1000;
  memcpy(Prcb->VendorString, "SimulatedCPU", 13);

  PKTHREAD Idle = &KiIdleThread[Number].Tcb;
  Idle->Header.Type = 6;  /* ThreadObject */
  InitializeListHead(&Idle->Header.WaitListHead);
  Idle->InitialStack = Idle->StackBase = Idle->KernelStack = (PVOID)BootStackTop;
  Idle->StackLimit = (PVOID)(BootStackTop - BOOT_STACK_SIZE);
  Idle->ApcState.Process = Idle->Process = &KiSystemProcess.Pcb;
  Idle->State = Running;
  KiSimThread(Idle)->CreatedOnProcessor = Number;
  _snprintf(KiSimThread(Idle)->Name, sizeof(KiSimThread(Idle)->Name), "idle %lu", Number);
  Prcb->IdleThread = Idle;
  Prcb->CurrentThread = Idle;
}

/* Boot options are space-separated words: "tick=N", "load=N", "loaded=N" (decimal
 * iteration counts, see SYSTEM_WORKER_PACING) and "quiet" (no tick lines). Unknown
 * words are reported and ignored. */
static BOOLEAN KiParseNumber(PCSTR Text, SIZE_T Length, ULONG64 *Value) {
  ULONG64 Result = 0;
  if (Length == 0 || Length > 18)
    return FALSE;
  for (SIZE_T I = 0; I < Length; ++I) {
    if (Text[I] < '0' || Text[I] > '9')
      return FALSE;
    Result = Result * 10 + (ULONG64)(Text[I] - '0');
  }
  *Value = Result;
  return TRUE;
}

static BOOLEAN KiApplyBootOption(PCSTR Word, SIZE_T Length) {
  static const struct {
    PCSTR Name;
    ULONG64 *Field;
  } Numbers[] = {
      {"tick", &ExpPacing.TickPeriod},
      {"load", &ExpPacing.LoadDelay},
      {"loaded", &ExpPacing.LoadedTime},
  };
  if (Length == 5 && memcmp(Word, "quiet", 5) == 0) {
    ExpPacing.TickPeriod = 0;
    return TRUE;
  }
  for (SIZE_T I = 0; I < ARRAYSIZE(Numbers); ++I) {
    SIZE_T NameLength = strlen(Numbers[I].Name);
    if (Length > NameLength && memcmp(Word, Numbers[I].Name, NameLength) == 0 &&
        Word[NameLength] == '=')
      return KiParseNumber(Word + NameLength + 1, Length - NameLength - 1, Numbers[I].Field);
  }
  return FALSE;
}

static VOID KiApplyBootOptions(PCSTR Options) {
  for (PCSTR P = Options; *P;) {
    while (*P == ' ' || *P == '\t')
      ++P;
    PCSTR Word = P;
    while (*P && *P != ' ' && *P != '\t')
      ++P;
    if (P > Word && !KiApplyBootOption(Word, (SIZE_T)(P - Word)))
      DbgPrint("simkrnl: ignoring boot option \"%.*s\"\n", (int)(P - Word), Word);
  }
}

static VOID KiReadBootOptions(VOID) {
  ULONG Length = DbgPrompt("simkrnl: enter boot options: ", KiBootOptions, sizeof(KiBootOptions));
  /* A reply typed at a debugger may end in a newline. */
  while (Length && (KiBootOptions[Length - 1] == '\n' || KiBootOptions[Length - 1] == '\r'))
    KiBootOptions[--Length] = '\0';
  if (Length) {
    DbgPrint("simkrnl: boot options: \"%s\"\n", KiBootOptions);
    KiApplyBootOptions(KiBootOptions);
  } else {
    DbgPrint("simkrnl: no boot options\n");
  }
  DbgPrint("simkrnl: pacing: tick every %llu, simdrv2.sys load after %llu, unload after %llu\n",
           ExpPacing.TickPeriod, ExpPacing.LoadDelay, ExpPacing.LoadedTime);
}

static VOID KiInitializeSystem(PSIM_LOADER_BLOCK LoaderBlock) {
  KeLoaderBlock = *LoaderBlock;
  PsInitializeSystemProcess();
  ExInitializePool(LoaderBlock->PoolBase, LoaderBlock->PoolSize);
  KdInitializeDebuggerData(LoaderBlock);
  DbgPrint("simkrnl: %s, %lu processor(s), pool %llu KiB at %p, seed 0x%llx\n", NtBuildLab,
           KeNumberProcessors, LoaderBlock->PoolSize / 1024, (PVOID)LoaderBlock->PoolBase,
           LoaderBlock->Seed);

  MiRegisterBootImage(&__ImageBase, u"\\SystemRoot\\system32\\simkrnl.exe", u"simkrnl.exe");
  PLDR_DATA_TABLE_ENTRY BootDriver = NULL;
  if (LoaderBlock->DriverBase)
    BootDriver = MiRegisterBootImage((PVOID)LoaderBlock->DriverBase,
                                     u"\\SystemRoot\\system32\\drivers\\simdrv.sys", u"simdrv.sys");

  /* Windows does not prompt at boot: only when the machine was asked to (--boot-prompt). */
  if (LoaderBlock->BootFlags & SIM_BOOT_PROMPT)
    KiReadBootOptions();
  IopRequestReplacementFile(u"\\SystemRoot\\system32\\drivers\\simdrv2.sys");
  ExStartSystemWorkers(LoaderBlock->Seed);
  if (BootDriver)
    IopCallDriverEntry(BootDriver, u"simdrv");
  else
    DbgPrint("simkrnl: no boot driver in the loader block\n");

  PsInitializeUserProcesses();
  DbgPrint("simkrnl: boot complete, %llu KiB of pool free\n", ExQueryPoolBytesFree() / 1024);
  PsStartDeferredThreads();
  __atomic_store_n(&KiProcessorsReleased, 1, __ATOMIC_RELEASE);
}

VOID __declspec(dllexport) KiSystemStartup(PSIM_LOADER_BLOCK LoaderBlock) {
  ULONG64 BootStackTop = (ULONG64)_AddressOfReturnAddress() + BOOT_STACK_HOME_SPACE;
  if (LoaderBlock->Processor >= MAXIMUM_PROCESSORS || !LoaderBlock->Kpcr[LoaderBlock->Processor])
    KiHaltProcessor();
  KiInitializeProcessor(LoaderBlock, BootStackTop);
  if (LoaderBlock->Processor == 0) {
    KiInitializeSystem(LoaderBlock);
  } else {
    while (!__atomic_load_n(&KiProcessorsReleased, __ATOMIC_ACQUIRE)) {
      KeYieldProcessor();
      KiSimService(SIM_YIELD, 0, 0, 0, 0);
    }
    DbgPrint("simkrnl: processor %lu online\n", KeGetCurrentProcessorNumber());
  }
  KiIdleLoop();
}
