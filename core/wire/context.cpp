// AMD64 CONTEXT and KSPECIAL_REGISTERS, field by field (docs/protocol.md section 5).
#include "core/wire/context.hpp"

#include <algorithm>
#include <cassert>

#include "core/wire/codec_util.hpp"

namespace openkd::wire {

namespace {

[[maybe_unused]] constexpr std::size_t kXSaveOffset = 0x100;  // checked by assert
constexpr std::size_t kXSaveSize = 512;           // XSAVE_FORMAT legacy area
constexpr std::size_t kXSaveUsed = 160 + 16 * 16;  // up to the end of XmmRegisters[16]; the rest is reserved
[[maybe_unused]] constexpr std::size_t kVectorRegisterOffset = 0x300;

void put(Writer& w, const U128& v) { w.bytes(v); }
void get(Reader& r, U128& v) {
  ByteView b = r.bytes(v.size());
  std::copy(b.begin(), b.end(), v.begin());
}

// XSAVE_FORMAT: ControlWord @0, StatusWord @2, TagWord @4, Reserved1 @5,
// ErrorOpcode @6, ErrorOffset @8, ErrorSelector @12, Reserved2 @14, DataOffset
// @16, DataSelector @20, Reserved3 @22, MxCsr @24, MxCsr_Mask @28,
// FloatRegisters @32, XmmRegisters @160, reserved to 512. Reserved fields are
// written as zero and not kept.
void put(Writer& w, const XSaveFormat& x) {
  w.u16(x.control_word).u16(x.status_word).u8(x.tag_word).u8(0).u16(x.error_opcode);
  w.u32(x.error_offset).u16(x.error_selector).u16(0);
  w.u32(x.data_offset).u16(x.data_selector).u16(0);
  w.u32(x.mx_csr).u32(x.mx_csr_mask);
  for (const U128& st : x.float_registers) put(w, st);
  for (const U128& xmm : x.xmm_registers) put(w, xmm);
  w.zeros(kXSaveSize - kXSaveUsed);
}

XSaveFormat get_xsave(Reader& r) {
  XSaveFormat x;
  x.control_word = r.u16();
  x.status_word = r.u16();
  x.tag_word = r.u8();
  r.skip(1);
  x.error_opcode = r.u16();
  x.error_offset = r.u32();
  x.error_selector = r.u16();
  r.skip(2);
  x.data_offset = r.u32();
  x.data_selector = r.u16();
  r.skip(2);
  x.mx_csr = r.u32();
  x.mx_csr_mask = r.u32();
  for (U128& st : x.float_registers) get(r, st);
  for (U128& xmm : x.xmm_registers) get(r, xmm);
  r.skip(kXSaveSize - kXSaveUsed);
  return x;
}

void put(Writer& w, const DescriptorTable& d) {  // KDESCRIPTOR: u16 Pad[3], u16 Limit, u64 Base
  for (std::uint16_t pad : d.pad) w.u16(pad);
  w.u16(d.limit).u64(d.base);
}
DescriptorTable get_descriptor(Reader& r) {
  DescriptorTable d;
  for (std::uint16_t& pad : d.pad) pad = r.u16();
  d.limit = r.u16();
  d.base = r.u64();
  return d;
}

}  // namespace

Bytes encode(const Context& c) {
  Bytes out;
  out.reserve(kContextSize);
  Writer w(out);
  for (std::uint64_t home : c.p_home) w.u64(home);                       // @0x00
  w.u32(c.context_flags).u32(c.mx_csr);                                   // @0x30
  w.u16(c.seg_cs).u16(c.seg_ds).u16(c.seg_es).u16(c.seg_fs).u16(c.seg_gs).u16(c.seg_ss);  // @0x38
  w.u32(c.eflags);                                                        // @0x44
  w.u64(c.dr0).u64(c.dr1).u64(c.dr2).u64(c.dr3).u64(c.dr6).u64(c.dr7);    // @0x48
  w.u64(c.rax).u64(c.rcx).u64(c.rdx).u64(c.rbx).u64(c.rsp).u64(c.rbp).u64(c.rsi).u64(c.rdi);  // @0x78
  w.u64(c.r8).u64(c.r9).u64(c.r10).u64(c.r11).u64(c.r12).u64(c.r13).u64(c.r14).u64(c.r15);    // @0xB8
  w.u64(c.rip);                                                           // @0xF8
  assert(w.size() == kXSaveOffset);
  put(w, c.flt_save);                                                     // @0x100
  assert(w.size() == kVectorRegisterOffset);
  for (const U128& v : c.vector_register) put(w, v);                      // @0x300
  w.u64(c.vector_control).u64(c.debug_control);                           // @0x4A0
  w.u64(c.last_branch_to_rip).u64(c.last_branch_from_rip);                // @0x4B0
  w.u64(c.last_exception_to_rip).u64(c.last_exception_from_rip);          // @0x4C0
  assert(w.size() == kContextSize);
  return out;
}

std::expected<Context, DecodeError> decode_context(ByteView b) {
  // A larger buffer is accepted (its tail ignored): newer debuggers may append XSTATE.
  if (b.size() < kContextSize) return detail::too_short("CONTEXT (AMD64)", kContextSize, b.size());
  Reader r(b);
  Context c;
  for (std::uint64_t& home : c.p_home) home = r.u64();
  c.context_flags = r.u32();
  c.mx_csr = r.u32();
  c.seg_cs = r.u16();
  c.seg_ds = r.u16();
  c.seg_es = r.u16();
  c.seg_fs = r.u16();
  c.seg_gs = r.u16();
  c.seg_ss = r.u16();
  c.eflags = r.u32();
  for (std::uint64_t* reg : {&c.dr0, &c.dr1, &c.dr2, &c.dr3, &c.dr6, &c.dr7, &c.rax, &c.rcx, &c.rdx, &c.rbx,
                             &c.rsp, &c.rbp, &c.rsi, &c.rdi, &c.r8, &c.r9, &c.r10, &c.r11, &c.r12, &c.r13,
                             &c.r14, &c.r15, &c.rip})
    *reg = r.u64();
  c.flt_save = get_xsave(r);
  for (U128& v : c.vector_register) get(r, v);
  c.vector_control = r.u64();
  c.debug_control = r.u64();
  c.last_branch_to_rip = r.u64();
  c.last_branch_from_rip = r.u64();
  c.last_exception_to_rip = r.u64();
  c.last_exception_from_rip = r.u64();
  return c;
}

Bytes encode(const SpecialRegisters& s) {
  Bytes out;
  out.reserve(kSpecialRegistersSize);
  Writer w(out);
  w.u64(s.cr0).u64(s.cr2).u64(s.cr3).u64(s.cr4);                                        // @0x00
  w.u64(s.kernel_dr0).u64(s.kernel_dr1).u64(s.kernel_dr2).u64(s.kernel_dr3);            // @0x20
  w.u64(s.kernel_dr6).u64(s.kernel_dr7);                                                // @0x40
  put(w, s.gdtr);                                                                       // @0x50
  put(w, s.idtr);                                                                       // @0x60
  w.u16(s.tr).u16(s.ldtr).u32(s.mx_csr).u64(s.debug_control);                          // @0x70
  w.u64(s.last_branch_to_rip).u64(s.last_branch_from_rip);                              // @0x80
  w.u64(s.last_exception_to_rip).u64(s.last_exception_from_rip);                        // @0x90
  w.u64(s.cr8).u64(s.msr_gs_base).u64(s.msr_gs_swap).u64(s.msr_star).u64(s.msr_lstar);  // @0xA0
  w.u64(s.msr_cstar).u64(s.msr_syscall_mask).u64(s.xcr0);                               // @0xC8
  assert(w.size() == kSpecialRegistersSize);
  return out;
}

std::expected<SpecialRegisters, DecodeError> decode_special_registers(ByteView b) {
  if (b.size() < kSpecialRegistersSize) return detail::too_short("KSPECIAL_REGISTERS", kSpecialRegistersSize, b.size());
  Reader r(b);
  SpecialRegisters s;
  for (std::uint64_t* reg : {&s.cr0, &s.cr2, &s.cr3, &s.cr4, &s.kernel_dr0, &s.kernel_dr1, &s.kernel_dr2,
                             &s.kernel_dr3, &s.kernel_dr6, &s.kernel_dr7})
    *reg = r.u64();
  s.gdtr = get_descriptor(r);
  s.idtr = get_descriptor(r);
  s.tr = r.u16();
  s.ldtr = r.u16();
  s.mx_csr = r.u32();
  for (std::uint64_t* reg : {&s.debug_control, &s.last_branch_to_rip, &s.last_branch_from_rip,
                             &s.last_exception_to_rip, &s.last_exception_from_rip, &s.cr8, &s.msr_gs_base,
                             &s.msr_gs_swap, &s.msr_star, &s.msr_lstar, &s.msr_cstar, &s.msr_syscall_mask, &s.xcr0})
    *reg = r.u64();
  return s;
}

}  // namespace openkd::wire
