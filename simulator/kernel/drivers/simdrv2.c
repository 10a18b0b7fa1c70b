/* simdrv2.sys: loaded and unloaded over and over by the kernel's image cycler, so a
 * debugger sees module load and unload events and a module list that changes. */
#include "../sdk/ntapi.h"

#define TABLE_SIZE 64

/* Filled by DriverEntry; a debugger can dump it while the driver is loaded. */
__declspec(dllexport) ULONG Simdrv2Table[TABLE_SIZE];
static ULONG Simdrv2Sum;
/* An absolute pointer in data (not const, so it stays in data): the image carries
 * base relocations. */
PCSTR Simdrv2Greeting = "simdrv2: DriverEntry: loaded at %p, %lu bytes, on cpu %lu\n";

static __declspec(noinline) ULONG Simdrv2FillTable(ULONG Seed) {
  ULONG Sum = 0;
  for (ULONG I = 0; I < TABLE_SIZE; ++I) {
    Seed = Seed * 1103515245u + 12345u;
    Simdrv2Table[I] = Seed >> 8;
    Sum += Simdrv2Table[I];
  }
  return Sum;
}

__declspec(dllexport) VOID DriverUnload(PDRIVER_OBJECT DriverObject) {
  DbgPrint("simdrv2: DriverUnload: driver object %p, table sum %08lx\n", DriverObject, Simdrv2Sum);
}

__declspec(dllexport) NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject,
                                           PUNICODE_STRING RegistryPath) {
  (void)RegistryPath;
  Simdrv2Sum = Simdrv2FillTable((ULONG)(ULONG_PTR)DriverObject->DriverStart);
  DbgPrint(Simdrv2Greeting, DriverObject->DriverStart, DriverObject->DriverSize,
           KeGetCurrentProcessorNumber());
  DriverObject->DriverUnload = DriverUnload;
  return STATUS_SUCCESS;
}
