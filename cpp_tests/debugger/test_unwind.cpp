// The x64 unwinder (core/debugger/unwind.hpp) on hand-built unwind data (each
// UNWIND_CODE operation, chained info, machine frames, epilogues, leaf and
// frame-pointer fallback, hostile data) and on the real simkrnl.exe, whose
// .pdata is checked against llvm-readobj-14's reading of the same file.
#define BOOST_TEST_MODULE unwind
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>

#include "core/debugger/unwind.hpp"

using namespace openkd::debugger::unwind;

namespace {

constexpr std::uint64_t kBase = 0xFFFFF80000400000ull;
constexpr std::uint64_t kSize = 0x10000;
constexpr std::uint32_t kPdata = 0x3000;
constexpr std::uint64_t kStack = 0xFFFFF80020000000ull;

/// Sparse memory: a read fails if any byte is missing.
struct Memory {
  std::map<std::uint64_t, std::uint8_t> bytes;
  std::size_t reads = 0;
  void put(std::uint64_t a, std::initializer_list<std::uint8_t> b) {
    for (auto v : b) bytes[a++] = v;
  }
  void put(std::uint64_t a, const std::vector<std::uint8_t>& b) {
    for (auto v : b) bytes[a++] = v;
  }
  void put_u32(std::uint64_t a, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes[a + i] = std::uint8_t(v >> (8 * i));
  }
  void put_u64(std::uint64_t a, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes[a + i] = std::uint8_t(v >> (8 * i));
  }
  void fill(std::uint64_t a, std::size_t n, std::uint8_t v) {
    for (std::size_t i = 0; i < n; ++i) bytes[a + i] = v;
  }
  ReadMemory reader() {
    return [this](std::uint64_t a, std::span<std::uint8_t> out) {
      ++reads;
      for (std::size_t i = 0; i < out.size(); ++i) {
        auto it = bytes.find(a + i);
        if (it == bytes.end()) return false;
        out[i] = it->second;
      }
      return true;
    };
  }
};

struct Code {
  std::uint8_t offset, op, info;
  std::vector<std::uint16_t> extra;
};

std::vector<std::uint8_t> unwind_info(std::uint8_t flags, std::uint8_t prolog, std::uint8_t frame_reg,
                                      std::uint8_t frame_off, const std::vector<Code>& codes,
                                      std::optional<RuntimeFunction> chained = {}) {
  std::vector<std::uint16_t> slots;
  for (const auto& c : codes) {
    slots.push_back(std::uint16_t(c.offset | ((c.op | (c.info << 4)) << 8)));
    for (auto e : c.extra) slots.push_back(e);
  }
  std::vector<std::uint8_t> b{std::uint8_t(1 | (flags << 3)), prolog, std::uint8_t(slots.size()),
                              std::uint8_t(frame_reg | (frame_off << 4))};
  for (auto s : slots) {
    b.push_back(std::uint8_t(s));
    b.push_back(std::uint8_t(s >> 8));
  }
  if (slots.size() % 2) b.insert(b.end(), {0, 0});
  if (chained) {
    for (auto v : {chained->begin, chained->end, chained->unwind_info})
      for (int i = 0; i < 4; ++i) b.push_back(std::uint8_t(v >> (8 * i)));
  }
  return b;
}

/// A fake image: PE headers with an exception directory, a .pdata table, unwind
/// infos placed from rva 0x4000 on, code filled with nops (0x90).
struct Fixture {
  Memory mem;
  std::vector<RuntimeFunction> pdata;
  std::uint32_t next_xdata = 0x4000;

  Fixture() {
    mem.put(kBase, {'M', 'Z'});
    mem.put_u32(kBase + 0x3C, 0x80);
    mem.fill(kBase + 0x40, 0x40, 0);
    std::vector<std::uint8_t> nt(24 + 240, 0);
    nt[0] = 'P', nt[1] = 'E';
    nt[24] = 0x0B, nt[25] = 0x02;                   // PE32+
    nt[24 + 108] = 16;                              // NumberOfRvaAndSizes
    mem.put(kBase + 0x80, nt);
    mem.fill(kBase + 0x1000, 0x2000, 0x90);         // code
  }
  std::uint32_t add_info(const std::vector<std::uint8_t>& info) {
    const std::uint32_t rva = next_xdata;
    mem.put(kBase + rva, info);
    next_xdata += std::uint32_t((info.size() + 3) & ~3u);
    return rva;
  }
  RuntimeFunction add_function(std::uint32_t begin, std::uint32_t end, const std::vector<std::uint8_t>& info) {
    RuntimeFunction f{begin, end, add_info(info)};
    pdata.push_back(f);
    return f;
  }
  /// Writes the table and the directory; returns an unwinder over the image.
  Unwinder unwinder() {
    for (std::size_t i = 0; i < pdata.size(); ++i) {
      mem.put_u32(kBase + kPdata + 12 * i, pdata[i].begin);
      mem.put_u32(kBase + kPdata + 12 * i + 4, pdata[i].end);
      mem.put_u32(kBase + kPdata + 12 * i + 8, pdata[i].unwind_info);
    }
    mem.put_u32(kBase + 0x80 + 24 + 112 + 24, kPdata);
    mem.put_u32(kBase + 0x80 + 24 + 112 + 28, std::uint32_t(12 * pdata.size()));
    Image image = read_image(mem.reader(), kBase, kSize);
    BOOST_REQUIRE_EQUAL(image.pdata_rva, kPdata);
    BOOST_REQUIRE_EQUAL(image.pdata_size, 12 * pdata.size());
    return Unwinder(mem.reader(), {image});
  }
};

Registers at(std::uint64_t rip, std::uint64_t rsp) {
  Registers r;
  for (unsigned i = 0; i < 16; ++i) r.gpr[i] = 0x1111111111111111ull * (i + 1);
  r.rip = rip;
  r.gpr[Rsp] = rsp;
  return r;
}

Registers step_ok(Unwinder& u, const Registers& r, Frame* out = nullptr) {
  Frame f;
  WalkEnd why{};
  auto next = u.step(r, f, why);
  BOOST_REQUIRE_MESSAGE(next, "step failed: " << walk_end_text(why));
  if (out) *out = f;
  return *next;
}

constexpr std::uint64_t kRet = kBase + 0x2345;

}  // namespace

BOOST_AUTO_TEST_CASE(push_nonvol_and_alloc_small_in_body_and_mid_prolog) {
  Fixture fx;
  // push rbx (ends at 1); sub rsp,28h (ends at 5)
  fx.add_function(0x1000, 0x1100, unwind_info(0, 5, 0, 0, {{5, UWOP_ALLOC_SMALL, 4, {}}, {1, UWOP_PUSH_NONVOL, Rbx, {}}}));
  auto u = fx.unwinder();
  const std::uint64_t s = kStack;
  fx.mem.put_u64(s + 0x28, 0xB0B0);
  fx.mem.put_u64(s + 0x30, kRet);
  Frame f;
  auto r = step_ok(u, at(kBase + 0x1040, s), &f);
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == s + 0x38);
  BOOST_TEST(r.gpr[Rbx] == 0xB0B0u);
  BOOST_TEST(r.restored == (1u << Rbx));
  BOOST_TEST((f.unwound_by == FrameKind::Unwind));
  BOOST_TEST(f.function->begin == 0x1000u);

  // Between the push and the sub: only the push is undone.
  fx.mem.put_u64(s, 0xB1B1);
  fx.mem.put_u64(s + 8, kRet + 1);
  r = step_ok(u, at(kBase + 0x1001, s), &f);
  BOOST_TEST(r.rip == kRet + 1);
  BOOST_TEST(r.rsp() == s + 0x10);
  BOOST_TEST(r.gpr[Rbx] == 0xB1B1u);
  // At the first instruction: nothing but the return address.
  r = step_ok(u, at(kBase + 0x1000, s + 8), &f);
  BOOST_TEST(r.rip == kRet + 1);
  BOOST_TEST(r.rsp() == s + 0x10);
  BOOST_TEST(r.restored == 0u);
}

BOOST_AUTO_TEST_CASE(alloc_large_both_forms) {
  Fixture fx;
  // sub rsp,0x1230 (info 0: size/8 in one slot)
  fx.add_function(0x1000, 0x1100, unwind_info(0, 7, 0, 0, {{7, UWOP_ALLOC_LARGE, 0, {0x1230 / 8}}}));
  // sub rsp,0x123458 (info 1: the size in two slots)
  fx.add_function(0x1100, 0x1200, unwind_info(0, 7, 0, 0, {{7, UWOP_ALLOC_LARGE, 1, {0x3458, 0x0012}}}));
  auto u = fx.unwinder();
  fx.mem.put_u64(kStack + 0x1230, kRet);
  fx.mem.put_u64(kStack + 0x123458, kRet + 2);
  auto r = step_ok(u, at(kBase + 0x1010, kStack));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == kStack + 0x1238);
  r = step_ok(u, at(kBase + 0x1110, kStack));
  BOOST_TEST(r.rip == kRet + 2);
  BOOST_TEST(r.rsp() == kStack + 0x123460);
}

BOOST_AUTO_TEST_CASE(set_fpreg_restores_rsp_from_the_frame_register) {
  Fixture fx;
  // push rbp (1); sub rsp,40h (5); lea rbp,[rsp+20h] (10): frame register rbp, offset 2 (x16)
  fx.add_function(0x1000, 0x1100,
                  unwind_info(0, 10, Rbp, 2,
                              {{10, UWOP_SET_FPREG, 0, {}}, {5, UWOP_ALLOC_SMALL, 7, {}}, {1, UWOP_PUSH_NONVOL, Rbp, {}}}));
  auto u = fx.unwinder();
  const std::uint64_t s = kStack + 0x1000;  // rsp after the allocation
  fx.mem.put_u64(s + 0x40, 0xBEEF);         // saved rbp
  fx.mem.put_u64(s + 0x48, kRet);
  auto r0 = at(kBase + 0x1050, s - 0x330);  // the body moved rsp (alloca, alignment)
  r0.gpr[Rbp] = s + 0x20;
  auto r = step_ok(u, r0);
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == s + 0x50);
  BOOST_TEST(r.gpr[Rbp] == 0xBEEFu);
  // Mid-prolog, before the lea: rbp is not the frame yet; rsp is used.
  fx.mem.put_u64(kStack + 0x40, 0xBEE0);
  fx.mem.put_u64(kStack + 0x48, kRet + 3);
  auto r1 = at(kBase + 0x1005, kStack);
  r1.gpr[Rbp] = 0x5555;  // garbage: must not be used
  r = step_ok(u, r1);
  BOOST_TEST(r.rip == kRet + 3);
  BOOST_TEST(r.gpr[Rbp] == 0xBEE0u);
}

BOOST_AUTO_TEST_CASE(save_nonvol_and_far_relative_to_the_frame) {
  Fixture fx;
  // sub rsp,38h; mov [rsp+40h],rsi; mov [rsp+48h],rdi: saved in the caller's home area
  fx.add_function(0x1000, 0x1100,
                  unwind_info(0, 14, 0, 0,
                              {{14, UWOP_SAVE_NONVOL_FAR, Rdi, {0x48, 0}}, {9, UWOP_SAVE_NONVOL, Rsi, {0x40 / 8}},
                               {4, UWOP_ALLOC_SMALL, 6, {}}}));
  auto u = fx.unwinder();
  fx.mem.put_u64(kStack + 0x38, kRet);
  fx.mem.put_u64(kStack + 0x40, 0x5151);
  fx.mem.put_u64(kStack + 0x48, 0xD1D1);
  auto r = step_ok(u, at(kBase + 0x1020, kStack));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == kStack + 0x40);
  BOOST_TEST(r.gpr[Rsi] == 0x5151u);
  BOOST_TEST(r.gpr[Rdi] == 0xD1D1u);
  BOOST_TEST(r.restored == ((1u << Rsi) | (1u << Rdi)));
}

BOOST_AUTO_TEST_CASE(save_xmm128_and_far) {
  Fixture fx;
  // sub rsp,58h; movaps [rsp+10h],xmm6; movaps [rsp+20h],xmm7 (far form)
  fx.add_function(0x1000, 0x1100,
                  unwind_info(0, 14, 0, 0,
                              {{14, UWOP_SAVE_XMM128_FAR, 7, {0x20, 0}}, {9, UWOP_SAVE_XMM128, 6, {1}},
                               {4, UWOP_ALLOC_SMALL, 10, {}}}));
  auto u = fx.unwinder();
  fx.mem.put_u64(kStack + 0x10, 0x0606060606060606);
  fx.mem.put_u64(kStack + 0x18, 0x6666666666666666);
  fx.mem.put_u64(kStack + 0x20, 0x0707070707070707);
  fx.mem.put_u64(kStack + 0x28, 0x7777777777777777);
  fx.mem.put_u64(kStack + 0x58, kRet);
  auto r = step_ok(u, at(kBase + 0x1020, kStack));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == kStack + 0x60);
  BOOST_TEST((r.xmm[6] == Xmm{0x0606060606060606, 0x6666666666666666}));
  BOOST_TEST((r.xmm[7] == Xmm{0x0707070707070707, 0x7777777777777777}));
  BOOST_TEST(r.xmm_restored == ((1u << 6) | (1u << 7)));
}

BOOST_AUTO_TEST_CASE(push_machframe_with_and_without_error_code) {
  Fixture fx;
  // An interrupt handler as trap.S writes one: .seh_pushframe; push rbp; mov rbp,rsp (setframe rbp,0)
  fx.add_function(0x1000, 0x1100,
                  unwind_info(0, 4, Rbp, 0,
                              {{4, UWOP_SET_FPREG, 0, {}}, {1, UWOP_PUSH_NONVOL, Rbp, {}}, {0, UWOP_PUSH_MACHFRAME, 0, {}}}));
  // An exception with an error code: .seh_pushframe @code
  fx.add_function(0x1100, 0x1200, unwind_info(0, 0, 0, 0, {{0, UWOP_PUSH_MACHFRAME, 1, {}}}));
  auto u = fx.unwinder();
  const std::uint64_t m = kStack + 0x100;  // the machine frame
  fx.mem.put_u64(m - 8, 0xAB);             // pushed rbp
  fx.mem.put_u64(m, kRet);                 // rip
  fx.mem.put_u64(m + 8, 0x10);             // cs
  fx.mem.put_u64(m + 16, 0x246);           // rflags
  fx.mem.put_u64(m + 24, kStack + 0x5000); // interrupted rsp
  fx.mem.put_u64(m + 32, 0x18);            // ss
  auto r0 = at(kBase + 0x1040, (m - 8 - 0x20) & ~0xFull);  // the body realigned rsp
  r0.gpr[Rbp] = m - 8;
  Frame f;
  auto r = step_ok(u, r0, &f);
  BOOST_TEST((f.unwound_by == FrameKind::MachineFrame));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == kStack + 0x5000);
  BOOST_TEST(r.gpr[Rbp] == 0xABu);
  BOOST_TEST(f.machine_frame == m);

  // Error code on top: rip one slot up, rsp at +32.
  fx.mem.put_u64(kStack + 0x200, 0xE);  // error code
  fx.mem.put_u64(kStack + 0x208, kRet + 4);
  fx.mem.put_u64(kStack + 0x220, kStack + 0x6000);  // rsp at +32 (error code, rip, cs, rflags)
  r = step_ok(u, at(kBase + 0x1110, kStack + 0x200), &f);
  BOOST_TEST((f.unwound_by == FrameKind::MachineFrame));
  BOOST_TEST(r.rip == kRet + 4);
  BOOST_TEST(r.rsp() == kStack + 0x6000);
}

BOOST_AUTO_TEST_CASE(chained_unwind_info) {
  Fixture fx;
  // The primary: push rbx; sub rsp,20h. A cold fragment elsewhere saves rsi too
  // and chains to the primary (UNW_FLAG_CHAININFO).
  auto primary = fx.add_function(
      0x1000, 0x1050, unwind_info(0, 5, 0, 0, {{5, UWOP_ALLOC_SMALL, 3, {}}, {1, UWOP_PUSH_NONVOL, Rbx, {}}}));
  fx.add_function(0x1800, 0x1840,
                  unwind_info(UNW_FLAG_CHAININFO, 0, 0, 0, {{0, UWOP_SAVE_NONVOL, Rsi, {0x30 / 8}}}, primary));
  auto u = fx.unwinder();
  fx.mem.put_u64(kStack + 0x20, 0xB0);   // rbx
  fx.mem.put_u64(kStack + 0x28, kRet);   // return address
  fx.mem.put_u64(kStack + 0x30, 0x51);   // rsi in the home area
  Frame f;
  auto r = step_ok(u, at(kBase + 0x1810, kStack), &f);
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == kStack + 0x30);
  BOOST_TEST(r.gpr[Rbx] == 0xB0u);
  BOOST_TEST(r.gpr[Rsi] == 0x51u);
  BOOST_TEST(f.function->begin == 0x1000u);  // named by its primary entry
  BOOST_TEST(u.function_at(kBase + 0x1810)->first.begin == 0x1000u);
  auto ranges = u.function_ranges(kBase, primary);
  BOOST_REQUIRE_EQUAL(ranges.size(), 2u);
  BOOST_TEST(ranges[1].begin == 0x1800u);
  BOOST_TEST(ranges[1].end == 0x1840u);
}

BOOST_AUTO_TEST_CASE(epilogues_are_emulated_not_unwound) {
  Fixture fx;
  const std::vector<Code> codes{{5, UWOP_ALLOC_SMALL, 4, {}}, {1, UWOP_PUSH_NONVOL, Rbx, {}}};
  fx.add_function(0x1000, 0x1100, unwind_info(0, 5, 0, 0, codes));
  // add rsp,28h; pop rbx; ret
  fx.mem.put(kBase + 0x1080, {0x48, 0x83, 0xC4, 0x28, 0x5B, 0xC3});
  // add rsp,28h; pop rbx; jmp rel32 to outside (a tail call)
  fx.mem.put(kBase + 0x1090, {0x48, 0x83, 0xC4, 0x28, 0x5B, 0xE9, 0x00, 0x10, 0x00, 0x00});
  // add rsp,28h; pop rbx; jmp rel8 inside the function: NOT an epilogue
  fx.mem.put(kBase + 0x10A0, {0x48, 0x83, 0xC4, 0x28, 0x5B, 0xEB, 0x02});
  // lea rsp,[rbp+10h]; pop r12; jmp qword ptr [rip+x]
  fx.add_function(0x1100, 0x1200,
                  unwind_info(0, 8, Rbp, 1,
                              {{8, UWOP_SET_FPREG, 0, {}}, {4, UWOP_ALLOC_SMALL, 1, {}}, {2, UWOP_PUSH_NONVOL, R12, {}}}));
  fx.mem.put(kBase + 0x1180, {0x48, 0x8D, 0x65, 0x10, 0x41, 0x5C, 0xFF, 0x25, 0, 0, 0, 0});
  auto u = fx.unwinder();

  // rsp still below the allocation, as at the start of the epilogue
  const std::uint64_t s = kStack;
  fx.mem.put_u64(s + 0x28, 0xB0B0);
  fx.mem.put_u64(s + 0x30, kRet);
  for (std::uint64_t rip : {kBase + 0x1080, kBase + 0x1090}) {
    auto r = step_ok(u, at(rip, s));
    BOOST_TEST(r.rip == kRet);
    BOOST_TEST(r.rsp() == s + 0x38);
    BOOST_TEST(r.gpr[Rbx] == 0xB0B0u);
  }
  // After the add: pop rbx; ret from rsp = s+0x28
  auto r = step_ok(u, at(kBase + 0x1084, s + 0x28));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.gpr[Rbx] == 0xB0B0u);
  // At the ret: only the return address
  r = step_ok(u, at(kBase + 0x1085, s + 0x30));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == s + 0x38);
  BOOST_TEST(r.restored == 0u);
  // Not an epilogue (the jmp stays inside): the unwind codes apply, from the same rsp.
  r = step_ok(u, at(kBase + 0x10A0, s));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == s + 0x38);
  // The lea form with the frame register.
  auto r1 = at(kBase + 0x1180, kStack + 0x500);
  r1.gpr[Rbp] = kStack + 0x700;
  fx.mem.put_u64(kStack + 0x710, 0x1212);
  fx.mem.put_u64(kStack + 0x718, kRet + 5);
  r = step_ok(u, r1);
  BOOST_TEST(r.rip == kRet + 5);
  BOOST_TEST(r.rsp() == kStack + 0x720);
  BOOST_TEST(r.gpr[R12] == 0x1212u);
}

BOOST_AUTO_TEST_CASE(leaf_and_frame_pointer_fallback) {
  Fixture fx;
  fx.add_function(0x1000, 0x1100, unwind_info(0, 0, 0, 0, {}));
  auto u = fx.unwinder();
  // In the image, not covered by .pdata: a leaf, the return address at [rsp].
  fx.mem.put_u64(kStack, kRet);
  auto r0 = at(kBase + 0x1500, kStack);
  r0.gpr[Rbp] = kStack + 0x40;  // a plausible rbp must NOT be followed: unwind data exists for this image
  Frame f;
  auto r = step_ok(u, r0, &f);
  BOOST_TEST((f.unwound_by == FrameKind::Leaf));
  BOOST_TEST(r.rip == kRet);
  BOOST_TEST(r.rsp() == kStack + 8);

  // Outside every image: the rbp chain.
  fx.mem.put_u64(kStack + 0x40, kStack + 0x90);  // caller's rbp
  fx.mem.put_u64(kStack + 0x48, kRet + 6);
  auto r1 = at(0x7000'0000'1000ull, kStack);
  r1.gpr[Rbp] = kStack + 0x40;
  r = step_ok(u, r1, &f);
  BOOST_TEST((f.unwound_by == FrameKind::FramePointer));
  BOOST_TEST(r.rip == kRet + 6);
  BOOST_TEST(r.rsp() == kStack + 0x50);
  BOOST_TEST(r.gpr[Rbp] == kStack + 0x90);
  // ...unless rbp is not a frame above rsp: the leaf rule.
  r1.gpr[Rbp] = kStack - 0x100;
  r = step_ok(u, r1, &f);
  BOOST_TEST((f.unwound_by == FrameKind::Leaf));
  BOOST_TEST(r.rip == kRet);
}

BOOST_AUTO_TEST_CASE(walks_end_on_zero_count_bad_stack_and_unreadable) {
  Fixture fx;
  // f: sub rsp,8 ; three nested frames of f, then a zero return address
  fx.add_function(0x1000, 0x1100, unwind_info(0, 4, 0, 0, {{4, UWOP_ALLOC_SMALL, 0, {}}}));
  fx.add_function(0x1100, 0x1200, unwind_info(0, 0, 0, 0, {{0, UWOP_PUSH_MACHFRAME, 0, {}}}));
  auto u = fx.unwinder();
  for (int i = 0; i < 3; ++i) fx.mem.put_u64(kStack + 8 + 16 * i, kBase + 0x1010);
  fx.mem.put_u64(kStack + 8 + 16 * 3, 0);
  fx.mem.put_u64(kStack + 16 * 3, 0);
  auto w = u.walk(at(kBase + 0x1010, kStack), 100);
  BOOST_TEST(w.frames.size() == 4u);
  BOOST_TEST((w.end == WalkEnd::ZeroReturn));
  BOOST_TEST(w.frames[1].stack_pointer == kStack + 16);
  BOOST_TEST(w.frames[0].return_address == kBase + 0x1010);
  w = u.walk(at(kBase + 0x1010, kStack), 2);
  BOOST_TEST(w.frames.size() == 2u);
  BOOST_TEST((w.end == WalkEnd::Count));
  // A machine frame pointing back down the stack: the walk stops instead of looping.
  fx.mem.put_u64(kStack + 0x800, kBase + 0x1110);
  fx.mem.put_u64(kStack + 0x818, kStack + 0x800);
  w = u.walk(at(kBase + 0x1110, kStack + 0x800), 100);
  BOOST_TEST(w.frames.size() == 1u);
  BOOST_TEST((w.end == WalkEnd::StackNotIncreasing));
  // Unreadable stack.
  w = u.walk(at(kBase + 0x1010, 0xFFFF'0000'0000'0000ull), 100);
  BOOST_TEST(w.frames.size() == 1u);
  BOOST_TEST((w.end == WalkEnd::Unreadable));
}

BOOST_AUTO_TEST_CASE(hostile_unwind_data_is_refused_without_crashing) {
  // Unknown version, undefined operation, a code running past the count, SET_FPREG without a frame register.
  BOOST_TEST(!parse_unwind_info(std::vector<std::uint8_t>{3, 0, 0, 0}).has_value());
  BOOST_TEST(!parse_unwind_info(std::vector<std::uint8_t>{1, 0, 1, 0, 0, 0x0B, 0, 0}).has_value());
  BOOST_TEST(!parse_unwind_info(std::vector<std::uint8_t>{1, 0, 1, 0, 0, 0x01, 0, 0}).has_value());
  BOOST_TEST(!parse_unwind_info(std::vector<std::uint8_t>{1, 0, 1, 0, 0, 0x03, 0, 0}).has_value());
  BOOST_TEST(!parse_unwind_info(std::vector<std::uint8_t>{1, 0, 4, 0}));  // truncated
  // Version 1 has no UWOP_EPILOG; version 2 does.
  BOOST_TEST(!parse_unwind_info(std::vector<std::uint8_t>{1, 0, 2, 0, 1, 0x16, 0, 0}).has_value());
  BOOST_TEST(parse_unwind_info(std::vector<std::uint8_t>{2, 0, 2, 0, 1, 0x16, 0, 0}).has_value());

  Fixture fx;
  fx.add_function(0x1000, 0x1100, std::vector<std::uint8_t>{1, 0, 1, 0, 0, 0x0F, 0, 0});
  // A chain that points to itself.
  RuntimeFunction self{0x1100, 0x1200, 0};
  self.unwind_info = fx.next_xdata;
  fx.add_function(0x1100, 0x1200, unwind_info(UNW_FLAG_CHAININFO, 0, 0, 0, {}, self));
  auto u = fx.unwinder();
  fx.mem.put_u64(kStack, kRet);
  auto w = u.walk(at(kBase + 0x1010, kStack), 10);
  BOOST_TEST((w.end == WalkEnd::BadUnwindData));
  w = u.walk(at(kBase + 0x1110, kStack), 10);
  BOOST_TEST((w.end == WalkEnd::BadUnwindData));

  // Random bytes as unwind info: parsed or refused, never a crash, and walks end.
  std::mt19937 rng(12);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> b(4 + rng() % 40);
    for (auto& v : b) v = std::uint8_t(rng());
    (void)parse_unwind_info(b);
  }
  for (int i = 0; i < 200; ++i) {
    Fixture h;
    std::vector<std::uint8_t> b(4 + 2 * 16 + 12);
    for (auto& v : b) v = std::uint8_t(rng());
    h.add_function(0x1000, 0x1100, b);
    for (std::uint64_t a = 0; a < 0x200; a += 8) h.mem.put_u64(kStack + a, rng() % 2 ? kBase + 0x1000 + rng() % 0x100 : rng());
    auto hu = h.unwinder();
    auto hw = hu.walk(at(kBase + 0x1000 + rng() % 0x100, kStack), 64);
    BOOST_TEST(hw.frames.size() <= 64u);
  }
}

// ---- the real image --------------------------------------------------------------

namespace {

std::string run(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

std::uint32_t le32(const std::vector<std::uint8_t>& f, std::size_t at) {
  return std::uint32_t(f[at]) | (std::uint32_t(f[at + 1]) << 8) | (std::uint32_t(f[at + 2]) << 16) |
         (std::uint32_t(f[at + 3]) << 24);
}

/// Maps the PE file's headers and sections at their RVAs, as a loader would.
bool load_image(const std::filesystem::path& path, Memory& mem, std::uint64_t& base, std::uint64_t& size) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> f((std::istreambuf_iterator<char>(in)), {});
  if (f.size() < 0x400) return false;
  const std::uint32_t nt = le32(f, 0x3C);
  const std::size_t sections = f[nt + 6] | (f[nt + 7] << 8);
  const std::size_t opt_size = f[nt + 20] | (f[nt + 21] << 8);
  const std::size_t opt = nt + 24;
  base = std::uint64_t(le32(f, opt + 24)) | (std::uint64_t(le32(f, opt + 28)) << 32);
  size = le32(f, opt + 56);
  const std::uint32_t headers = le32(f, opt + 60);
  for (std::size_t i = 0; i < headers && i < f.size(); ++i) mem.bytes[base + i] = f[i];
  for (std::size_t s = 0; s < sections; ++s) {
    const std::size_t h = opt + opt_size + 40 * s;
    const std::uint32_t vsize = le32(f, h + 8), rva = le32(f, h + 12), raw_size = le32(f, h + 16), raw = le32(f, h + 20);
    for (std::uint32_t i = 0; i < vsize; ++i) mem.bytes[base + rva + i] = i < raw_size && raw + i < f.size() ? f[raw + i] : 0;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(simkrnl_pdata_matches_llvm_readobj) {
  const std::filesystem::path image = std::filesystem::path(OPENKD_KERNEL_IMAGE_DIR) / "simkrnl.exe";
  if (!std::filesystem::exists(image)) {
    BOOST_FAIL("the simulated kernel is not built: " << image);
  }
  Memory mem;
  std::uint64_t base = 0, size = 0;
  BOOST_REQUIRE(load_image(image, mem, base, size));
  const Image img = read_image(mem.reader(), base, size);
  BOOST_REQUIRE(img.pdata_size > 0);
  Unwinder u(mem.reader(), {img});
  const auto& table = u.table(img);

  // llvm-readobj-14's independent reading: every RuntimeFunction's range and unwind info.
  const std::string dump = run("llvm-readobj-14 --unwind '" + image.string() + "'");
  std::regex fn_re(R"(StartAddress: \(0x([0-9A-F]+)\)\s+EndAddress: \(0x([0-9A-F]+)\)\s+UnwindInfoAddress: \(0x([0-9A-F]+)\)[\s\S]*?PrologSize: (\d+)\s+FrameRegister: (\S+)[\s\S]*?UnwindCodeCount: (\d+))");
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, unsigned, std::string, unsigned>> expected;
  for (std::sregex_iterator it(dump.begin(), dump.end(), fn_re), end; it != end; ++it)
    expected.emplace_back(std::stoull((*it)[1], nullptr, 16), std::stoull((*it)[2], nullptr, 16),
                          std::stoull((*it)[3], nullptr, 16), std::stoul((*it)[4]), (*it)[5], std::stoul((*it)[6]));
  BOOST_REQUIRE_MESSAGE(expected.size() > 20, "llvm-readobj-14 listed " << expected.size() << " functions");
  BOOST_REQUIRE_EQUAL(table.size(), expected.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& [start, stop, info_address, prolog, frame_reg, count] = expected[i];
    BOOST_TEST(base + table[i].begin == start);
    BOOST_TEST(base + table[i].end == stop);
    BOOST_TEST(base + table[i].unwind_info == info_address);
    const UnwindInfo* info = u.unwind_info(base, table[i].unwind_info);
    BOOST_REQUIRE(info);
    BOOST_TEST(info->prolog_size == prolog);
    std::size_t slots = 0;
    for (const auto& c : info->codes) slots += c.slots;
    BOOST_TEST(slots == count);
    BOOST_TEST((frame_reg == "-") == (info->frame_register == 0));
    // Every address inside a function finds that function.
    BOOST_TEST(u.function_at(base + table[i].begin)->first.begin == table[i].begin);
    BOOST_TEST(u.function_at(base + table[i].end - 1)->first.begin == table[i].begin);
  }
  // trap.S's interrupt entry has a machine frame, as llvm-readobj-14 reads it too.
  BOOST_TEST(dump.find("PUSH_MACHFRAME") != std::string::npos);
}
