/* Files the debugger may serve (.kdfiles): the kernel asks, as Windows' loader does
 * for a driver it is about to load, and copes with either answer. */
#include "ki.h"

#define FILE_CHUNK 0x1000
#define FILE_TAG TAG('K', 'd', 'F', 'l')

/* Reads the whole file through SIM_FILE_READ and reports its size and a checksum. */
static VOID ReadServedFile(PCSTR Name, ULONG64 Size) {
  PUCHAR Chunk = ExAllocatePoolWithTag(NonPagedPool, FILE_CHUNK, FILE_TAG);
  if (!Chunk)
    return;
  ULONG64 Offset = 0;
  ULONG Checksum = 0;
  UCHAR Magic[2] = {0, 0};
  NTSTATUS Status = STATUS_SUCCESS;
  while (Offset < Size) {
    ULONG64 Want = Size - Offset < FILE_CHUNK ? Size - Offset : FILE_CHUNK;
    SIM_SERVICE_RESULT Read = KiSimService(SIM_FILE_READ, (ULONG64)Chunk, Offset, Want, 0);
    Status = (NTSTATUS)Read.Rax;
    ULONG64 Got = Read.Rdx > Want ? Want : Read.Rdx;
    if (!NT_SUCCESS(Status) || Got == 0)
      break;
    for (ULONG64 I = 0; I < Got; ++I) {
      if (Offset + I < 2)
        Magic[Offset + I] = Chunk[I];
      Checksum = (Checksum << 5 | Checksum >> 27) ^ Chunk[I];  /* rotate-xor */
    }
    Offset += Got;
  }
  ExFreePoolWithTag(Chunk, FILE_TAG);
  BOOLEAN IsImage = Magic[0] == 'M' && Magic[1] == 'Z';
  DbgPrint("simkrnl: the debugger served %s: %llu bytes, read %llu (%s), checksum %08lx, status 0x%08lx\n",
           Name, Size, Offset, IsImage ? "an MZ image" : "not an image", Checksum, Status);
}

VOID IopRequestReplacementFile(PCWSTR Path) {
  CHAR Name[128];
  SIZE_T Characters = wcslen(Path), I = 0;
  for (; I < Characters && I + 1 < sizeof(Name); ++I)
    Name[I] = Path[I] < 0x80 ? (CHAR)Path[I] : '?';
  Name[I] = '\0';

  SIM_SERVICE_RESULT Open =
      KiSimService(SIM_FILE_OPEN, (ULONG64)Path, Characters * sizeof(WCHAR), 0, 0);
  NTSTATUS Status = (NTSTATUS)Open.Rax;
  if (!NT_SUCCESS(Status)) {
    DbgPrint("simkrnl: %s was not served by the debugger (status 0x%08lx)\n", Name, Status);
    return;
  }
  ReadServedFile(Name, Open.Rdx);
}
