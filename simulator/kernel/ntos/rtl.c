/* Memory and string routines. Built with -fno-builtin so these loops stay loops (the
 * compiler emits calls to memset/memcpy for struct copies, and these answer them). */
#include "ki.h"

void *memcpy(void *Destination, const void *Source, SIZE_T Count) {
  UCHAR *D = Destination;
  const UCHAR *S = Source;
  while (Count--)
    *D++ = *S++;
  return Destination;
}

void *memmove(void *Destination, const void *Source, SIZE_T Count) {
  UCHAR *D = Destination;
  const UCHAR *S = Source;
  if (D <= S || D >= S + Count)
    return memcpy(Destination, Source, Count);
  while (Count--)
    D[Count] = S[Count];
  return Destination;
}

void *memset(void *Destination, int Value, SIZE_T Count) {
  UCHAR *D = Destination;
  while (Count--)
    *D++ = (UCHAR)Value;
  return Destination;
}

int memcmp(const void *A, const void *B, SIZE_T Count) {
  const UCHAR *X = A, *Y = B;
  for (; Count; --Count, ++X, ++Y)
    if (*X != *Y)
      return *X < *Y ? -1 : 1;
  return 0;
}

SIZE_T strlen(const char *String) {
  SIZE_T Length = 0;
  while (String[Length])
    ++Length;
  return Length;
}

SIZE_T wcslen(const unsigned short *String) {
  SIZE_T Length = 0;
  while (String[Length])
    ++Length;
  return Length;
}

VOID RtlInitUnicodeString(PUNICODE_STRING Destination, PCWSTR Source) {
  SIZE_T Bytes = Source ? wcslen(Source) * sizeof(WCHAR) : 0;
  if (Bytes > 0xFFFC)
    Bytes = 0xFFFC;
  Destination->Length = (USHORT)Bytes;
  Destination->MaximumLength = Source ? (USHORT)(Bytes + sizeof(WCHAR)) : 0;
  Destination->Buffer = (PWSTR)Source;
}

VOID RtlInitAnsiString(PANSI_STRING Destination, PCSTR Source) {
  SIZE_T Length = Source ? strlen(Source) : 0;
  if (Length > 0xFFFE)
    Length = 0xFFFE;
  Destination->Length = (USHORT)Length;
  Destination->MaximumLength = Source ? (USHORT)(Length + 1) : 0;
  Destination->Buffer = (PCHAR)Source;
}

VOID KeInitializeSpinLock(KSPIN_LOCK *Lock) { *Lock = 0; }

VOID KiAcquireSpinLock(KSPIN_LOCK *Lock) {
  for (ULONG Spins = 0; __atomic_exchange_n(Lock, 1, __ATOMIC_ACQUIRE) != 0; ++Spins) {
    KeYieldProcessor();
    /* The holder may be a preempted thread on this very processor: let it run. */
    if ((Spins & 63) == 63)
      KiSimService(SIM_YIELD, 0, 0, 0, 0);
  }
}

VOID KiReleaseSpinLock(KSPIN_LOCK *Lock) { __atomic_store_n(Lock, 0, __ATOMIC_RELEASE); }
