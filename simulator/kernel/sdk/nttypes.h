/* Basic Windows types for the simulated kernel and its drivers (freestanding, LLP64). */
#ifndef SIMKERNEL_NTTYPES_H
#define SIMKERNEL_NTTYPES_H

typedef unsigned char UCHAR, BOOLEAN, *PUCHAR;
typedef char CHAR, *PCHAR, *PSTR;
typedef const char *PCSTR, *PCCH;
typedef unsigned short USHORT, WCHAR, *PWCHAR, *PWSTR;
typedef const unsigned short *PCWSTR;
typedef short SHORT;
typedef unsigned long ULONG, *PULONG;  /* LLP64: long is 32 bits, as in Windows' own PDBs */
typedef long LONG, NTSTATUS;
typedef unsigned long long ULONG64, ULONG_PTR, SIZE_T, *PULONG64, KSPIN_LOCK;
typedef long long LONG64, LONG_PTR;
typedef void VOID, *PVOID;
typedef ULONG_PTR KAFFINITY;

#define TRUE 1
#define FALSE 0
#define NULL ((void *)0)

#define STATUS_SUCCESS                ((NTSTATUS)0x00000000)
#define STATUS_UNSUCCESSFUL           ((NTSTATUS)0xC0000001)
#define STATUS_ACCESS_VIOLATION       ((NTSTATUS)0xC0000005)
#define STATUS_NO_SUCH_FILE           ((NTSTATUS)0xC000000F)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009A)
#define STATUS_BREAKPOINT             ((NTSTATUS)0x80000003)
#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

#define FIELD_OFFSET(type, field) __builtin_offsetof(type, field)
#define CONTAINING_RECORD(address, type, field) \
  ((type *)((char *)(address) - FIELD_OFFSET(type, field)))
#define ARRAYSIZE(a) (sizeof(a) / sizeof((a)[0]))
#define C_ASSERT(e) _Static_assert(e, #e)
#define DECLSPEC_NOINLINE __declspec(noinline)
#define DECLSPEC_NORETURN __declspec(noreturn)
#define DECLSPEC_ALIGN(n) __declspec(align(n))

typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_arg(ap, type) __builtin_va_arg(ap, type)
#define va_end(ap) __builtin_va_end(ap)

typedef struct _LIST_ENTRY {
  struct _LIST_ENTRY *Flink;
  struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

/* The debugger-visible form of a list head: pointers as 64-bit numbers. */
typedef struct _LIST_ENTRY64 {
  ULONG64 Flink;
  ULONG64 Blink;
} LIST_ENTRY64, *PLIST_ENTRY64;

typedef struct _UNICODE_STRING {
  USHORT Length;        /* bytes, without a terminator */
  USHORT MaximumLength;
  PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
C_ASSERT(sizeof(UNICODE_STRING) == 16);

typedef struct _STRING {
  USHORT Length;
  USHORT MaximumLength;
  PCHAR Buffer;
} STRING, ANSI_STRING, *PSTRING, *PANSI_STRING;
C_ASSERT(sizeof(STRING) == 16);

static inline void InitializeListHead(PLIST_ENTRY Head) {
  Head->Flink = Head->Blink = Head;
}

static inline BOOLEAN IsListEmpty(const LIST_ENTRY *Head) {
  return Head->Flink == Head;
}

static inline void InsertTailList(PLIST_ENTRY Head, PLIST_ENTRY Entry) {
  PLIST_ENTRY Last = Head->Blink;
  Entry->Flink = Head;
  Entry->Blink = Last;
  Last->Flink = Entry;
  Head->Blink = Entry;
}

static inline void RemoveEntryList(PLIST_ENTRY Entry) {
  PLIST_ENTRY Next = Entry->Flink, Prev = Entry->Blink;
  Prev->Flink = Next;
  Next->Blink = Prev;
  Entry->Flink = Entry->Blink = Entry;
}

#endif
