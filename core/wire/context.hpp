// AMD64 CONTEXT (1232 bytes) and KSPECIAL_REGISTERS (224 bytes), field by field.
// Offsets: docs/protocol.md section 5. Encoded explicitly, never memcpy'd.
#pragma once
#include <array>
#include <cstdint>
#include <expected>

#include "core/wire/bytes.hpp"

namespace openkd::wire {

inline constexpr std::size_t kContextSize = 1232;
inline constexpr std::size_t kSpecialRegistersSize = 224;

inline constexpr std::uint32_t kContextAmd64 = 0x100000;
inline constexpr std::uint32_t kContextControl = kContextAmd64 | 0x1;
inline constexpr std::uint32_t kContextInteger = kContextAmd64 | 0x2;
inline constexpr std::uint32_t kContextSegments = kContextAmd64 | 0x4;
inline constexpr std::uint32_t kContextFloatingPoint = kContextAmd64 | 0x8;
inline constexpr std::uint32_t kContextDebugRegisters = kContextAmd64 | 0x10;
inline constexpr std::uint32_t kContextFull = kContextControl | kContextInteger | kContextFloatingPoint;
inline constexpr std::uint32_t kContextAll = kContextFull | kContextSegments | kContextDebugRegisters;

using U128 = std::array<std::uint8_t, 16>;

/// XSAVE_FORMAT legacy area (512 bytes) at CONTEXT+0x100: ControlWord @0, StatusWord @2,
/// TagWord @4, ErrorOpcode @6, ErrorOffset @8, ErrorSelector @12, DataOffset @16,
/// DataSelector @20, MxCsr @24, MxCsr_Mask @28. Reserved1 @5, Reserved2 @14,
/// Reserved3 @22 and the 96 bytes after XmmRegisters are not kept (encoded as zero).
struct XSaveFormat {
  std::uint16_t control_word = 0, status_word = 0;
  std::uint8_t tag_word = 0;  // abridged
  std::uint16_t error_opcode = 0;
  std::uint32_t error_offset = 0;
  std::uint16_t error_selector = 0;
  std::uint32_t data_offset = 0;
  std::uint16_t data_selector = 0;
  std::uint32_t mx_csr = 0, mx_csr_mask = 0;
  std::array<U128, 8> float_registers{};   // @0x20, ST0..ST7 (80 bits used)
  std::array<U128, 16> xmm_registers{};    // @0xA0
  bool operator==(const XSaveFormat&) const = default;
};

struct Context {
  std::array<std::uint64_t, 6> p_home{};  // P1Home..P6Home @0x00
  std::uint32_t context_flags = 0;        // @0x30
  std::uint32_t mx_csr = 0;               // @0x34
  std::uint16_t seg_cs = 0, seg_ds = 0, seg_es = 0, seg_fs = 0, seg_gs = 0, seg_ss = 0;  // @0x38
  std::uint32_t eflags = 0;               // @0x44
  std::uint64_t dr0 = 0, dr1 = 0, dr2 = 0, dr3 = 0, dr6 = 0, dr7 = 0;  // @0x48
  std::uint64_t rax = 0, rcx = 0, rdx = 0, rbx = 0, rsp = 0, rbp = 0, rsi = 0, rdi = 0;  // @0x78
  std::uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;    // @0xB8
  std::uint64_t rip = 0;                  // @0xF8
  XSaveFormat flt_save;                   // @0x100
  std::array<U128, 26> vector_register{}; // @0x300
  std::uint64_t vector_control = 0;       // @0x4A0
  std::uint64_t debug_control = 0;        // @0x4A8
  std::uint64_t last_branch_to_rip = 0, last_branch_from_rip = 0;        // @0x4B0
  std::uint64_t last_exception_to_rip = 0, last_exception_from_rip = 0;  // @0x4C0
  bool operator==(const Context&) const = default;
};

/// Exactly kContextSize bytes.
Bytes encode(const Context& c);
/// Needs at least kContextSize bytes; a longer buffer (XSTATE appended) has its tail ignored.
std::expected<Context, DecodeError> decode_context(ByteView b);

struct DescriptorTable {
  std::array<std::uint16_t, 3> pad{};
  std::uint16_t limit = 0;
  std::uint64_t base = 0;
  bool operator==(const DescriptorTable&) const = default;
};

struct SpecialRegisters {
  std::uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0;
  std::uint64_t kernel_dr0 = 0, kernel_dr1 = 0, kernel_dr2 = 0, kernel_dr3 = 0, kernel_dr6 = 0, kernel_dr7 = 0;
  DescriptorTable gdtr, idtr;  // @0x50, @0x60
  std::uint16_t tr = 0, ldtr = 0;
  std::uint32_t mx_csr = 0;
  std::uint64_t debug_control = 0;
  std::uint64_t last_branch_to_rip = 0, last_branch_from_rip = 0;
  std::uint64_t last_exception_to_rip = 0, last_exception_from_rip = 0;
  std::uint64_t cr8 = 0;
  std::uint64_t msr_gs_base = 0, msr_gs_swap = 0, msr_star = 0, msr_lstar = 0, msr_cstar = 0, msr_syscall_mask = 0;
  std::uint64_t xcr0 = 0;
  bool operator==(const SpecialRegisters&) const = default;
};

/// Exactly kSpecialRegistersSize bytes.
Bytes encode(const SpecialRegisters& s);
/// Needs at least kSpecialRegistersSize bytes.
std::expected<SpecialRegisters, DecodeError> decode_special_registers(ByteView b);

}  // namespace openkd::wire
