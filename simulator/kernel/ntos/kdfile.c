/* Files the debugger may serve (.kdfiles). As Windows' loader does for a driver it is
 * about to load, the kernel asks first and copes with either answer: at boot it asks
 * for simdrv2.sys and reports what it got; the image cycler asks before every load
 * and hands a served copy to SIM_MAP_IMAGE. */
#include "ki.h"

#define FILE_CHUNK 0x1000
#define FILE_MAX (16ull << 20)
#define FILE_TAG TAG('K', 'd', 'F', 'l')

static VOID NarrowName(CHAR *Name, SIZE_T Size, PCWSTR Path) {
  SIZE_T I = 0;
  for (; Path[I] && I + 1 < Size; ++I)
    Name[I] = Path[I] < 0x80 ? (CHAR)Path[I] : '?';
  Name[I] = '\0';
}

PVOID IopPullRemoteFile(PCWSTR Path, ULONG64 *Size, NTSTATUS *Status) {
  SIM_SERVICE_RESULT Open =
      KiSimService(SIM_FILE_OPEN, (ULONG64)Path, wcslen(Path) * sizeof(WCHAR), 0, 0);
  *Status = (NTSTATUS)Open.Rax;
  *Size = 0;
  if (!NT_SUCCESS(*Status))
    return NULL;
  ULONG64 Length = Open.Rdx;
  if (Length == 0 || Length > FILE_MAX) {
    *Status = STATUS_INSUFFICIENT_RESOURCES;
    return NULL;
  }
  PUCHAR Buffer = ExAllocatePoolWithTag(NonPagedPool, Length, FILE_TAG);
  if (!Buffer) {
    *Status = STATUS_INSUFFICIENT_RESOURCES;
    return NULL;
  }
  ULONG64 Offset = 0;
  while (Offset < Length) {
    ULONG64 Want = Length - Offset < FILE_CHUNK ? Length - Offset : FILE_CHUNK;
    SIM_SERVICE_RESULT Read = KiSimService(SIM_FILE_READ, (ULONG64)(Buffer + Offset), Offset, Want, 0);
    *Status = (NTSTATUS)Read.Rax;
    ULONG64 Got = Read.Rdx > Want ? Want : Read.Rdx;
    if (!NT_SUCCESS(*Status) || Got == 0)
      break;
    Offset += Got;
  }
  if (Offset != Length) {
    ExFreePoolWithTag(Buffer, FILE_TAG);
    if (NT_SUCCESS(*Status))
      *Status = STATUS_UNSUCCESSFUL;  /* the file ended early */
    return NULL;
  }
  *Size = Length;
  return Buffer;
}

VOID IopFreeRemoteFile(PVOID Buffer) { ExFreePoolWithTag(Buffer, FILE_TAG); }

VOID IopRequestReplacementFile(PCWSTR Path) {
  CHAR Name[128];
  NarrowName(Name, sizeof(Name), Path);
  ULONG64 Size;
  NTSTATUS Status;
  PUCHAR Buffer = IopPullRemoteFile(Path, &Size, &Status);
  if (!Buffer) {
    DbgPrint("simkrnl: %s was not served by the debugger (status 0x%08lx)\n", Name, Status);
    return;
  }
  ULONG Checksum = 0;
  for (ULONG64 I = 0; I < Size; ++I)
    Checksum = (Checksum << 5 | Checksum >> 27) ^ Buffer[I];  /* rotate-xor */
  BOOLEAN IsImage = Size >= 2 && Buffer[0] == 'M' && Buffer[1] == 'Z';
  DbgPrint("simkrnl: the debugger served %s: %llu bytes (%s), checksum %08lx\n", Name, Size,
           IsImage ? "an MZ image" : "not an image", Checksum);
  IopFreeRemoteFile(Buffer);
}
