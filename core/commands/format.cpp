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

std::string utf16_to_utf8(const std::vector<std::uint16_t>& units) {
  std::string out;
  for (std::size_t i = 0; i < units.size(); ++i) {
    std::uint32_t cp = units[i];
    if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < units.size() && units[i + 1] >= 0xDC00 && units[i + 1] < 0xE000)
      cp = 0x10000 + ((cp - 0xD800) << 10) + (units[++i] - 0xDC00);
    else if (cp >= 0xD800 && cp < 0xE000)
      cp = 0xFFFD;  // a lone surrogate
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

}  // namespace openkd::commands
