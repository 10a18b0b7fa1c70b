// x64 register names over wire::Context: full registers, their 32/16/8-bit
// parts, segment selectors, efl and single flags, debug registers, and the
// pseudo-registers that need only the context ($ip, $csp, $retreg).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/wire/context.hpp"

namespace openkd::commands {

/// A register's value by lowercase name; nullopt if no such register.
std::optional<std::uint64_t> get_register(const wire::Context& ctx, std::string_view name);
/// Stores into a register (truncated to its width; partial registers merge);
/// false if no such register or it cannot be written.
bool set_register(wire::Context& ctx, std::string_view name, std::uint64_t value);
/// The register's width in bits (1 for a flag), 0 if unknown.
unsigned register_bits(std::string_view name);

/// Registers of the special-registers block (KD's control space): cr0 cr2 cr3
/// cr4 cr8, gdtr gdtl idtr idtl, tr ldtr, and kdr0..kdr7 (the kernel's debug
/// registers). nullopt if the name is not one of them.
std::optional<std::uint64_t> get_special_register(const wire::SpecialRegisters& s, std::string_view name);
bool set_special_register(wire::SpecialRegisters& s, std::string_view name, std::uint64_t value);
unsigned special_register_bits(std::string_view name);

/// xmm0..xmm15 (four floats, high first, as KD shows them), st0..st7 (the
/// 80-bit value) and mxcsr, from the context's XSAVE area; nullopt if not one.
std::optional<std::string> extended_register_text(const wire::Context& ctx, std::string_view name);
/// The low 64 bits of an xmm register or the mxcsr, for expressions; nullopt if not one.
std::optional<std::uint64_t> get_extended_register(const wire::Context& ctx, std::string_view name);

/// "nv up ei pl zr na po nc" (of df if sf zf af pf cf).
std::string flags_text(std::uint32_t eflags);
/// The nine lines of KD's `r` on x64 (rax= ... efl=), each ending in '\n'.
std::string register_block(const wire::Context& ctx);

}  // namespace openkd::commands
