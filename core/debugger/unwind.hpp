// An x64 stack unwinder driven by the images' own unwind data (.pdata
// RUNTIME_FUNCTION tables and .xdata UNWIND_INFO), as Microsoft documents it:
// https://learn.microsoft.com/cpp/build/exception-handling-x64 ("x64 exception
// handling": UNWIND_INFO, UNWIND_CODE, chained unwind info, epilogue rules).
//
// I/O-free: memory comes through a read callback (address, bytes -> all read or
// not), images are given as ranges with the location of their exception
// directory, and the walk starts from a register context. Everything read is
// untrusted: every count and offset is bounded, chains and walks end.
//
// Policy where unwind data is missing:
// - the instruction pointer lies in an image that has an exception directory but
//   no RUNTIME_FUNCTION covers it: a leaf function (the documented rule: the
//   return address is at [rsp]);
// - it lies outside every image with unwind data: the frame-pointer fallback
//   (return address at [rbp+8], caller's rbp at [rbp]) if rbp points into the
//   stack above rsp, else the leaf rule.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace openkd::debugger::unwind {

/// Reads exactly out.size() bytes at `address`; false if any byte is unreadable.
using ReadMemory = std::function<bool(std::uint64_t address, std::span<std::uint8_t> out)>;

/// Integer register numbers as UNWIND_CODE writes them (and as the CONTEXT orders them).
enum Reg : unsigned { Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15 };
std::string_view register_name(unsigned reg);

struct Xmm {
  std::uint64_t low = 0, high = 0;
  bool operator==(const Xmm&) const = default;
};

/// The registers an unwind moves: the integer registers, rip and xmm0-15. A frame's
/// nonvolatile registers are those the unwind recovered from the stack
/// (`restored`/`xmm_restored` bit per register); the rest are carried over.
struct Registers {
  std::array<std::uint64_t, 16> gpr{};
  std::uint64_t rip = 0;
  std::array<Xmm, 16> xmm{};
  std::uint16_t restored = 0;      // bit n: gpr[n] was read from the stack by this unwind
  std::uint16_t xmm_restored = 0;  // bit n: xmm[n] was read from the stack by this unwind
  std::uint64_t rsp() const { return gpr[Rsp]; }
};

/// One image: where it lies and where its exception directory (the .pdata
/// RUNTIME_FUNCTION array) is, as RVAs in target memory. pdata_size 0: none.
struct Image {
  std::uint64_t base = 0, size = 0;
  std::uint32_t pdata_rva = 0, pdata_size = 0;
  bool contains(std::uint64_t a) const { return a >= base && a - base < size; }
};

struct RuntimeFunction {
  std::uint32_t begin = 0, end = 0, unwind_info = 0;  // RVAs
  bool operator==(const RuntimeFunction&) const = default;
};

// UNWIND_CODE operations (UnwindOp); version 2 reuses 6 for UWOP_EPILOG.
enum UnwindOp : std::uint8_t {
  UWOP_PUSH_NONVOL = 0, UWOP_ALLOC_LARGE = 1, UWOP_ALLOC_SMALL = 2, UWOP_SET_FPREG = 3,
  UWOP_SAVE_NONVOL = 4, UWOP_SAVE_NONVOL_FAR = 5, UWOP_EPILOG = 6, UWOP_SPARE_CODE = 7,
  UWOP_SAVE_XMM128 = 8, UWOP_SAVE_XMM128_FAR = 9, UWOP_PUSH_MACHFRAME = 10,
};
inline constexpr std::uint8_t UNW_FLAG_EHANDLER = 1, UNW_FLAG_UHANDLER = 2, UNW_FLAG_CHAININFO = 4;

struct UnwindCode {
  std::uint8_t code_offset = 0;  // end of the prolog instruction, from the function start
  std::uint8_t op = 0;
  std::uint8_t info = 0;
  std::uint32_t operand = 0;  // the extra slots' value, already decoded (ALLOC_LARGE size, offsets unscaled)
  unsigned slots = 1;
};

/// An UNWIND_INFO as read from the image.
struct UnwindInfo {
  std::uint8_t version = 0, flags = 0, prolog_size = 0, frame_register = 0, frame_offset = 0;
  std::vector<UnwindCode> codes;
  std::optional<RuntimeFunction> chained;  // UNW_FLAG_CHAININFO's parent entry
};

/// Decodes UNWIND_INFO from its bytes (header, codes and what follows them);
/// nullopt if malformed (unknown version or operation, truncated).
std::optional<UnwindInfo> parse_unwind_info(std::span<const std::uint8_t> bytes);
/// Size of the UNWIND_INFO's header, codes and trailer, from its first 4 bytes.
std::size_t unwind_info_size(std::span<const std::uint8_t> header);

/// How a frame was unwound (what `kv` and tests show).
enum class FrameKind { Unwind, Leaf, FramePointer, MachineFrame };

/// One frame: the context the function runs with and where it returns.
struct Frame {
  std::uint64_t instruction_pointer = 0;
  std::uint64_t stack_pointer = 0;   // Child-SP
  std::uint64_t return_address = 0;  // RetAddr (the caller's rip)
  std::uint64_t caller_stack_pointer = 0;  // the caller's rsp after the return (0: the step failed)
  Registers registers;               // this frame's context (nonvolatiles recovered)
  FrameKind unwound_by = FrameKind::Unwind;  // how the step to the caller was made
  std::uint64_t machine_frame = 0;           // MachineFrame: where its rip, cs, rflags, rsp, ss lie
  std::optional<RuntimeFunction> function;   // its .pdata entry (primary), if any
  std::uint64_t image_base = 0;
};

/// Why a walk stopped.
enum class WalkEnd { Count, ZeroReturn, StackNotIncreasing, Unreadable, BadUnwindData, Cancelled };
std::string_view walk_end_text(WalkEnd end);

struct Walk {
  std::vector<Frame> frames;
  WalkEnd end = WalkEnd::Count;
};

inline constexpr std::size_t kDefaultFrames = 20;  // KD's `k` default
inline constexpr std::size_t kMaxFrames = 0xFFFF;
inline constexpr std::uint32_t kMaxPdataBytes = 16u << 20;
inline constexpr unsigned kMaxChainDepth = 32;

class Unwinder {
public:
  Unwinder(ReadMemory read, std::vector<Image> images);

  /// The primary RUNTIME_FUNCTION covering `pc` (chained entries followed to the
  /// function's first entry) and its image's base; nullopt if none.
  std::optional<std::pair<RuntimeFunction, std::uint64_t>> function_at(std::uint64_t pc);
  /// The entry covering `pc` exactly as .pdata has it (no chain following).
  std::optional<std::pair<RuntimeFunction, std::uint64_t>> entry_at(std::uint64_t pc);
  /// Every .pdata entry of the image at `base` whose chain leads to the primary
  /// function `primary` (itself first): the ranges a whole function occupies.
  std::vector<RuntimeFunction> function_ranges(std::uint64_t base, const RuntimeFunction& primary);
  /// The image's .pdata table (read once, cached); empty if unreadable.
  const std::vector<RuntimeFunction>& table(const Image& image);
  const std::vector<Image>& images() const { return images_; }

  /// One step: the caller's registers from `regs`, with `frame` filled in; nullopt
  /// (and `why`) when the step cannot be made.
  std::optional<Registers> step(const Registers& regs, Frame& frame, WalkEnd& why);
  /// Walks up to `max_frames` frames from `start`; `cancelled` is polled per frame.
  Walk walk(const Registers& start, std::size_t max_frames, const std::function<bool()>& cancelled = {});

  /// Cached UNWIND_INFO at `image_base + rva`.
  const UnwindInfo* unwind_info(std::uint64_t image_base, std::uint32_t rva);

  /// Reads through the unwinder's cache of aligned blocks (what the walk read is not read again).
  bool read(std::uint64_t address, std::span<std::uint8_t> out);

private:
  bool read_u64(std::uint64_t address, std::uint64_t& value);
  const Image* image_with_pdata(std::uint64_t pc);
  /// The documented epilogue test; if rip is in one, emulates it into `out`.
  bool emulate_epilogue(const Registers& in, const RuntimeFunction& fn, std::uint64_t base, Registers& out,
                        bool& failed);

  ReadMemory read_;
  std::vector<Image> images_;
  std::map<std::uint64_t, std::vector<RuntimeFunction>> tables_;        // by image base
  std::map<std::uint64_t, std::optional<UnwindInfo>> unwind_infos_;     // by address
  // Stack memory comes in aligned blocks, cached for the walk's length.
  std::map<std::uint64_t, std::optional<std::vector<std::uint8_t>>> blocks_;
};

}  // namespace openkd::debugger::unwind

namespace openkd::debugger::unwind {
/// The exception directory (data directory 3) of the PE32+ image at `base`,
/// read from its headers in target memory; pdata_size 0 if it has none or the
/// headers are not a PE32+ image's.
Image read_image(const ReadMemory& read, std::uint64_t base, std::uint64_t size);
}  // namespace openkd::debugger::unwind
