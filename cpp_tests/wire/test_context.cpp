// CONTEXT (AMD64, 1232 bytes) and KSPECIAL_REGISTERS (224 bytes) from hand-written
// bytes: a distinct value at every documented offset (docs/protocol.md section 5).
#include <boost/test/unit_test.hpp>

#include "core/wire/context.hpp"
#include "wire_test_util.hpp"

namespace wire = openkd::wire;
using namespace wiretest;

namespace {

wire::U128 u128_of(std::uint8_t first) {
  wire::U128 v;
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(first + i);
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(context_layouts)

BOOST_AUTO_TEST_CASE(context_fields_at_documented_offsets) {
  Raw r(1232);
  for (std::size_t i = 0; i < 6; ++i) r.u64(0x00 + 8 * i, 0x1000 + i);  // P1Home..P6Home
  r.u32(0x30, 0x10001f).u32(0x34, 0x1f80);
  r.u16(0x38, 0x10).u16(0x3A, 0x2b).u16(0x3C, 0x2c).u16(0x3E, 0x53).u16(0x40, 0x2d).u16(0x42, 0x18);
  r.u32(0x44, 0x246);
  r.u64(0x48, 0xd0).u64(0x50, 0xd1).u64(0x58, 0xd2).u64(0x60, 0xd3).u64(0x68, 0xd6).u64(0x70, 0xd7);
  r.u64(0x78, 0xa0).u64(0x80, 0xc0).u64(0x88, 0xd0d0).u64(0x90, 0xb0).u64(0x98, 0x5000).u64(0xA0, 0xb9)
      .u64(0xA8, 0x51).u64(0xB0, 0xd1d1);
  for (std::size_t i = 0; i < 8; ++i) r.u64(0xB8 + 8 * i, 0x800 + i);  // R8..R15
  r.u64(0xF8, 0xfffff800007fd0b0);
  // XSAVE_FORMAT at 0x100.
  const std::size_t x = 0x100;
  r.u16(x + 0, 0x27f).u16(x + 2, 0x4000).u8(x + 4, 0xfe).u8(x + 5, 0xee);  // Reserved1 @5 is ignored
  r.u16(x + 6, 0x0123).u32(x + 8, 0x44556677).u16(x + 12, 0x33).u16(x + 14, 0xeeee);  // Reserved2 @14
  r.u32(x + 16, 0x8899aabb).u16(x + 20, 0x2b).u16(x + 22, 0xeeee);  // Reserved3 @22
  r.u32(x + 24, 0x1fa0).u32(x + 28, 0xffbf);
  for (std::size_t i = 0; i < 8; ++i) r.raw(x + 32 + 16 * i, u128_of(static_cast<std::uint8_t>(0x10 * i)));
  for (std::size_t i = 0; i < 16; ++i) r.raw(x + 160 + 16 * i, u128_of(static_cast<std::uint8_t>(0x80 + i)));
  r.raw(x + 416, Bytes(96, 0xee));  // reserved to 512
  for (std::size_t i = 0; i < 26; ++i) r.raw(0x300 + 16 * i, u128_of(static_cast<std::uint8_t>(0x40 + i)));
  r.u64(0x4A0, 0x4a0).u64(0x4A8, 0x4a8).u64(0x4B0, 0x4b0).u64(0x4B8, 0x4b8).u64(0x4C0, 0x4c0).u64(0x4C8, 0x4c8);
  BOOST_TEST_REQUIRE(r.bytes().size() == 1232u);

  auto c = wire::decode_context(r);
  BOOST_TEST_REQUIRE(c.has_value(), (c ? "" : c.error().message));
  for (std::size_t i = 0; i < 6; ++i) BOOST_TEST(c->p_home[i] == 0x1000 + i);
  BOOST_TEST(c->context_flags == 0x10001fu);
  BOOST_TEST(c->mx_csr == 0x1f80u);
  BOOST_TEST(c->seg_cs == 0x10);
  BOOST_TEST(c->seg_ds == 0x2b);
  BOOST_TEST(c->seg_es == 0x2c);
  BOOST_TEST(c->seg_fs == 0x53);
  BOOST_TEST(c->seg_gs == 0x2d);
  BOOST_TEST(c->seg_ss == 0x18);
  BOOST_TEST(c->eflags == 0x246u);
  BOOST_TEST(c->dr0 == 0xd0u);
  BOOST_TEST(c->dr1 == 0xd1u);
  BOOST_TEST(c->dr2 == 0xd2u);
  BOOST_TEST(c->dr3 == 0xd3u);
  BOOST_TEST(c->dr6 == 0xd6u);
  BOOST_TEST(c->dr7 == 0xd7u);
  BOOST_TEST(c->rax == 0xa0u);
  BOOST_TEST(c->rcx == 0xc0u);
  BOOST_TEST(c->rdx == 0xd0d0u);
  BOOST_TEST(c->rbx == 0xb0u);
  BOOST_TEST(c->rsp == 0x5000u);
  BOOST_TEST(c->rbp == 0xb9u);
  BOOST_TEST(c->rsi == 0x51u);
  BOOST_TEST(c->rdi == 0xd1d1u);
  const std::uint64_t r8_15[] = {c->r8, c->r9, c->r10, c->r11, c->r12, c->r13, c->r14, c->r15};
  for (std::size_t i = 0; i < 8; ++i) BOOST_TEST(r8_15[i] == 0x800 + i);
  BOOST_TEST(c->rip == 0xfffff800007fd0b0u);
  const wire::XSaveFormat& f = c->flt_save;
  BOOST_TEST(f.control_word == 0x27f);
  BOOST_TEST(f.status_word == 0x4000);
  BOOST_TEST(f.tag_word == 0xfe);
  BOOST_TEST(f.error_opcode == 0x0123);
  BOOST_TEST(f.error_offset == 0x44556677u);
  BOOST_TEST(f.error_selector == 0x33);
  BOOST_TEST(f.data_offset == 0x8899aabbu);
  BOOST_TEST(f.data_selector == 0x2b);
  BOOST_TEST(f.mx_csr == 0x1fa0u);
  BOOST_TEST(f.mx_csr_mask == 0xffbfu);
  for (std::size_t i = 0; i < 8; ++i) BOOST_TEST((f.float_registers[i] == u128_of(static_cast<std::uint8_t>(0x10 * i))));
  for (std::size_t i = 0; i < 16; ++i) BOOST_TEST((f.xmm_registers[i] == u128_of(static_cast<std::uint8_t>(0x80 + i))));
  for (std::size_t i = 0; i < 26; ++i) BOOST_TEST((c->vector_register[i] == u128_of(static_cast<std::uint8_t>(0x40 + i))));
  BOOST_TEST(c->vector_control == 0x4a0u);
  BOOST_TEST(c->debug_control == 0x4a8u);
  BOOST_TEST(c->last_branch_to_rip == 0x4b0u);
  BOOST_TEST(c->last_branch_from_rip == 0x4b8u);
  BOOST_TEST(c->last_exception_to_rip == 0x4c0u);
  BOOST_TEST(c->last_exception_from_rip == 0x4c8u);

  // Re-encoding writes the same bytes, except the reserved ones, which become zero.
  Bytes expected = r.bytes();
  for (std::size_t at : {x + 5}) expected[at] = 0;
  for (std::size_t at : {x + 14, x + 15, x + 22, x + 23}) expected[at] = 0;
  std::fill(expected.begin() + static_cast<std::ptrdiff_t>(x + 416), expected.begin() + static_cast<std::ptrdiff_t>(x + 512), 0);
  BOOST_TEST(wire::encode(*c) == expected);
}

BOOST_AUTO_TEST_CASE(special_registers_at_documented_offsets) {
  Raw r(224);
  r.u64(0x00, 0x80050033).u64(0x08, 0xfffff80000001234).u64(0x10, 0x1ad000).u64(0x18, 0x6f8);
  r.u64(0x20, 0xd0).u64(0x28, 0xd1).u64(0x30, 0xd2).u64(0x38, 0xd3).u64(0x40, 0xffff0ff0).u64(0x48, 0x400);
  r.u16(0x50, 1).u16(0x52, 2).u16(0x54, 3).u16(0x56, 0x7f).u64(0x58, 0xfffff80000500000);   // Gdtr
  r.u16(0x60, 4).u16(0x62, 5).u16(0x64, 6).u16(0x66, 0xfff).u64(0x68, 0xfffff80000600000);  // Idtr
  r.u16(0x70, 0x40).u16(0x72, 0x50).u32(0x74, 0x1f80).u64(0x78, 0x78);
  r.u64(0x80, 0x80).u64(0x88, 0x88).u64(0x90, 0x90).u64(0x98, 0x98);
  r.u64(0xA0, 0xf).u64(0xA8, 0xfffff80000700000).u64(0xB0, 0x7ff0000).u64(0xB8, 0x0023001000000000)
      .u64(0xC0, 0xfffff80000401000).u64(0xC8, 0xfffff80000402000).u64(0xD0, 0x4700).u64(0xD8, 0x7);
  BOOST_TEST_REQUIRE(r.bytes().size() == 224u);

  auto s = wire::decode_special_registers(r);
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  BOOST_TEST(s->cr0 == 0x80050033u);
  BOOST_TEST(s->cr2 == 0xfffff80000001234u);
  BOOST_TEST(s->cr3 == 0x1ad000u);
  BOOST_TEST(s->cr4 == 0x6f8u);
  BOOST_TEST(s->kernel_dr0 == 0xd0u);
  BOOST_TEST(s->kernel_dr1 == 0xd1u);
  BOOST_TEST(s->kernel_dr2 == 0xd2u);
  BOOST_TEST(s->kernel_dr3 == 0xd3u);
  BOOST_TEST(s->kernel_dr6 == 0xffff0ff0u);
  BOOST_TEST(s->kernel_dr7 == 0x400u);
  BOOST_TEST((s->gdtr == wire::DescriptorTable{{1, 2, 3}, 0x7f, 0xfffff80000500000}));
  BOOST_TEST((s->idtr == wire::DescriptorTable{{4, 5, 6}, 0xfff, 0xfffff80000600000}));
  BOOST_TEST(s->tr == 0x40);
  BOOST_TEST(s->ldtr == 0x50);
  BOOST_TEST(s->mx_csr == 0x1f80u);
  BOOST_TEST(s->debug_control == 0x78u);
  BOOST_TEST(s->last_branch_to_rip == 0x80u);
  BOOST_TEST(s->last_branch_from_rip == 0x88u);
  BOOST_TEST(s->last_exception_to_rip == 0x90u);
  BOOST_TEST(s->last_exception_from_rip == 0x98u);
  BOOST_TEST(s->cr8 == 0xfu);
  BOOST_TEST(s->msr_gs_base == 0xfffff80000700000u);
  BOOST_TEST(s->msr_gs_swap == 0x7ff0000u);
  BOOST_TEST(s->msr_star == 0x0023001000000000u);
  BOOST_TEST(s->msr_lstar == 0xfffff80000401000u);
  BOOST_TEST(s->msr_cstar == 0xfffff80000402000u);
  BOOST_TEST(s->msr_syscall_mask == 0x4700u);
  BOOST_TEST(s->xcr0 == 0x7u);
  BOOST_TEST(wire::encode(*s) == r.bytes());  // no reserved bytes: the encoding is exact
}

BOOST_AUTO_TEST_SUITE_END()
