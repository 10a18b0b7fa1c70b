/* What a kernel debugger reads to find its way: the debugger data block ('KDBG') on
 * KdpDebuggerDataListHead, the build string and the processor blocks. The block is
 * initialised statically, as Windows does, so it is valid from the first instruction;
 * KdInitializeDebuggerData adds what only the loader block knows. */
#include "ki.h"

#define BUILD_LAB_DEFAULT "19041.1.amd64fre.vb_release.191206-1406"

CHAR NtBuildLab[80] = BUILD_LAB_DEFAULT;
/* 0xF0000000: a free (retail) build, as Windows marks NtBuildNumber. */
ULONG NtBuildNumber = 0xF0000000u | 19041;
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
    .SizeEThread = sizeof(KTHREAD),
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

/* Lab strings of some released builds; others get a made-up branch. */
static const struct {
  ULONG Build;
  PCSTR Lab;
} KnownBuildLabs[] = {
    {10240, "10240.16384.amd64fre.th1.150709-1700"},
    {14393, "14393.0.amd64fre.rs1_release.160715-1616"},
    {17763, "17763.1.amd64fre.rs5_release.180914-1434"},
    {18362, "18362.1.amd64fre.19h1_release.190318-1202"},
    {19041, BUILD_LAB_DEFAULT},
    {22000, "22000.1.amd64fre.co_release.210604-1628"},
    {22621, "22621.1.amd64fre.ni_release.220506-1250"},
};

VOID KdInitializeDebuggerData(PSIM_LOADER_BLOCK LoaderBlock) {
  ULONG Build = LoaderBlock->BuildNumber ? LoaderBlock->BuildNumber : 19041;
  NtBuildNumber = 0xF0000000u | Build;
  PCSTR Lab = NULL;
  for (SIZE_T I = 0; I < ARRAYSIZE(KnownBuildLabs); ++I)
    if (KnownBuildLabs[I].Build == Build)
      Lab = KnownBuildLabs[I].Lab;
  if (Lab)
    _snprintf(NtBuildLab, sizeof(NtBuildLab), "%s", Lab);
  else
    _snprintf(NtBuildLab, sizeof(NtBuildLab), "%lu.1.amd64fre.sim_release.000101-0000", Build);

  ULONG Count = LoaderBlock->NumberProcessors;
  if (Count == 0 || Count > MAXIMUM_PROCESSORS)
    Count = Count ? MAXIMUM_PROCESSORS : 1;
  for (ULONG I = 0; I < Count; ++I)
    KiProcessorBlock[I] = LoaderBlock->Kpcr[I] ? &((PKPCR)LoaderBlock->Kpcr[I])->Prcb : NULL;
  KeNumberProcessors = Count;
}
