#include "core/commands/registers.hpp"

#include <array>

#include <fmt/format.h>

namespace openkd::commands {
namespace {

using wire::Context;

struct Gpr {
  std::string_view r64, r32, r16, r8;  // "ah"-style high bytes are separate below
  std::uint64_t Context::*field;
};
constexpr std::array kGprs{
    Gpr{"rax", "eax", "ax", "al", &Context::rax},    Gpr{"rbx", "ebx", "bx", "bl", &Context::rbx},
    Gpr{"rcx", "ecx", "cx", "cl", &Context::rcx},    Gpr{"rdx", "edx", "dx", "dl", &Context::rdx},
    Gpr{"rsi", "esi", "si", "sil", &Context::rsi},   Gpr{"rdi", "edi", "di", "dil", &Context::rdi},
    Gpr{"rsp", "esp", "sp", "spl", &Context::rsp},   Gpr{"rbp", "ebp", "bp", "bpl", &Context::rbp},
    Gpr{"r8", "r8d", "r8w", "r8b", &Context::r8},    Gpr{"r9", "r9d", "r9w", "r9b", &Context::r9},
    Gpr{"r10", "r10d", "r10w", "r10b", &Context::r10}, Gpr{"r11", "r11d", "r11w", "r11b", &Context::r11},
    Gpr{"r12", "r12d", "r12w", "r12b", &Context::r12}, Gpr{"r13", "r13d", "r13w", "r13b", &Context::r13},
    Gpr{"r14", "r14d", "r14w", "r14b", &Context::r14}, Gpr{"r15", "r15d", "r15w", "r15b", &Context::r15},
    Gpr{"rip", "eip", "ip", "", &Context::rip},
    Gpr{"dr0", "", "", "", &Context::dr0}, Gpr{"dr1", "", "", "", &Context::dr1},
    Gpr{"dr2", "", "", "", &Context::dr2}, Gpr{"dr3", "", "", "", &Context::dr3},
    Gpr{"dr6", "", "", "", &Context::dr6}, Gpr{"dr7", "", "", "", &Context::dr7},
};

struct HighByte { std::string_view name; std::uint64_t Context::*field; };
constexpr std::array kHighBytes{HighByte{"ah", &Context::rax}, HighByte{"bh", &Context::rbx},
                                HighByte{"ch", &Context::rcx}, HighByte{"dh", &Context::rdx}};

struct Segment { std::string_view name; std::uint16_t Context::*field; };
constexpr std::array kSegments{Segment{"cs", &Context::seg_cs}, Segment{"ds", &Context::seg_ds},
                               Segment{"es", &Context::seg_es}, Segment{"fs", &Context::seg_fs},
                               Segment{"gs", &Context::seg_gs}, Segment{"ss", &Context::seg_ss}};

struct Flag { std::string_view name; unsigned bit, bits; };
constexpr std::array kFlags{Flag{"of", 11, 1}, Flag{"df", 10, 1}, Flag{"if", 9, 1}, Flag{"tf", 8, 1},
                            Flag{"sf", 7, 1},  Flag{"zf", 6, 1},  Flag{"af", 4, 1}, Flag{"pf", 2, 1},
                            Flag{"cf", 0, 1},  Flag{"iopl", 12, 2}};

// Pseudo-registers that are another register under a second name.
struct Alias { std::string_view name, target; };
constexpr std::array kAliases{Alias{"$ip", "rip"}, Alias{"$csp", "rsp"}, Alias{"$retreg", "rax"}};

std::uint64_t mask(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

}  // namespace

std::optional<std::uint64_t> get_register(const Context& ctx, std::string_view name) {
  for (const auto& a : kAliases)
    if (name == a.name) return get_register(ctx, a.target);
  for (const auto& g : kGprs) {
    const std::uint64_t v = ctx.*g.field;
    if (name == g.r64) return v;
    if (!g.r32.empty() && name == g.r32) return v & 0xFFFFFFFFu;
    if (!g.r16.empty() && name == g.r16) return v & 0xFFFF;
    if (!g.r8.empty() && name == g.r8) return v & 0xFF;
  }
  for (const auto& h : kHighBytes)
    if (name == h.name) return ((ctx.*h.field) >> 8) & 0xFF;
  for (const auto& s : kSegments)
    if (name == s.name) return ctx.*s.field;
  if (name == "efl" || name == "rflags" || name == "eflags") return ctx.eflags;
  for (const auto& f : kFlags)
    if (name == f.name) return (ctx.eflags >> f.bit) & mask(f.bits);
  return std::nullopt;
}

bool set_register(Context& ctx, std::string_view name, std::uint64_t value) {
  for (const auto& a : kAliases)
    if (name == a.name) return set_register(ctx, a.target, value);
  auto merge = [](std::uint64_t old, std::uint64_t v, unsigned bits, unsigned shift) {
    return (old & ~(mask(bits) << shift)) | ((v & mask(bits)) << shift);
  };
  for (const auto& g : kGprs) {
    auto& field = ctx.*g.field;
    if (name == g.r64) { field = value; return true; }
    // As on the CPU, writing a 32-bit part zero-extends; 16/8-bit parts merge.
    if (!g.r32.empty() && name == g.r32) { field = value & 0xFFFFFFFFu; return true; }
    if (!g.r16.empty() && name == g.r16) { field = merge(field, value, 16, 0); return true; }
    if (!g.r8.empty() && name == g.r8) { field = merge(field, value, 8, 0); return true; }
  }
  for (const auto& h : kHighBytes)
    if (name == h.name) { ctx.*h.field = merge(ctx.*h.field, value, 8, 8); return true; }
  for (const auto& s : kSegments)
    if (name == s.name) { ctx.*s.field = static_cast<std::uint16_t>(value); return true; }
  if (name == "efl" || name == "rflags" || name == "eflags") { ctx.eflags = static_cast<std::uint32_t>(value); return true; }
  for (const auto& f : kFlags)
    if (name == f.name) {
      ctx.eflags = static_cast<std::uint32_t>(merge(ctx.eflags, value, f.bits, f.bit));
      return true;
    }
  return false;
}

unsigned register_bits(std::string_view name) {
  for (const auto& a : kAliases)
    if (name == a.name) return 64;
  for (const auto& g : kGprs) {
    if (name == g.r64) return 64;
    if (!g.r32.empty() && name == g.r32) return 32;
    if (!g.r16.empty() && name == g.r16) return 16;
    if (!g.r8.empty() && name == g.r8) return 8;
  }
  for (const auto& h : kHighBytes)
    if (name == h.name) return 8;
  for (const auto& s : kSegments)
    if (name == s.name) return 16;
  if (name == "efl" || name == "rflags" || name == "eflags") return 32;
  for (const auto& f : kFlags)
    if (name == f.name) return f.bits;
  return 0;
}

std::string flags_text(std::uint32_t efl) {
  auto bit = [&](unsigned b) { return (efl >> b) & 1; };
  return fmt::format("{} {} {} {} {} {} {} {}", bit(11) ? "ov" : "nv", bit(10) ? "dn" : "up", bit(9) ? "ei" : "di",
                     bit(7) ? "ng" : "pl", bit(6) ? "zr" : "nz", bit(4) ? "ac" : "na", bit(2) ? "pe" : "po",
                     bit(0) ? "cy" : "nc");
}

std::string register_block(const Context& c) {
  std::string s;
  s += fmt::format("rax={:016x} rbx={:016x} rcx={:016x}\n", c.rax, c.rbx, c.rcx);
  s += fmt::format("rdx={:016x} rsi={:016x} rdi={:016x}\n", c.rdx, c.rsi, c.rdi);
  s += fmt::format("rip={:016x} rsp={:016x} rbp={:016x}\n", c.rip, c.rsp, c.rbp);
  s += fmt::format(" r8={:016x}  r9={:016x} r10={:016x}\n", c.r8, c.r9, c.r10);
  s += fmt::format("r11={:016x} r12={:016x} r13={:016x}\n", c.r11, c.r12, c.r13);
  s += fmt::format("r14={:016x} r15={:016x}\n", c.r14, c.r15);
  s += fmt::format("iopl={:<9x} {}\n", (c.eflags >> 12) & 3, flags_text(c.eflags));
  s += fmt::format("cs={:04x}  ss={:04x}  ds={:04x}  es={:04x}  fs={:04x}  gs={:04x}             efl={:08x}\n",
                   c.seg_cs, c.seg_ss, c.seg_ds, c.seg_es, c.seg_fs, c.seg_gs, c.eflags);
  return s;
}

}  // namespace openkd::commands
