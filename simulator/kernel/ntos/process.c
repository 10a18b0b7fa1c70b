/* The user-mode side of the system: smss.exe, csrss.exe and explorer.exe. Each is an
 * EPROCESS on PsActiveProcessHead (ActiveProcessLinks) with its own address space
 * (a PML4 sharing the kernel half, from SIM_CREATE_ADDRESS_SPACE), a PEB in its user
 * pages whose Ldr lists the process's modules (InLoadOrderModuleList of
 * LDR_DATA_TABLE_ENTRYs, names as UNICODE_STRINGs), and one thread, waiting (no user
 * code runs: the threads sit in the Waiting state as an idle desktop's do, on both
 * thread lists with a Cid and a TEB).
 *
 * The user block of every process is laid out at the same user address (each process
 * has its own pages behind it): PEB, PEB_LDR_DATA, the loader entries, their strings
 * and the TEB. The kernel builds it in pool, pointers already pointing into the user
 * block, and the simulator copies it into the new address space. */
#include "ki.h"

#define USER_BLOCK_VA 0x000000007FFD0000ull  /* where the Windows 7 PEB lived */
#define USER_BLOCK_SIZE 0x4000
#define USER_PEB 0x0000
#define USER_LDR 0x1000
#define USER_ENTRIES 0x1100
#define USER_STRINGS 0x2000
#define USER_TEB 0x3000
#define USER_STACK_SIZE 0x2000               /* the waiting thread's kernel stack */
#define MAX_MODULES 4
#define DISPATCHER_PROCESS_OBJECT 3

typedef struct _USER_MODULE {
  PCWSTR Name;       /* base name */
  PCWSTR Path;       /* full name */
  ULONG64 Base;      /* DllBase as the process sees it (nothing is mapped there) */
  ULONG Size;
} USER_MODULE;

typedef struct _USER_PROCESS {
  PCSTR ImageFileName;
  ULONG ProcessId;
  ULONG ParentId;
  USER_MODULE Modules[MAX_MODULES];
} USER_PROCESS;

/* Process ids and module bases of a freshly booted Windows 10 look like these. */
static const USER_PROCESS PspUserProcesses[] = {
    {"smss.exe", 0x174, 4, {
        {u"smss.exe", u"\\SystemRoot\\System32\\smss.exe", 0x00007FF6A1B20000ull, 0x26000},
        {u"ntdll.dll", u"C:\\Windows\\SYSTEM32\\ntdll.dll", 0x00007FFD4A7B0000ull, 0x1F8000},
    }},
    {"csrss.exe", 0x1F4, 0x174, {
        {u"csrss.exe", u"C:\\Windows\\system32\\csrss.exe", 0x00007FF7C3E40000ull, 0x7000},
        {u"ntdll.dll", u"C:\\Windows\\SYSTEM32\\ntdll.dll", 0x00007FFD4A7B0000ull, 0x1F8000},
        {u"CSRSRV.dll", u"C:\\Windows\\system32\\CSRSRV.dll", 0x00007FFD48450000ull, 0x1A000},
    }},
    {"explorer.exe", 0x1208, 0x1F4, {
        {u"Explorer.EXE", u"C:\\Windows\\Explorer.EXE", 0x00007FF6E5C60000ull, 0x4B7000},
        {u"ntdll.dll", u"C:\\Windows\\SYSTEM32\\ntdll.dll", 0x00007FFD4A7B0000ull, 0x1F8000},
        {u"KERNEL32.DLL", u"C:\\Windows\\System32\\KERNEL32.DLL", 0x00007FFD49630000ull, 0xBD000},
    }},
};

static SIZE_T WideLength(PCWSTR Text) {
  SIZE_T N = 0;
  while (Text[N])
    ++N;
  return N;
}

/* Copies Text into the user block's string area; the UNICODE_STRING points at the copy
 * as the process sees it. */
static VOID PutString(PUCHAR Block, ULONG *Next, UNICODE_STRING *String, PCWSTR Text) {
  SIZE_T Bytes = WideLength(Text) * sizeof(WCHAR);
  if (*Next + Bytes + sizeof(WCHAR) > USER_TEB) {  /* the string area is full: leave it empty */
    String->Length = String->MaximumLength = 0;
    String->Buffer = NULL;
    return;
  }
  memcpy(Block + *Next, Text, Bytes + sizeof(WCHAR));
  String->Length = (USHORT)Bytes;
  String->MaximumLength = (USHORT)(Bytes + sizeof(WCHAR));
  String->Buffer = (PWSTR)(USER_BLOCK_VA + *Next);
  *Next = (ULONG)((*Next + Bytes + sizeof(WCHAR) + 7) & ~7ull);
}

#define USER_VA(Offset) ((PVOID)(USER_BLOCK_VA + (Offset)))

/* The PEB, loader data and TEB of one process, as its user pages will hold them. */
static VOID PspBuildUserBlock(PUCHAR Block, const USER_PROCESS *Spec, PETHREAD Thread) {
  PPEB Peb = (PPEB)(Block + USER_PEB);
  PPEB_LDR_DATA Ldr = (PPEB_LDR_DATA)(Block + USER_LDR);
  PLDR_DATA_TABLE_ENTRY Entries = (PLDR_DATA_TABLE_ENTRY)(Block + USER_ENTRIES);
  ULONG Strings = USER_STRINGS;
  Peb->Ldr = (PPEB_LDR_DATA)USER_VA(USER_LDR);
  Peb->ImageBaseAddress = (PVOID)Spec->Modules[0].Base;
  Ldr->Length = sizeof(PEB_LDR_DATA);
  Ldr->Initialized = TRUE;

  /* The three lists, linked with user addresses: head -> entry 0 -> ... -> head. */
  ULONG Count = 0;
  while (Count < MAX_MODULES && Spec->Modules[Count].Name)
    ++Count;
  static const ULONG ListOffsets[3] = {
      FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, InLoadOrderLinks),
      FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, InMemoryOrderLinks),
      FIELD_OFFSET(LDR_DATA_TABLE_ENTRY, InInitializationOrderLinks)};
  static const ULONG HeadOffsets[3] = {
      FIELD_OFFSET(PEB_LDR_DATA, InLoadOrderModuleList),
      FIELD_OFFSET(PEB_LDR_DATA, InMemoryOrderModuleList),
      FIELD_OFFSET(PEB_LDR_DATA, InInitializationOrderModuleList)};
  for (ULONG List = 0; List < 3; ++List) {
    ULONG64 Head = USER_BLOCK_VA + USER_LDR + HeadOffsets[List];
    PLIST_ENTRY HeadLocal = (PLIST_ENTRY)(Block + USER_LDR + HeadOffsets[List]);
    for (ULONG I = 0; I <= Count; ++I) {
      /* Node I is entry I, node Count is the head again. */
      ULONG64 This = I < Count ? USER_BLOCK_VA + USER_ENTRIES + I * sizeof(LDR_DATA_TABLE_ENTRY) +
                                     ListOffsets[List]
                               : Head;
      ULONG64 Prev = I == 0 ? Head
                            : USER_BLOCK_VA + USER_ENTRIES + (I - 1) * sizeof(LDR_DATA_TABLE_ENTRY) +
                                  ListOffsets[List];
      PLIST_ENTRY ThisLocal = I < Count ? (PLIST_ENTRY)((PUCHAR)&Entries[I] + ListOffsets[List]) : HeadLocal;
      PLIST_ENTRY PrevLocal = I == 0 ? HeadLocal : (PLIST_ENTRY)((PUCHAR)&Entries[I - 1] + ListOffsets[List]);
      PrevLocal->Flink = (PLIST_ENTRY)This;
      ThisLocal->Blink = (PLIST_ENTRY)Prev;
    }
  }
  for (ULONG I = 0; I < Count; ++I) {
    const USER_MODULE *Module = &Spec->Modules[I];
    Entries[I].DllBase = (PVOID)Module->Base;
    Entries[I].SizeOfImage = Module->Size;
    Entries[I].LoadCount = 0xFFFF;
    Entries[I].Flags = I == 0 ? LDRP_ENTRY_PROCESSED : (LDRP_IMAGE_DLL | LDRP_ENTRY_PROCESSED);
    PutString(Block, &Strings, &Entries[I].FullDllName, Module->Path);
    PutString(Block, &Strings, &Entries[I].BaseDllName, Module->Name);
  }

  PTEB Teb = (PTEB)(Block + USER_TEB);
  Teb->NtTib.Self = (NT_TIB *)USER_VA(USER_TEB);
  Teb->ClientId.UniqueProcess = Thread->Cid.UniqueProcess;
  Teb->ClientId.UniqueThread = Thread->Cid.UniqueThread;
  Teb->ProcessEnvironmentBlock = (PPEB)USER_VA(USER_PEB);
}

static VOID PspCreateUserProcess(const USER_PROCESS *Spec) {
  PEPROCESS Process = ExAllocatePoolWithTag(NonPagedPool, sizeof(EPROCESS), TAG('P', 'r', 'o', 'c'));
  PETHREAD Thread = ExAllocatePoolWithTag(NonPagedPool, sizeof(ETHREAD), TAG('T', 'h', 'r', 'e'));
  PUCHAR Stack = ExAllocatePoolWithTag(NonPagedPool, USER_STACK_SIZE, TAG('S', 't', 'a', 'k'));
  PUCHAR Block = ExAllocatePoolWithTag(NonPagedPool, USER_BLOCK_SIZE, TAG('U', 's', 'r', 'B'));
  if (!Process || !Thread || !Stack || !Block) {
    DbgPrint("simkrnl: no pool for %s\n", Spec->ImageFileName);
    ExFreePool(Process);
    ExFreePool(Thread);
    ExFreePool(Stack);
    ExFreePool(Block);
    return;
  }
  memset(Process, 0, sizeof(*Process));
  memset(Thread, 0, sizeof(*Thread));
  memset(Block, 0, USER_BLOCK_SIZE);
  Process->Pcb.Header.Type = DISPATCHER_PROCESS_OBJECT;
  InitializeListHead(&Process->Pcb.Header.WaitListHead);
  InitializeListHead(&Process->Pcb.ProfileListHead);
  InitializeListHead(&Process->Pcb.ThreadListHead);
  InitializeListHead(&Process->ThreadListHead);
  Process->UniqueProcessId = (PVOID)(ULONG_PTR)Spec->ProcessId;
  Process->InheritedFromUniqueProcessId = (PVOID)(ULONG_PTR)Spec->ParentId;
  CopyName((CHAR *)Process->ImageFileName, sizeof(Process->ImageFileName), Spec->ImageFileName);

  PspInitializeThread(Thread, Process, Spec->ImageFileName, Stack, USER_STACK_SIZE, Waiting);
  Thread->Win32StartAddress = (PVOID)(Spec->Modules[0].Base + 0x1000);
  Thread->Tcb.Teb = USER_VA(USER_TEB);
  PspBuildUserBlock(Block, Spec, Thread);

  SIM_SERVICE_RESULT Space = KiSimService(SIM_CREATE_ADDRESS_SPACE, USER_BLOCK_VA, (ULONG64)Block,
                                          USER_BLOCK_SIZE, 0);
  ExFreePool(Block);
  if (!Space.Rax) {
    /* No address space: the process still exists, without a PEB (as a minimal process). */
    DbgPrint("simkrnl: no address space for %s\n", Spec->ImageFileName);
    Process->Pcb.DirectoryTableBase = KiSystemProcess.Pcb.DirectoryTableBase;
    Thread->Tcb.Teb = NULL;
  } else {
    Process->Pcb.DirectoryTableBase = Space.Rax;
    Process->Peb = (struct _PEB *)USER_VA(USER_PEB);
  }
  InsertTailList(&PsActiveProcessHead, &Process->ActiveProcessLinks);
}

VOID PsInitializeUserProcesses(VOID) {
  for (SIZE_T I = 0; I < ARRAYSIZE(PspUserProcesses); ++I)
    PspCreateUserProcess(&PspUserProcesses[I]);
}
