/* Loaded images: PsLoadedModuleList (what debuggers walk to list modules), loading
 * and unloading drivers through the simulator's mapper, and their DriverEntry. */
#include "ki.h"

LIST_ENTRY PsLoadedModuleList = {&PsLoadedModuleList, &PsLoadedModuleList};
static KSPIN_LOCK PsLoadedModuleSpinLock;

#define LDR_TAG TAG('M', 'm', 'L', 'd')
#define DRIVER_TAG TAG('D', 'r', 'v', 'O')
#define SYMBOLS_PROCESS_ID 0  /* kernel-mode images belong to no user process */

IMAGE_NT_HEADERS64 *RtlImageNtHeader(PVOID Base) {
  IMAGE_DOS_HEADER *Dos = Base;
  if (!Base || Dos->e_magic != IMAGE_DOS_SIGNATURE || Dos->e_lfanew <= 0 ||
      Dos->e_lfanew > 0x1000)
    return NULL;
  IMAGE_NT_HEADERS64 *Nt = (IMAGE_NT_HEADERS64 *)((PUCHAR)Base + Dos->e_lfanew);
  if (Nt->Signature != IMAGE_NT_SIGNATURE ||
      Nt->OptionalHeader.Magic != IMAGE_NT_OPTIONAL_HDR64_MAGIC)
    return NULL;
  return Nt;
}

/* The ASCII form of a UTF-16 path, for the symbol load notices. */
static VOID NarrowPath(CHAR *Destination, SIZE_T Size, const UNICODE_STRING *Source) {
  SIZE_T Count = Source->Length / sizeof(WCHAR), I = 0;
  for (; I < Count && I + 1 < Size; ++I) {
    WCHAR C = Source->Buffer[I];
    Destination[I] = C < 0x80 ? (CHAR)C : '?';
  }
  Destination[I] = '\0';
}

static VOID NotifySymbols(PLDR_DATA_TABLE_ENTRY Entry, BOOLEAN Load) {
  CHAR Path[260];
  STRING Name;
  NarrowPath(Path, sizeof(Path), &Entry->FullDllName);
  RtlInitAnsiString(&Name, Path);
  if (Load)
    DbgLoadImageSymbols(&Name, Entry->DllBase, SYMBOLS_PROCESS_ID);
  else
    DbgUnLoadImageSymbols(&Name, Entry->DllBase, SYMBOLS_PROCESS_ID);
}

/* Builds an entry (with its two names in the same allocation) for an image already
 * in memory, links it at the tail of PsLoadedModuleList and announces its symbols. */
static PLDR_DATA_TABLE_ENTRY MiInsertImage(PVOID Base, PCWSTR FullName, PCWSTR BaseName) {
  IMAGE_NT_HEADERS64 *Nt = RtlImageNtHeader(Base);
  if (!Nt) {
    DbgPrint("simkrnl: no PE image at %p\n", Base);
    return NULL;
  }
  SIZE_T FullBytes = (wcslen(FullName) + 1) * sizeof(WCHAR);
  SIZE_T BaseBytes = (wcslen(BaseName) + 1) * sizeof(WCHAR);
  PLDR_DATA_TABLE_ENTRY Entry = ExAllocatePoolWithTag(
      NonPagedPool, sizeof(LDR_DATA_TABLE_ENTRY) + FullBytes + BaseBytes, LDR_TAG);
  if (!Entry)
    return NULL;
  PWSTR FullCopy = (PWSTR)(Entry + 1);
  PWSTR BaseCopy = (PWSTR)((PUCHAR)FullCopy + FullBytes);
  memcpy(FullCopy, FullName, FullBytes);
  memcpy(BaseCopy, BaseName, BaseBytes);
  InitializeListHead(&Entry->InMemoryOrderLinks);
  InitializeListHead(&Entry->InInitializationOrderLinks);
  InitializeListHead(&Entry->HashLinks);
  Entry->DllBase = Base;
  Entry->EntryPoint = Nt->OptionalHeader.AddressOfEntryPoint
                          ? (PUCHAR)Base + Nt->OptionalHeader.AddressOfEntryPoint
                          : NULL;
  Entry->SizeOfImage = Nt->OptionalHeader.SizeOfImage;
  RtlInitUnicodeString(&Entry->FullDllName, FullCopy);
  RtlInitUnicodeString(&Entry->BaseDllName, BaseCopy);
  Entry->Flags = LDRP_IMAGE_DLL;
  Entry->LoadCount = 1;
  Entry->TimeDateStamp = Nt->FileHeader.TimeDateStamp;
  Entry->CheckSum = Nt->OptionalHeader.CheckSum;

  KiAcquireSpinLock(&PsLoadedModuleSpinLock);
  InsertTailList(&PsLoadedModuleList, &Entry->InLoadOrderLinks);
  KiReleaseSpinLock(&PsLoadedModuleSpinLock);
  NotifySymbols(Entry, TRUE);
  return Entry;
}

PLDR_DATA_TABLE_ENTRY MiRegisterBootImage(PVOID Base, PCWSTR FullName, PCWSTR BaseName) {
  return MiInsertImage(Base, FullName, BaseName);
}

PLDR_DATA_TABLE_ENTRY MmLoadSystemImage(PCSTR FileName, PCWSTR FullName, PCWSTR BaseName,
                                        PVOID Served, ULONG64 ServedSize) {
  SIM_SERVICE_RESULT Mapped = KiSimService(SIM_MAP_IMAGE, (ULONG64)FileName, (ULONG64)Served,
                                           Served ? ServedSize : 0, 0);
  if (!Mapped.Rax) {
    DbgPrint("simkrnl: the simulator could not map %s\n", FileName);
    return NULL;
  }
  PLDR_DATA_TABLE_ENTRY Entry = MiInsertImage((PVOID)Mapped.Rax, FullName, BaseName);
  if (!Entry) {
    KiSimService(SIM_UNMAP_IMAGE, Mapped.Rax, 0, 0, 0);
    return NULL;
  }
  DbgPrint("simkrnl: loaded %s at %p (%llu bytes)\n", FileName, Entry->DllBase, Mapped.Rdx);
  return Entry;
}

NTSTATUS IopCallDriverEntry(PLDR_DATA_TABLE_ENTRY Entry, PCWSTR ServiceName) {
  static const WCHAR Prefix[] = u"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\";
  SIZE_T PrefixBytes = sizeof(Prefix) - sizeof(WCHAR);
  SIZE_T NameBytes = (wcslen(ServiceName) + 1) * sizeof(WCHAR);
  PDRIVER_OBJECT Driver =
      ExAllocatePoolWithTag(NonPagedPool, sizeof(DRIVER_OBJECT) + PrefixBytes + NameBytes, DRIVER_TAG);
  if (!Driver)
    return STATUS_INSUFFICIENT_RESOURCES;
  PWSTR RegistryBuffer = (PWSTR)(Driver + 1);
  memcpy(RegistryBuffer, Prefix, PrefixBytes);
  memcpy((PUCHAR)RegistryBuffer + PrefixBytes, ServiceName, NameBytes);
  UNICODE_STRING RegistryPath;
  RtlInitUnicodeString(&RegistryPath, RegistryBuffer);

  Driver->Type = IO_TYPE_DRIVER;
  Driver->Size = sizeof(DRIVER_OBJECT);
  Driver->DriverStart = Entry->DllBase;
  Driver->DriverSize = Entry->SizeOfImage;
  Driver->DriverSection = Entry;
  Driver->DriverName = Entry->BaseDllName;
  Driver->DriverInit = (PDRIVER_INITIALIZE)Entry->EntryPoint;
  Entry->DriverObject = Driver;
  if (!Driver->DriverInit)
    return STATUS_UNSUCCESSFUL;
  NTSTATUS Status = Driver->DriverInit(Driver, &RegistryPath);
  Entry->Flags |= LDRP_ENTRY_PROCESSED;
  if (!NT_SUCCESS(Status))
    DbgPrint("simkrnl: DriverEntry of image at %p failed: 0x%08lx\n", Entry->DllBase, Status);
  return Status;
}

NTSTATUS MmUnloadSystemImage(PLDR_DATA_TABLE_ENTRY Entry) {
  PDRIVER_OBJECT Driver = Entry->DriverObject;
  if (Driver && Driver->DriverUnload)
    Driver->DriverUnload(Driver);
  KiAcquireSpinLock(&PsLoadedModuleSpinLock);
  RemoveEntryList(&Entry->InLoadOrderLinks);
  KiReleaseSpinLock(&PsLoadedModuleSpinLock);
  NotifySymbols(Entry, FALSE);
  PVOID Base = Entry->DllBase;
  KiSimService(SIM_UNMAP_IMAGE, (ULONG64)Base, 0, 0, 0);
  ExFreePoolWithTag(Driver, DRIVER_TAG);
  ExFreePoolWithTag(Entry, LDR_TAG);
  DbgPrint("simkrnl: unloaded image at %p\n", Base);
  return STATUS_SUCCESS;
}
