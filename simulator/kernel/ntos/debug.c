/* Debug output, prompts and symbol load notices: the BREAKPOINT_* debug services. */
#include "ki.h"

/* DbgPrint formats on the stack, as Windows does, and hands the text to the debugger
 * (a DEBUG_IO print packet when one is attached, nothing otherwise). */
#define DBG_PRINT_BUFFER 512

NTSTATUS DbgPrint(PCSTR Format, ...) {
  char Buffer[DBG_PRINT_BUFFER];
  va_list Args;
  va_start(Args, Format);
  int Length = _vsnprintf(Buffer, sizeof(Buffer), Format, Args);
  va_end(Args);
  if (Length < 0)
    return STATUS_UNSUCCESSFUL;
  if ((SIZE_T)Length >= sizeof(Buffer))
    Length = sizeof(Buffer) - 1;
  KiSimService(BREAKPOINT_PRINT, (ULONG64)Buffer, (ULONG64)Length, 0, 0);
  return STATUS_SUCCESS;
}

/* Shows Prompt and reads a reply of at most Length - 1 bytes into Response, which is
 * always NUL-terminated. Returns the number of bytes read (0 without a debugger). */
ULONG DbgPrompt(PCCH Prompt, PCHAR Response, ULONG Length) {
  if (!Response || Length == 0)
    return 0;
  SIM_SERVICE_RESULT Result = KiSimService(BREAKPOINT_PROMPT, (ULONG64)Prompt,
                                           strlen(Prompt), (ULONG64)Response, Length - 1);
  ULONG Read = (ULONG)Result.Rax;
  if (Read > Length - 1)
    Read = Length - 1;
  Response[Read] = '\0';
  return Read;
}

static VOID DebugServiceSymbols(ULONG Service, PSTRING FileName, PVOID ImageBase,
                                ULONG_PTR ProcessId) {
  KD_SYMBOLS_INFO Info = {0};
  Info.BaseOfDll = (ULONG64)ImageBase;
  Info.ProcessId = ProcessId;
  IMAGE_NT_HEADERS64 *Nt = RtlImageNtHeader(ImageBase);
  if (Nt) {
    Info.CheckSum = Nt->OptionalHeader.CheckSum;
    Info.SizeOfImage = Nt->OptionalHeader.SizeOfImage;
  }
  KiSimService(Service, (ULONG64)FileName, (ULONG64)&Info, 0, 0);
}

VOID DbgLoadImageSymbols(PSTRING FileName, PVOID ImageBase, ULONG_PTR ProcessId) {
  DebugServiceSymbols(BREAKPOINT_LOAD_SYMBOLS, FileName, ImageBase, ProcessId);
}

VOID DbgUnLoadImageSymbols(PSTRING FileName, PVOID ImageBase, ULONG_PTR ProcessId) {
  DebugServiceSymbols(BREAKPOINT_UNLOAD_SYMBOLS, FileName, ImageBase, ProcessId);
}
