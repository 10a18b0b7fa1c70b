#include "core/commands/registers.hpp"

#include <array>
#include <bit>
#include <cmath>

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

namespace {
struct Special { std::string_view name; unsigned bits; };
constexpr std::array kSpecials{Special{"cr0", 64}, Special{"cr2", 64}, Special{"cr3", 64}, Special{"cr4", 64},
                               Special{"cr8", 64}, Special{"gdtr", 64}, Special{"gdtl", 16}, Special{"idtr", 64},
                               Special{"idtl", 16}, Special{"tr", 16},   Special{"ldtr", 16}, Special{"kdr0", 64},
                               Special{"kdr1", 64}, Special{"kdr2", 64}, Special{"kdr3", 64}, Special{"kdr6", 64},
                               Special{"kdr7", 64}};

std::uint64_t* special_field(wire::SpecialRegisters& s, std::string_view name) {
  if (name == "cr0") return &s.cr0;
  if (name == "cr2") return &s.cr2;
  if (name == "cr3") return &s.cr3;
  if (name == "cr4") return &s.cr4;
  if (name == "cr8") return &s.cr8;
  if (name == "gdtr") return &s.gdtr.base;
  if (name == "idtr") return &s.idtr.base;
  if (name == "kdr0") return &s.kernel_dr0;
  if (name == "kdr1") return &s.kernel_dr1;
  if (name == "kdr2") return &s.kernel_dr2;
  if (name == "kdr3") return &s.kernel_dr3;
  if (name == "kdr6") return &s.kernel_dr6;
  if (name == "kdr7") return &s.kernel_dr7;
  return nullptr;
}

std::uint16_t* special_field16(wire::SpecialRegisters& s, std::string_view name) {
  if (name == "gdtl") return &s.gdtr.limit;
  if (name == "idtl") return &s.idtr.limit;
  if (name == "tr") return &s.tr;
  if (name == "ldtr") return &s.ldtr;
  return nullptr;
}

// "st0".."st7", "xmm0".."xmm15": the index, or -1.
int indexed(std::string_view name, std::string_view prefix, int count) {
  if (!name.starts_with(prefix) || name.size() == prefix.size() || name.size() > prefix.size() + 2) return -1;
  int n = 0;
  for (char c : name.substr(prefix.size())) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  if (name.size() == prefix.size() + 2 && name[prefix.size()] == '0') return -1;
  return n < count ? n : -1;
}

// An x87 80-bit extended value (64-bit significand with explicit integer bit, 15-bit exponent).
long double x87_value(const wire::U128& r) {
  std::uint64_t mantissa = 0;
  for (int i = 7; i >= 0; --i) mantissa = (mantissa << 8) | r[i];
  const unsigned se = static_cast<unsigned>(r[8]) | (static_cast<unsigned>(r[9]) << 8);
  const int exponent = static_cast<int>(se & 0x7FFF);
  const bool negative = (se & 0x8000) != 0;
  long double v;
  if (exponent == 0 && mantissa == 0) v = 0.0L;
  else if (exponent == 0x7FFF) v = (mantissa << 1) == 0 ? __builtin_infl() : __builtin_nanl("");
  else v = std::ldexp(static_cast<long double>(mantissa), exponent - 16383 - 63);
  return negative ? -v : v;
}
}  // namespace

std::optional<std::uint64_t> get_special_register(const wire::SpecialRegisters& s, std::string_view name) {
  auto& m = const_cast<wire::SpecialRegisters&>(s);
  if (auto* f = special_field(m, name)) return *f;
  if (auto* f = special_field16(m, name)) return *f;
  return std::nullopt;
}

bool set_special_register(wire::SpecialRegisters& s, std::string_view name, std::uint64_t value) {
  if (auto* f = special_field(s, name)) {
    *f = value;
    return true;
  }
  if (auto* f = special_field16(s, name)) {
    *f = static_cast<std::uint16_t>(value);
    return true;
  }
  return false;
}

unsigned special_register_bits(std::string_view name) {
  for (const auto& sp : kSpecials)
    if (sp.name == name) return sp.bits;
  return 0;
}

std::optional<std::string> extended_register_text(const Context& ctx, std::string_view name) {
  if (name == "mxcsr") return fmt::format("mxcsr={:08x}", ctx.mx_csr);
  if (const int x = indexed(name, "xmm", 16); x >= 0) {
    const auto& r = ctx.flt_save.xmm_registers[static_cast<std::size_t>(x)];
    std::string text = fmt::format("{}=", name);
    for (int lane = 3; lane >= 0; --lane) {
      std::uint32_t bits = 0;
      for (int b = 3; b >= 0; --b) bits = (bits << 8) | r[static_cast<std::size_t>(lane * 4 + b)];
      text += fmt::format("{}{:g}", lane == 3 ? "" : " ", std::bit_cast<float>(bits));
    }
    return text;
  }
  if (const int st = indexed(name, "st", 8); st >= 0)
    return fmt::format("{}={:.21e}", name, x87_value(ctx.flt_save.float_registers[static_cast<std::size_t>(st)]));
  return std::nullopt;
}

std::optional<std::uint64_t> get_extended_register(const Context& ctx, std::string_view name) {
  if (name == "mxcsr") return ctx.mx_csr;
  if (const int x = indexed(name, "xmm", 16); x >= 0) {
    std::uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | ctx.flt_save.xmm_registers[static_cast<std::size_t>(x)][static_cast<std::size_t>(b)];
    return v;
  }
  return std::nullopt;
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
