/* A small printf for DbgPrint: %d %i %u %x %X %o %p %c %s %%, flags '-' and '0',
 * width and precision (also '*'), length modifiers h, l (32 bits: LLP64), ll, I64, z. */
#include "ki.h"

typedef struct _FORMAT_SINK {
  char *Buffer;
  SIZE_T Capacity;   /* including the terminator */
  SIZE_T Length;     /* characters produced so far (may exceed Capacity) */
} FORMAT_SINK;

static void PutChar(FORMAT_SINK *Sink, char Character) {
  if (Sink->Length + 1 < Sink->Capacity)
    Sink->Buffer[Sink->Length] = Character;
  Sink->Length++;
}

static void PutPadded(FORMAT_SINK *Sink, const char *Text, SIZE_T Length, int Width,
                      BOOLEAN LeftAlign, char Pad) {
  SIZE_T Fill = Width > 0 && (SIZE_T)Width > Length ? (SIZE_T)Width - Length : 0;
  /* Zero padding goes after a sign. */
  if (!LeftAlign && Pad == '0' && Length && Text[0] == '-') {
    PutChar(Sink, '-');
    ++Text;
    --Length;
  }
  if (!LeftAlign)
    while (Fill--)
      PutChar(Sink, Pad);
  while (Length--)
    PutChar(Sink, *Text++);
  if (LeftAlign)
    while (Fill--)
      PutChar(Sink, ' ');
}

/* Digits of Value in Base into the end of Scratch; returns the first digit. */
static char *FormatUnsigned(char *ScratchEnd, ULONG64 Value, ULONG Base, BOOLEAN Upper) {
  const char *Digits = Upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char *P = ScratchEnd;
  do {
    *--P = Digits[Value % Base];
    Value /= Base;
  } while (Value);
  return P;
}

int _vsnprintf(char *Buffer, SIZE_T Count, const char *Format, va_list Args) {
  FORMAT_SINK Sink = {Buffer, Count, 0};
  char Scratch[32];
  char *const ScratchEnd = Scratch + sizeof(Scratch);

  for (const char *F = Format; *F; ++F) {
    if (*F != '%') {
      PutChar(&Sink, *F);
      continue;
    }
    ++F;
    BOOLEAN LeftAlign = FALSE;
    char Pad = ' ';
    for (;; ++F) {
      if (*F == '-')
        LeftAlign = TRUE;
      else if (*F == '0')
        Pad = '0';
      else
        break;
    }
    int Width = 0;
    if (*F == '*') {
      Width = va_arg(Args, int);
      ++F;
    } else {
      while (*F >= '0' && *F <= '9')
        Width = Width * 10 + (*F++ - '0');
    }
    int Precision = -1;
    if (*F == '.') {
      ++F;
      Precision = 0;
      if (*F == '*') {
        Precision = va_arg(Args, int);
        ++F;
      } else {
        while (*F >= '0' && *F <= '9')
          Precision = Precision * 10 + (*F++ - '0');
      }
    }
    int Bits = 32;
    if (F[0] == 'l' && F[1] == 'l') {
      Bits = 64;
      F += 2;
    } else if (F[0] == 'I' && F[1] == '6' && F[2] == '4') {
      Bits = 64;
      F += 3;
    } else if (*F == 'z' || *F == 'I') {
      Bits = 64;
      ++F;
    } else if (*F == 'l' || *F == 'h') {
      ++F;  /* long is 32 bits here; short arguments arrive promoted to int */
    }

    char Conversion = *F;
    if (!Conversion)
      break;
    switch (Conversion) {
    case 'd':
    case 'i': {
      LONG64 Value = Bits == 64 ? va_arg(Args, LONG64) : va_arg(Args, int);
      ULONG64 Magnitude = Value < 0 ? 0 - (ULONG64)Value : (ULONG64)Value;
      char *Digits = FormatUnsigned(ScratchEnd, Magnitude, 10, FALSE);
      if (Value < 0)
        *--Digits = '-';
      PutPadded(&Sink, Digits, (SIZE_T)(ScratchEnd - Digits), Width, LeftAlign, Pad);
      break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      ULONG64 Value = Bits == 64 ? va_arg(Args, ULONG64) : va_arg(Args, unsigned int);
      ULONG Base = Conversion == 'u' ? 10 : Conversion == 'o' ? 8 : 16;
      char *Digits = FormatUnsigned(ScratchEnd, Value, Base, Conversion == 'X');
      PutPadded(&Sink, Digits, (SIZE_T)(ScratchEnd - Digits), Width, LeftAlign, Pad);
      break;
    }
    case 'p': {
      /* As Windows prints pointers: 16 upper-case hex digits, no prefix. */
      ULONG64 Value = (ULONG64)va_arg(Args, void *);
      char *Digits = FormatUnsigned(ScratchEnd, Value, 16, TRUE);
      while (ScratchEnd - Digits < 16)
        *--Digits = '0';
      PutPadded(&Sink, Digits, 16, Width, LeftAlign, ' ');
      break;
    }
    case 'c': {
      char Character = (char)va_arg(Args, int);
      PutPadded(&Sink, &Character, 1, Width, LeftAlign, ' ');
      break;
    }
    case 's': {
      const char *Text = va_arg(Args, const char *);
      if (!Text)
        Text = "(null)";
      SIZE_T Length = 0;
      while (Text[Length] && (Precision < 0 || Length < (SIZE_T)Precision))
        ++Length;
      PutPadded(&Sink, Text, Length, Width, LeftAlign, ' ');
      break;
    }
    case '%':
      PutChar(&Sink, '%');
      break;
    default:
      PutChar(&Sink, '%');
      PutChar(&Sink, Conversion);
      break;
    }
  }
  if (Count)
    Buffer[Sink.Length < Count ? Sink.Length : Count - 1] = '\0';
  return (int)Sink.Length;
}

int _snprintf(char *Buffer, SIZE_T Count, const char *Format, ...) {
  va_list Args;
  va_start(Args, Format);
  int Length = _vsnprintf(Buffer, Count, Format, Args);
  va_end(Args);
  return Length;
}
