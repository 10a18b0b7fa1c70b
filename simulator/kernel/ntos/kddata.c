/* What a kernel debugger reads to find its way: the debugger data block ('KDBG') on
 * KdpDebuggerDataListHead, the build string and the processor blocks. The block is
 * initialised statically, as Windows does, so it is valid from the first instruction;
 * KdInitializeDebuggerData adds what only the loader block knows. */
#include "ki.h"

/* The build this image is compiled for (-DSIM_BUILD=N, simulator/kernel/builds.py):
 * right from the first instruction, as in Windows, where both are initialised data. */
CHAR NtBuildLab[80] = SIM_BUILD_LAB;
/* 0xF0000000: a free (retail) build, as Windows marks NtBuildNumber. */
ULONG NtBuildNumber = 0xF0000000u | SIM_BUILD;
ULONG CmNtCSDVersion;                 /* no service pack */
PKPRCB KiProcessorBlock[MAXIMUM_PROCESSORS];
volatile ULONG KeNumberProcessors;
volatile ULONG64 KeTickCount;
PVOID MmPfnDatabase;                  /* this kernel keeps no PFN database */

LIST_ENTRY64 KdpDebuggerDataListHead = {
    (ULONG64)&KdDebuggerDataBlock.Header.List,
    (ULONG64)&KdDebuggerDataBlock.Header.List,
};

#define ADDRESS(x) ((ULONG64)(x))

KDDEBUGGER_DATA64 KdDebuggerDataBlock = {
    .Header = {
        .List = {ADDRESS(&KdpDebuggerDataListHead), ADDRESS(&KdpDebuggerDataListHead)},
        .OwnerTag = KDBG_TAG,
        .Size = sizeof(KDDEBUGGER_DATA64),
    },
    .KernBase = ADDRESS(&__ImageBase),
    .BreakpointWithStatus = ADDRESS(&RtlpBreakWithStatusInstruction),
    .PsLoadedModuleList = ADDRESS(&PsLoadedModuleList),
    .PsActiveProcessHead = ADDRESS(&PsActiveProcessHead),
    .KiBugcheckData = ADDRESS(&KiBugCheckData),
    .MmPfnDatabase = ADDRESS(&MmPfnDatabase),
    .NtBuildLab = ADDRESS(&NtBuildLab),
    .KiProcessorBlock = ADDRESS(&KiProcessorBlock),
    .CmNtCSDVersion = ADDRESS(&CmNtCSDVersion),
    .OffsetKThreadTeb = FIELD_OFFSET(KTHREAD, Teb),
    .OffsetKThreadKernelStack = FIELD_OFFSET(KTHREAD, KernelStack),
    .OffsetKThreadInitialStack = FIELD_OFFSET(KTHREAD, InitialStack),
    .OffsetKThreadApcProcess = FIELD_OFFSET(KTHREAD, ApcState) + FIELD_OFFSET(KAPC_STATE, Process),
    .OffsetKThreadState = FIELD_OFFSET(KTHREAD, State),
    .SizeEProcess = sizeof(EPROCESS),
    .OffsetEprocessPeb = FIELD_OFFSET(EPROCESS, Peb),
    .OffsetEprocessParentCID = FIELD_OFFSET(EPROCESS, InheritedFromUniqueProcessId),
    .OffsetEprocessDirectoryTableBase = FIELD_OFFSET(KPROCESS, DirectoryTableBase),
    .SizePrcb = sizeof(KPRCB),
    .OffsetPrcbCurrentThread = FIELD_OFFSET(KPRCB, CurrentThread),
    .OffsetPrcbMhz = FIELD_OFFSET(KPRCB, MHz),
    .OffsetPrcbCpuType = FIELD_OFFSET(KPRCB, CpuType),
    .OffsetPrcbVendorString = FIELD_OFFSET(KPRCB, VendorString),
    .OffsetPrcbProcStateContext = FIELD_OFFSET(KPRCB, ProcessorState) +
                                  FIELD_OFFSET(KPROCESSOR_STATE, ContextFrame),
    .OffsetPrcbNumber = FIELD_OFFSET(KPRCB, Number),
    .SizeEThread = SIM_OFFSET_ETHREAD_size,  /* the real ETHREAD, without SimExtension */
    .SizePcr = sizeof(KPCR),
    .OffsetPcrSelfPcr = FIELD_OFFSET(KPCR, Self),
    .OffsetPcrCurrentPrcb = FIELD_OFFSET(KPCR, CurrentPrcb),
    .OffsetPcrContainedPrcb = FIELD_OFFSET(KPCR, Prcb),
    .OffsetPrcbProcStateSpecialReg = FIELD_OFFSET(KPRCB, ProcessorState),
    .OffsetPrcbContext = FIELD_OFFSET(KPRCB, Context),
    .OffsetKThreadStackLimit = FIELD_OFFSET(KTHREAD, StackLimit),
    .OffsetKThreadStackBase = FIELD_OFFSET(KTHREAD, StackBase),
    .OffsetPrcbIdleThread = FIELD_OFFSET(KPRCB, IdleThread),
};

VOID KdInitializeDebuggerData(PSIM_LOADER_BLOCK LoaderBlock) {
  /* The simulator picks the image compiled for the build it was asked for; a loader
   * block naming another build means the wrong image was loaded. */
  if (LoaderBlock->BuildNumber && LoaderBlock->BuildNumber != SIM_BUILD)
    DbgPrint("simkrnl: built for %u, the loader block asks for %lu (wrong image?)\n", SIM_BUILD,
             LoaderBlock->BuildNumber);

  ULONG Count = LoaderBlock->NumberProcessors;
  if (Count == 0 || Count > MAXIMUM_PROCESSORS)
    Count = Count ? MAXIMUM_PROCESSORS : 1;
  for (ULONG I = 0; I < Count; ++I)
    KiProcessorBlock[I] = LoaderBlock->Kpcr[I] ? &((PKPCR)LoaderBlock->Kpcr[I])->Prcb : NULL;
  KeNumberProcessors = Count;
}
