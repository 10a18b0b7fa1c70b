// KD's ways of writing numbers and addresses.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace openkd::commands {

/// A 64-bit value as KD writes addresses: "fffff800`00401000".
std::string hex64(std::uint64_t value);
/// "0n4096"-free decimal of a value read as signed, as `?` prints it.
std::string signed_decimal(std::uint64_t value);
/// A value as KD's disassembler writes it: "8", "10h", "0C0000005h".
std::string masm_hex(std::uint64_t value);
/// UTF-16 code units as UTF-8 (a lone surrogate becomes U+FFFD).
std::string utf16_to_utf8(const std::vector<std::uint16_t>& units);

}  // namespace openkd::commands
