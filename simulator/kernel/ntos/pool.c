/* The pool: one region from the loader block (ABI.md "Memory map"), carved first-fit
 * into 16-byte aligned blocks. Free blocks sit on an address-ordered list and merge
 * with their neighbours, so drivers loaded and unloaded forever do not leak it. */
#include "ki.h"

#define POOL_ALIGNMENT 16
#define POOL_FREE_TAG TAG('F', 'r', 'e', 'e')

/* Precedes every block, allocated or free; 16 bytes so the data stays aligned. */
typedef struct _POOL_HEADER {
  ULONG BlockSize;            /* bytes including this header */
  ULONG PoolTag;              /* the caller's tag, or POOL_FREE_TAG */
  struct _POOL_HEADER *Next;  /* free blocks: the next one by address */
} POOL_HEADER, *PPOOL_HEADER;
C_ASSERT(sizeof(POOL_HEADER) == POOL_ALIGNMENT);

typedef struct _POOL_DESCRIPTOR {
  KSPIN_LOCK Lock;
  ULONG64 Base, Size;
  PPOOL_HEADER FreeList;      /* ascending addresses */
  ULONG64 BytesFree;
  ULONG64 Allocations, Frees;
} POOL_DESCRIPTOR;

POOL_DESCRIPTOR ExpNonPagedPool;

/* Blocks are at most 4 GiB - 16 (BlockSize is 32 bits); the pool is carved into such
 * pieces up front. */
#define POOL_MAX_BLOCK 0xFFFFFFF0ull

VOID ExInitializePool(ULONG64 Base, ULONG64 Size) {
  POOL_DESCRIPTOR *Pool = &ExpNonPagedPool;
  KeInitializeSpinLock(&Pool->Lock);
  ULONG64 Start = (Base + POOL_ALIGNMENT - 1) & ~(ULONG64)(POOL_ALIGNMENT - 1);
  ULONG64 End = (Base + Size) & ~(ULONG64)(POOL_ALIGNMENT - 1);
  Pool->Base = Start;
  Pool->Size = End > Start ? End - Start : 0;
  Pool->FreeList = NULL;
  Pool->BytesFree = 0;
  PPOOL_HEADER *Link = &Pool->FreeList;
  for (ULONG64 At = Start; End > At && End - At >= 2 * sizeof(POOL_HEADER);) {
    ULONG64 Piece = End - At > POOL_MAX_BLOCK ? POOL_MAX_BLOCK : End - At;
    PPOOL_HEADER Block = (PPOOL_HEADER)At;
    Block->BlockSize = (ULONG)Piece;
    Block->PoolTag = POOL_FREE_TAG;
    Block->Next = NULL;
    *Link = Block;
    Link = &Block->Next;
    Pool->BytesFree += Piece;
    At += Piece;
  }
}

ULONG64 ExQueryPoolBytesFree(VOID) { return ExpNonPagedPool.BytesFree; }

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag) {
  (void)PoolType;  /* one pool: everything is non-paged */
  POOL_DESCRIPTOR *Pool = &ExpNonPagedPool;
  if (NumberOfBytes == 0 || NumberOfBytes > POOL_MAX_BLOCK - 2 * sizeof(POOL_HEADER))
    return NULL;
  ULONG Need = (ULONG)((NumberOfBytes + sizeof(POOL_HEADER) + POOL_ALIGNMENT - 1) &
                       ~(SIZE_T)(POOL_ALIGNMENT - 1));
  PVOID Result = NULL;
  KiAcquireSpinLock(&Pool->Lock);
  for (PPOOL_HEADER *Link = &Pool->FreeList; *Link; Link = &(*Link)->Next) {
    PPOOL_HEADER Block = *Link;
    if (Block->BlockSize < Need)
      continue;
    if (Block->BlockSize - Need >= 2 * sizeof(POOL_HEADER)) {
      /* Split: the tail stays free in the same place on the list. */
      PPOOL_HEADER Rest = (PPOOL_HEADER)((ULONG64)Block + Need);
      Rest->BlockSize = Block->BlockSize - Need;
      Rest->PoolTag = POOL_FREE_TAG;
      Rest->Next = Block->Next;
      *Link = Rest;
      Block->BlockSize = Need;
    } else {
      *Link = Block->Next;
    }
    Block->PoolTag = Tag;
    Block->Next = NULL;
    Pool->BytesFree -= Block->BlockSize;
    Pool->Allocations++;
    Result = Block + 1;
    break;
  }
  KiReleaseSpinLock(&Pool->Lock);
  if (Result)
    memset(Result, 0, Need - sizeof(POOL_HEADER));
  return Result;
}

PVOID ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes) {
  return ExAllocatePoolWithTag(PoolType, NumberOfBytes, TAG('N', 'o', 'n', 'e'));
}

VOID ExFreePoolWithTag(PVOID P, ULONG Tag) {
  POOL_DESCRIPTOR *Pool = &ExpNonPagedPool;
  if (!P)
    return;
  PPOOL_HEADER Block = (PPOOL_HEADER)P - 1;
  BOOLEAN InPool = (ULONG64)Block >= Pool->Base && (ULONG64)Block < Pool->Base + Pool->Size;
  ULONG Found = InPool ? Block->PoolTag : 0;
  if (!InPool || Found == POOL_FREE_TAG || (Tag && Found != Tag))
    KeBugCheckEx(0xC2 /* BAD_POOL_CALLER */, 7, Found, (ULONG_PTR)P, Tag);
  KiAcquireSpinLock(&Pool->Lock);
  Pool->BytesFree += Block->BlockSize;
  Pool->Frees++;
  Block->PoolTag = POOL_FREE_TAG;
  PPOOL_HEADER Previous = NULL, *Link = &Pool->FreeList;
  while (*Link && *Link < Block) {
    Previous = *Link;
    Link = &(*Link)->Next;
  }
  Block->Next = *Link;
  *Link = Block;
  /* Merge with the following block, then with the preceding one. */
  PPOOL_HEADER Next = Block->Next;
  if (Next && (ULONG64)Block + Block->BlockSize == (ULONG64)Next &&
      (ULONG64)Block->BlockSize + Next->BlockSize <= POOL_MAX_BLOCK) {
    Block->BlockSize += Next->BlockSize;
    Block->Next = Next->Next;
  }
  if (Previous && (ULONG64)Previous + Previous->BlockSize == (ULONG64)Block &&
      (ULONG64)Previous->BlockSize + Block->BlockSize <= POOL_MAX_BLOCK) {
    Previous->BlockSize += Block->BlockSize;
    Previous->Next = Block->Next;
  }
  KiReleaseSpinLock(&Pool->Lock);
}

VOID ExFreePool(PVOID P) { ExFreePoolWithTag(P, 0); }
