/* Debugger-facing structures: KDDEBUGGER_DATA64, symbol load records, the loader block. */
#ifndef SIMKERNEL_KD_H
#define SIMKERNEL_KD_H
#include "nttypes.h"
#include "ke.h"

/* "KDBG" as bytes in memory, read as a little-endian u32. */
#define KDBG_TAG 0x4742444Bu

typedef struct _DBGKD_DEBUG_DATA_HEADER64 {
  LIST_ENTRY64 List;   /* on KdpDebuggerDataListHead */
  ULONG OwnerTag;      /* KDBG_TAG */
  ULONG Size;          /* sizeof(KDDEBUGGER_DATA64) */
} DBGKD_DEBUG_DATA_HEADER64;

/* The debugger data block as Windows 10 (20H1) lays it out: addresses of kernel
 * variables as 64-bit numbers, then structure offsets for extensions. This kernel
 * fills what it has and leaves the rest zero. */
typedef struct _KDDEBUGGER_DATA64 {
  DBGKD_DEBUG_DATA_HEADER64 Header;          /* 0x000 */
  ULONG64 KernBase;                          /* 0x018 */
  ULONG64 BreakpointWithStatus;              /* 0x020 */
  ULONG64 SavedContext;                      /* 0x028 */
  USHORT ThCallbackStack;                    /* 0x030 */
  USHORT NextCallback;
  USHORT FramePointer;
  USHORT PaeEnabled;
  ULONG64 KiCallUserMode;                    /* 0x038 */
  ULONG64 KeUserCallbackDispatcher;          /* 0x040 */
  ULONG64 PsLoadedModuleList;                /* 0x048 */
  ULONG64 PsActiveProcessHead;               /* 0x050 */
  ULONG64 PspCidTable;                       /* 0x058 */
  ULONG64 ExpSystemResourcesList;
  ULONG64 ExpPagedPoolDescriptor;
  ULONG64 ExpNumberOfPagedPools;
  ULONG64 KeTimeIncrement;
  ULONG64 KeBugCheckCallbackListHead;
  ULONG64 KiBugcheckData;                    /* 0x088 */
  ULONG64 IopErrorLogListHead;
  ULONG64 ObpRootDirectoryObject;
  ULONG64 ObpTypeObjectType;
  ULONG64 MmSystemCacheStart;
  ULONG64 MmSystemCacheEnd;
  ULONG64 MmSystemCacheWs;
  ULONG64 MmPfnDatabase;                     /* 0x0C0 */
  ULONG64 MmSystemPtesStart;
  ULONG64 MmSystemPtesEnd;
  ULONG64 MmSubsectionBase;
  ULONG64 MmNumberOfPagingFiles;
  ULONG64 MmLowestPhysicalPage;
  ULONG64 MmHighestPhysicalPage;
  ULONG64 MmNumberOfPhysicalPages;
  ULONG64 MmMaximumNonPagedPoolInBytes;      /* 0x100 */
  ULONG64 MmNonPagedSystemStart;
  ULONG64 MmNonPagedPoolStart;
  ULONG64 MmNonPagedPoolEnd;
  ULONG64 MmPagedPoolStart;
  ULONG64 MmPagedPoolEnd;
  ULONG64 MmPagedPoolInformation;
  ULONG64 MmPageSize;
  ULONG64 MmSizeOfPagedPoolInBytes;          /* 0x140 */
  ULONG64 MmTotalCommitLimit;
  ULONG64 MmTotalCommittedPages;
  ULONG64 MmSharedCommit;
  ULONG64 MmDriverCommit;
  ULONG64 MmProcessCommit;
  ULONG64 MmPagedPoolCommit;
  ULONG64 MmExtendedCommit;
  ULONG64 MmZeroedPageListHead;              /* 0x180 */
  ULONG64 MmFreePageListHead;
  ULONG64 MmStandbyPageListHead;
  ULONG64 MmModifiedPageListHead;
  ULONG64 MmModifiedNoWritePageListHead;
  ULONG64 MmAvailablePages;
  ULONG64 MmResidentAvailablePages;
  ULONG64 PoolTrackTable;
  ULONG64 NonPagedPoolDescriptor;            /* 0x1C0 */
  ULONG64 MmHighestUserAddress;
  ULONG64 MmSystemRangeStart;
  ULONG64 MmUserProbeAddress;
  ULONG64 KdPrintCircularBuffer;
  ULONG64 KdPrintCircularBufferEnd;
  ULONG64 KdPrintWritePointer;
  ULONG64 KdPrintRolloverCount;
  ULONG64 MmLoadedUserImageList;             /* 0x200 */
  ULONG64 NtBuildLab;                        /* 0x208 */
  ULONG64 KiNormalSystemCall;
  ULONG64 KiProcessorBlock;                  /* 0x218 */
  ULONG64 MmUnloadedDrivers;
  ULONG64 MmLastUnloadedDriver;
  ULONG64 MmTriageActionTaken;
  ULONG64 MmSpecialPoolTag;
  ULONG64 KernelVerifier;                    /* 0x240 */
  ULONG64 MmVerifierData;
  ULONG64 MmAllocatedNonPagedPool;
  ULONG64 MmPeakCommitment;
  ULONG64 MmTotalCommitLimitMaximum;
  ULONG64 CmNtCSDVersion;                    /* 0x268 */
  ULONG64 MmPhysicalMemoryBlock;
  ULONG64 MmSessionBase;
  ULONG64 MmSessionSize;                     /* 0x280 */
  ULONG64 MmSystemParentTablePage;
  ULONG64 MmVirtualTranslationBase;
  USHORT OffsetKThreadNextProcessor;         /* 0x298 */
  USHORT OffsetKThreadTeb;
  USHORT OffsetKThreadKernelStack;
  USHORT OffsetKThreadInitialStack;
  USHORT OffsetKThreadApcProcess;            /* 0x2A0 */
  USHORT OffsetKThreadState;
  USHORT OffsetKThreadBStore;
  USHORT OffsetKThreadBStoreLimit;
  USHORT SizeEProcess;                       /* 0x2A8 */
  USHORT OffsetEprocessPeb;
  USHORT OffsetEprocessParentCID;
  USHORT OffsetEprocessDirectoryTableBase;
  USHORT SizePrcb;                           /* 0x2B0 */
  USHORT OffsetPrcbDpcRoutine;
  USHORT OffsetPrcbCurrentThread;
  USHORT OffsetPrcbMhz;
  USHORT OffsetPrcbCpuType;                  /* 0x2B8 */
  USHORT OffsetPrcbVendorString;
  USHORT OffsetPrcbProcStateContext;
  USHORT OffsetPrcbNumber;
  USHORT SizeEThread;                        /* 0x2C0 */
  UCHAR L1tfHighPhysicalBitIndex;
  UCHAR L1tfSwizzleBitIndex;
  ULONG Padding0;
  ULONG64 KdPrintCircularBufferPtr;          /* 0x2C8 */
  ULONG64 KdPrintBufferSize;
  ULONG64 KeLoaderBlock;                     /* 0x2D8 */
  USHORT SizePcr;                            /* 0x2E0 */
  USHORT OffsetPcrSelfPcr;
  USHORT OffsetPcrCurrentPrcb;
  USHORT OffsetPcrContainedPrcb;
  USHORT OffsetPcrInitialBStore;             /* 0x2E8 */
  USHORT OffsetPcrBStoreLimit;
  USHORT OffsetPcrInitialStack;
  USHORT OffsetPcrStackLimit;
  USHORT OffsetPrcbPcrPage;                  /* 0x2F0 */
  USHORT OffsetPrcbProcStateSpecialReg;
  USHORT GdtR0Code;
  USHORT GdtR0Data;
  USHORT GdtR0Pcr;                           /* 0x2F8 */
  USHORT GdtR3Code;
  USHORT GdtR3Data;
  USHORT GdtR3Teb;
  USHORT GdtLdt;                             /* 0x300 */
  USHORT GdtTss;
  USHORT Gdt64R3CmCode;
  USHORT Gdt64R3CmTeb;
  ULONG64 IopNumTriageDumpDataBlocks;        /* 0x308 */
  ULONG64 IopTriageDumpDataBlocks;
  ULONG64 VfCrashDataBlock;                  /* 0x318 */
  ULONG64 MmBadPagesDetected;
  ULONG64 MmZeroedPageSingleBitErrorsDetected;
  ULONG64 EtwpDebuggerData;                  /* 0x330 */
  USHORT OffsetPrcbContext;                  /* 0x338 */
  USHORT OffsetPrcbMaxBreakpoints;
  USHORT OffsetPrcbMaxWatchpoints;
  ULONG OffsetKThreadStackLimit;             /* 0x340 */
  ULONG OffsetKThreadStackBase;
  ULONG OffsetKThreadQueueListEntry;
  ULONG OffsetEThreadIrpList;
  USHORT OffsetPrcbIdleThread;               /* 0x350 */
  USHORT OffsetPrcbNormalDpcState;
  USHORT OffsetPrcbDpcStack;
  USHORT OffsetPrcbIsrStack;
  USHORT SizeKDPC_STACK_FRAME;               /* 0x358 */
  USHORT OffsetKPriQueueThreadListHead;
  USHORT OffsetKThreadWaitReason;
  USHORT Padding1;
  ULONG64 PteBase;                           /* 0x360 */
  ULONG64 RetpolineStubFunctionTable;        /* 0x368 */
  ULONG RetpolineStubFunctionTableSize;
  ULONG RetpolineStubOffset;
  ULONG RetpolineStubSize;                   /* 0x378 */
  USHORT OffsetEProcessMmHotPatchContext;
  USHORT Padding2;
} KDDEBUGGER_DATA64;
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, KernBase) == 0x18);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, BreakpointWithStatus) == 0x20);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, SavedContext) == 0x28);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, PsLoadedModuleList) == 0x48);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, PsActiveProcessHead) == 0x50);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, PspCidTable) == 0x58);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, KiBugcheckData) == 0x88);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, MmPfnDatabase) == 0xC0);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, NtBuildLab) == 0x208);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, KiProcessorBlock) == 0x218);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, CmNtCSDVersion) == 0x268);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, OffsetKThreadNextProcessor) == 0x298);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, KdPrintCircularBufferPtr) == 0x2C8);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, IopNumTriageDumpDataBlocks) == 0x308);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, OffsetPrcbContext) == 0x338);
C_ASSERT(FIELD_OFFSET(KDDEBUGGER_DATA64, PteBase) == 0x360);
C_ASSERT(sizeof(KDDEBUGGER_DATA64) == 0x380);

/* The record behind BREAKPOINT_LOAD_SYMBOLS / BREAKPOINT_UNLOAD_SYMBOLS (rdx). */
typedef struct _KD_SYMBOLS_INFO {
  ULONG64 BaseOfDll;
  ULONG64 ProcessId;
  ULONG CheckSum;
  ULONG SizeOfImage;
} KD_SYMBOLS_INFO, *PKD_SYMBOLS_INFO;
C_ASSERT(sizeof(KD_SYMBOLS_INFO) == 24);

/* What the simulator hands each CPU in rcx (ABI.md "Entry"). */
typedef struct _SIM_LOADER_BLOCK {
  ULONG64 KernelBase, KernelSize;
  ULONG64 PoolBase, PoolSize;
  ULONG NumberProcessors, Processor;
  ULONG64 Kpcr[MAXIMUM_PROCESSORS];
  ULONG64 DriverBase, DriverSize;
  ULONG BuildNumber, BootFlags;  /* BootFlags: SIM_BOOT_* */
  ULONG64 Seed;
} SIM_LOADER_BLOCK, *PSIM_LOADER_BLOCK;
C_ASSERT(FIELD_OFFSET(SIM_LOADER_BLOCK, Kpcr) == 0x28);
C_ASSERT(FIELD_OFFSET(SIM_LOADER_BLOCK, DriverBase) == 0x68);
C_ASSERT(FIELD_OFFSET(SIM_LOADER_BLOCK, BuildNumber) == 0x78);
C_ASSERT(sizeof(SIM_LOADER_BLOCK) == 0x88);
/* Ask for boot options with DbgPrompt at boot (kdsim --boot-prompt); without it
 * the kernel does not prompt, as Windows does not. */
#define SIM_BOOT_PROMPT 0x1

#endif
