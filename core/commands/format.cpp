#include "core/commands/format.hpp"

#include <fmt/format.h>

namespace openkd::commands {

std::string hex64(std::uint64_t value) {
  return fmt::format("{:08x}`{:08x}", value >> 32, value & 0xFFFFFFFFu);
}

std::string signed_decimal(std::uint64_t value) { return fmt::format("{}", static_cast<std::int64_t>(value)); }

std::string masm_hex(std::uint64_t value) {
  if (value < 10) return fmt::format("{}", value);
  std::string digits = fmt::format("{:X}", value);
  // A leading letter would read as a symbol: MASM needs a leading zero.
  if (digits[0] >= 'A') digits.insert(digits.begin(), '0');
  return digits + "h";
}

}  // namespace openkd::commands
