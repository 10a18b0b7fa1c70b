/* Loaded images: the module list record, driver objects and the PE headers read from memory. */
#ifndef SIMKERNEL_LDR_H
#define SIMKERNEL_LDR_H
#include "nttypes.h"

/* One loaded image on PsLoadedModuleList (x64 layout; debuggers walk
 * InLoadOrderLinks and read DllBase, SizeOfImage and the names). */
typedef struct _LDR_DATA_TABLE_ENTRY {
  LIST_ENTRY InLoadOrderLinks;             /* 0x00 */
  LIST_ENTRY InMemoryOrderLinks;           /* 0x10 */
  LIST_ENTRY InInitializationOrderLinks;   /* 0x20 */
  PVOID DllBase;                           /* 0x30 */
  PVOID EntryPoint;                        /* 0x38 */
  ULONG SizeOfImage;                       /* 0x40 */
  UNICODE_STRING FullDllName;              /* 0x48 */
  UNICODE_STRING BaseDllName;              /* 0x58 */
  ULONG Flags;                             /* 0x68 */
  USHORT LoadCount;                        /* 0x6C */
  USHORT TlsIndex;                         /* 0x6E */
  LIST_ENTRY HashLinks;                    /* 0x70 */
  ULONG TimeDateStamp;                     /* 0x80 */
  ULONG CheckSum;                          /* 0x84 */
  PVOID EntryPointActivationContext;       /* 0x88 */
  PVOID Lock;                              /* 0x90 */
  struct _DRIVER_OBJECT *DriverObject;     /* 0x98: this kernel's own */
} LDR_DATA_TABLE_ENTRY, *PLDR_DATA_TABLE_ENTRY;
C_ASSERT(FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, DllBase) == 0x30);
C_ASSERT(FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, FullDllName) == 0x48);
C_ASSERT(FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, BaseDllName) == 0x58);
C_ASSERT(FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, LoadCount) == 0x6C);
C_ASSERT(sizeof(LDR_DATA_TABLE_ENTRY) == 0xA0);

/* A user process's loader data (x64; the same offsets in every modelled build:
 * simulator/kernel/builds.py FIXED). The kernel writes them into the process's own
 * user-mode pages; a debugger reads them through that process's page tables. */
typedef struct _PEB_LDR_DATA {
  ULONG Length;                            /* 0x00 */
  BOOLEAN Initialized;                     /* 0x04 */
  PVOID SsHandle;                          /* 0x08 */
  LIST_ENTRY InLoadOrderModuleList;        /* 0x10 */
  LIST_ENTRY InMemoryOrderModuleList;      /* 0x20 */
  LIST_ENTRY InInitializationOrderModuleList; /* 0x30 */
  PVOID EntryInProgress;                   /* 0x40 */
  BOOLEAN ShutdownInProgress;              /* 0x48 */
  PVOID ShutdownThreadId;                  /* 0x50 */
} PEB_LDR_DATA, *PPEB_LDR_DATA;
C_ASSERT(FIELD_OFFSET(PEB_LDR_DATA, InLoadOrderModuleList) == 0x10);
C_ASSERT(sizeof(PEB_LDR_DATA) == 0x58);

/* The start of the PEB (the fields a debugger's module walk reads). */
typedef struct _PEB {
  BOOLEAN InheritedAddressSpace;           /* 0x00 */
  BOOLEAN ReadImageFileExecOptions;
  BOOLEAN BeingDebugged;                   /* 0x02 */
  UCHAR BitField;
  UCHAR Padding0[4];
  PVOID Mutant;                            /* 0x08 */
  PVOID ImageBaseAddress;                  /* 0x10 */
  PPEB_LDR_DATA Ldr;                       /* 0x18 */
  PVOID ProcessParameters;                 /* 0x20 */
} PEB, *PPEB;
C_ASSERT(FIELD_OFFSET(PEB, ImageBaseAddress) == 0x10);
C_ASSERT(FIELD_OFFSET(PEB, Ldr) == 0x18);

/* The start of the TEB: NT_TIB, then the client id and the PEB pointer. */
typedef struct _NT_TIB {
  PVOID ExceptionList;
  PVOID StackBase;
  PVOID StackLimit;
  PVOID SubSystemTib;
  PVOID FiberData;
  PVOID ArbitraryUserPointer;
  struct _NT_TIB *Self;                    /* 0x30 */
} NT_TIB;
typedef struct _TEB {
  NT_TIB NtTib;                            /* 0x00 */
  PVOID EnvironmentPointer;                /* 0x38 */
  struct { PVOID UniqueProcess; PVOID UniqueThread; } ClientId; /* 0x40 */
  PVOID ActiveRpcHandle;                   /* 0x50 */
  PVOID ThreadLocalStoragePointer;         /* 0x58 */
  PPEB ProcessEnvironmentBlock;            /* 0x60 */
} TEB, *PTEB;
C_ASSERT(FIELD_OFFSET(TEB, ClientId) == 0x40);
C_ASSERT(FIELD_OFFSET(TEB, ProcessEnvironmentBlock) == 0x60);

/* LDR_DATA_TABLE_ENTRY.Flags bits this kernel sets (as Windows' loader does). */
#define LDRP_IMAGE_DLL          0x00000004
#define LDRP_ENTRY_PROCESSED    0x00004000

struct _DRIVER_OBJECT;
typedef NTSTATUS (*PDRIVER_INITIALIZE)(struct _DRIVER_OBJECT *DriverObject,
                                       PUNICODE_STRING RegistryPath);
typedef VOID (*PDRIVER_UNLOAD)(struct _DRIVER_OBJECT *DriverObject);

#define IRP_MJ_MAXIMUM_FUNCTION 0x1B

/* DRIVER_OBJECT with Windows' x64 offsets. */
typedef struct _DRIVER_OBJECT {
  SHORT Type;                              /* 0x00: IO_TYPE_DRIVER */
  SHORT Size;
  PVOID DeviceObject;                      /* 0x08 */
  ULONG Flags;                             /* 0x10 */
  PVOID DriverStart;                       /* 0x18 */
  ULONG DriverSize;                        /* 0x20 */
  PVOID DriverSection;                     /* 0x28: the LDR_DATA_TABLE_ENTRY */
  PVOID DriverExtension;                   /* 0x30 */
  UNICODE_STRING DriverName;               /* 0x38 */
  PUNICODE_STRING HardwareDatabase;        /* 0x48 */
  PVOID FastIoDispatch;                    /* 0x50 */
  PDRIVER_INITIALIZE DriverInit;           /* 0x58 */
  PVOID DriverStartIo;                     /* 0x60 */
  PDRIVER_UNLOAD DriverUnload;             /* 0x68 */
  PVOID MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1]; /* 0x70 */
} DRIVER_OBJECT, *PDRIVER_OBJECT;
C_ASSERT(FIELD_OFFSET(DRIVER_OBJECT, DriverUnload) == 0x68);
C_ASSERT(sizeof(DRIVER_OBJECT) == 0x150);
#define IO_TYPE_DRIVER 4

/* The PE header fields the loader code reads. */
typedef struct _IMAGE_DOS_HEADER {
  USHORT e_magic;                          /* "MZ" */
  USHORT e_cblp, e_cp, e_crlc, e_cparhdr, e_minalloc, e_maxalloc, e_ss, e_sp, e_csum,
      e_ip, e_cs, e_lfarlc, e_ovno, e_res[4], e_oemid, e_oeminfo, e_res2[10];
  LONG e_lfanew;                           /* 0x3C */
} IMAGE_DOS_HEADER;
C_ASSERT(FIELD_OFFSET(IMAGE_DOS_HEADER, e_lfanew) == 0x3C);

typedef struct _IMAGE_FILE_HEADER {
  USHORT Machine;
  USHORT NumberOfSections;
  ULONG TimeDateStamp;
  ULONG PointerToSymbolTable;
  ULONG NumberOfSymbols;
  USHORT SizeOfOptionalHeader;
  USHORT Characteristics;
} IMAGE_FILE_HEADER;

typedef struct _IMAGE_DATA_DIRECTORY {
  ULONG VirtualAddress;
  ULONG Size;
} IMAGE_DATA_DIRECTORY;

typedef struct _IMAGE_OPTIONAL_HEADER64 {
  USHORT Magic;                            /* 0x20B */
  UCHAR MajorLinkerVersion, MinorLinkerVersion;
  ULONG SizeOfCode, SizeOfInitializedData, SizeOfUninitializedData;
  ULONG AddressOfEntryPoint;
  ULONG BaseOfCode;
  ULONG64 ImageBase;
  ULONG SectionAlignment, FileAlignment;
  USHORT MajorOperatingSystemVersion, MinorOperatingSystemVersion;
  USHORT MajorImageVersion, MinorImageVersion;
  USHORT MajorSubsystemVersion, MinorSubsystemVersion;
  ULONG Win32VersionValue;
  ULONG SizeOfImage;
  ULONG SizeOfHeaders;
  ULONG CheckSum;
  USHORT Subsystem, DllCharacteristics;
  ULONG64 SizeOfStackReserve, SizeOfStackCommit, SizeOfHeapReserve, SizeOfHeapCommit;
  ULONG LoaderFlags;
  ULONG NumberOfRvaAndSizes;
  IMAGE_DATA_DIRECTORY DataDirectory[16];
} IMAGE_OPTIONAL_HEADER64;
C_ASSERT(sizeof(IMAGE_OPTIONAL_HEADER64) == 240);

typedef struct _IMAGE_NT_HEADERS64 {
  ULONG Signature;                         /* "PE\0\0" */
  IMAGE_FILE_HEADER FileHeader;
  IMAGE_OPTIONAL_HEADER64 OptionalHeader;
} IMAGE_NT_HEADERS64;

#define IMAGE_DOS_SIGNATURE 0x5A4D
#define IMAGE_NT_SIGNATURE 0x00004550
#define IMAGE_NT_OPTIONAL_HDR64_MAGIC 0x20B

#endif
