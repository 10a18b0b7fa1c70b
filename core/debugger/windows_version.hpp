// The product name KD prints for a target's build number, in its connection banner
// ("Windows 7 Kernel Version 7601 MP (1 procs) Free x64") and in `version`/`vertarget`.
// KD names Windows 8.1 (9600) "Windows 8", and Windows 11 (22000 and later) "Windows 10":
// the name follows the kernel's NT version (6.2/6.3 and 10.0), not the marketing name.
#pragma once
#include <cstdint>
#include <string_view>

namespace openkd::debugger {

constexpr std::string_view windows_product_name(std::uint32_t build) {
  if (build >= 10240) return "Windows 10";
  if (build >= 9200) return "Windows 8";
  if (build >= 7600) return "Windows 7";
  return "Windows";
}

}  // namespace openkd::debugger
