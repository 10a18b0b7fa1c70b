/* The int 2Dh debug services of simulator/ABI.md ("Services"). Each is
 * `int 2Dh; int 3`, as Windows' DebugService: the simulator handles the service and
 * resumes after both instructions. */
#ifndef SIMKERNEL_SIMSVC_H
#define SIMKERNEL_SIMSVC_H
#include "../sdk/nttypes.h"

enum {
  BREAKPOINT_PRINT = 1,
  BREAKPOINT_PROMPT = 2,
  BREAKPOINT_LOAD_SYMBOLS = 3,
  BREAKPOINT_UNLOAD_SYMBOLS = 4,
  SIM_MAP_IMAGE = 0x100,
  SIM_UNMAP_IMAGE = 0x101,
  SIM_CREATE_THREAD = 0x102,
  SIM_YIELD = 0x103,
  SIM_EXIT_THREAD = 0x104,
  SIM_HALT = 0x105,
  SIM_FILE_OPEN = 0x106,
  SIM_FILE_READ = 0x107,
  SIM_CREATE_ADDRESS_SPACE = 0x108,
};

typedef struct _SIM_SERVICE_RESULT {
  ULONG64 Rax;
  ULONG64 Rdx;
} SIM_SERVICE_RESULT;

/* eax = Service, rcx/rdx/r8/r9 = arguments; results come back in rax and rdx. The
 * simulator may switch threads inside SIM_YIELD/SIM_HALT, so memory is clobbered. */
static inline SIM_SERVICE_RESULT KiSimService(ULONG Service, ULONG64 Arg1, ULONG64 Arg2,
                                              ULONG64 Arg3, ULONG64 Arg4) {
  register ULONG64 R8 __asm__("r8") = Arg3;
  register ULONG64 R9 __asm__("r9") = Arg4;
  ULONG64 Rax = Service, Rcx = Arg1, Rdx = Arg2;
  __asm__ volatile("int $0x2d\n\tint3"
                   : "+a"(Rax), "+c"(Rcx), "+d"(Rdx), "+r"(R8), "+r"(R9)
                   :
                   : "memory", "r10", "r11");
  SIM_SERVICE_RESULT Result = {Rax, Rdx};
  return Result;
}

#endif
