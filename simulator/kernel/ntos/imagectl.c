/* The image cycler's manual mode: simdrv2.sys is loaded and unloaded when the host
 * (openkd.Simulator.load_driver / unload_driver) or a debugger (ed nt!ExpImageRequest)
 * asks, instead of on workers.c's fixed pacing. A debugger sees the same module load
 * and unload events as with the automatic cycle.
 *
 * This file is linked after trap.S and its globals are zero-initialised (.bss, which
 * lld places after all initialised data), so adding it moved no existing function or
 * variable of simkrnl.exe: the golden transcripts' addresses stay as they were. */
#include "ki.h"

#define SIMDRV2_PATH u"\\SystemRoot\\system32\\drivers\\simdrv2.sys"

/* Readable and writable by name (exports): kd's `dd nt!ExpImageState L1`, the host's
 * symbol lookup. All three are ULONG so kd's `ed` writes them whole. */
__declspec(dllexport) volatile ULONG ExpImageCyclerMode;  /* IMAGE_CYCLER_MODE; read once when the cycler starts */
__declspec(dllexport) volatile ULONG ExpImageRequest;     /* IMAGE_REQUEST; the cycler sets it back to 0 when done */
__declspec(dllexport) volatile ULONG ExpImageState;       /* IMAGE_CYCLER_STATE */
extern volatile ULONG64 ExpImageLoadCount;                /* workers.c: loads so far, in both modes */

static BOOLEAN ExpManualLoad(PLDR_DATA_TABLE_ENTRY *Loaded) {
  /* As the automatic cycle (workers.c ExpImageCycler): a copy the debugger serves wins.
   * Written out again rather than shared: moving these lines out of ExpImageCycler
   * would shift every kernel function linked after it (and the golden transcripts). */
  ULONG64 ServedSize;
  NTSTATUS Status;
  PVOID Served = IopPullRemoteFile(SIMDRV2_PATH, &ServedSize, &Status);
  if (Served)
    DbgPrint("simkrnl: loading simdrv2.sys from the debugger's copy (%llu bytes)\n", ServedSize);
  PLDR_DATA_TABLE_ENTRY Entry =
      MmLoadSystemImage("simdrv2.sys", SIMDRV2_PATH, u"simdrv2.sys", Served, ServedSize);
  if (Served)
    IopFreeRemoteFile(Served);
  if (!Entry)
    return FALSE;
  ++ExpImageLoadCount;
  if (!NT_SUCCESS(IopCallDriverEntry(Entry, u"simdrv2"))) {
    MmUnloadSystemImage(Entry);
    return FALSE;
  }
  *Loaded = Entry;
  return TRUE;
}

/* Polls ExpImageRequest once per yield; never returns. The host reads and writes these
 * variables only between the simulator's slices, so it sees either the request not yet
 * taken (state unloaded/loaded: it may withdraw it) or taken (loading/unloading): the
 * request is read again after the state says "taken", and a withdrawn one is dropped. */
static DECLSPEC_NORETURN VOID ExpManualImageCycler(VOID) {
  PLDR_DATA_TABLE_ENTRY Entry = NULL;
  ExpImageState = ImageUnloaded;
  for (;;) {
    ULONG Request = ExpImageRequest;
    BOOLEAN Load = Request == ImageRequestLoad && !Entry;
    BOOLEAN Unload = Request == ImageRequestUnload && Entry;
    if (Load || Unload) {
      ULONG Before = ExpImageState;
      ExpImageState = Load ? ImageLoading : ImageUnloading;
      if (ExpImageRequest != Request) {
        ExpImageState = Before;  /* withdrawn */
      } else if (Load) {
        ExpImageState = ExpManualLoad(&Entry) ? ImageLoaded : ImageLoadFailed;
      } else {
        MmUnloadSystemImage(Entry);
        Entry = NULL;
        ExpImageState = ImageUnloaded;
      }
    }
    if (Request) /* done (or nothing to do); a request written meanwhile stays */
      __atomic_compare_exchange_n(&ExpImageRequest, &Request, 0, FALSE, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    KeDelayExecutionThread(KernelMode, FALSE, NULL);
  }
}

VOID ExpImageCyclerStart(PVOID Context) {
  if (ExpImageCyclerMode == ImageCyclerManual)
    ExpManualImageCycler();
  ExpImageCycler(Context);  /* automatic: exactly the cycle it always was */
}
