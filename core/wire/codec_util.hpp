// Helpers shared by the DBGKD and CONTEXT codecs (internal to core/wire).
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "core/wire/bytes.hpp"

namespace openkd::wire::detail {

inline std::string hex(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string digits;
  do {
    digits.insert(digits.begin(), kDigits[v & 0xF]);
    v >>= 4;
  } while (v != 0);
  return "0x" + digits;
}

inline std::unexpected<DecodeError> fail(std::string message) {
  return std::unexpected(DecodeError{std::move(message)});
}

/// "<structure>: needs <need> bytes, got <got>"
inline std::unexpected<DecodeError> too_short(std::string_view structure, std::size_t need, std::size_t got) {
  return fail(std::string(structure) + ": needs " + std::to_string(need) + " bytes, got " + std::to_string(got));
}

/// "<structure>: <field> is <value> but <actual> bytes follow"
inline std::unexpected<DecodeError> length_mismatch(std::string_view structure, std::string_view field,
                                                    std::uint64_t value, std::size_t actual) {
  return fail(std::string(structure) + ": " + std::string(field) + " is " + std::to_string(value) + " but " +
              std::to_string(actual) + " bytes follow");
}

}  // namespace openkd::wire::detail
