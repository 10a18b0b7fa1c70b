#include "tools/kd/banner.hpp"

#include <array>
#include <ctime>
#include <fmt/format.h>

#include "core/debugger/windows_version.hpp"

namespace openkd::kd {

namespace {
std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S.000 %Y (UTC %z)", std::localtime(&t));
  return buf;
}

}  // namespace

/// KD's "Windows 10 Kernel Version 19041 MP (4 procs) Free x64" block (the product
/// name follows the build: windows_version.hpp).
void print_banner(debugger::Target& s, ConsoleOutput& out) {
  const auto& v = s.version();
  unsigned build = v.minor_version;
  unsigned procs = s.number_processors();
  bool free_build = (v.major_version & 0xFF) == 0xF;
  const std::string_view product = debugger::windows_product_name(build);
  out.write(fmt::format("Connected to {} {} x64 target at ({}), ptr64 TRUE\n", product, build, now_text()));
  out.write("Kernel Debugger connection established.\n");
  out.write(fmt::format("{} Kernel Version {} {} ({} procs) {} x64\n", product, build, (v.flags & wire::kVersionFlagMp) || procs > 1 ? "MP" : "UP",
                        procs, free_build ? "Free" : "Checked"));
  // Built by: NtBuildLab, found through the debugger data block (KDDEBUGGER_DATA64 +0x208).
  std::string lab;
  std::array<std::uint8_t, 8> p{};
  auto u64 = [](const std::array<std::uint8_t, 8>& b) {
    std::uint64_t x = 0;
    for (int i = 7; i >= 0; --i) x = (x << 8) | b[i];
    return x;
  };
  if (v.debugger_data_list && s.read_virtual(v.debugger_data_list, p) && u64(p)) {
    std::uint64_t kdbg = u64(p);
    if (s.read_virtual(kdbg + 0x208, p) && u64(p)) {
      std::array<std::uint8_t, 128> text{};
      if (auto n = s.read_virtual(u64(p), text)) {
        for (std::size_t i = 0; i < *n && text[i]; ++i) lab.push_back(char(text[i]));
      }
    }
  }
  if (!lab.empty()) out.write(fmt::format("Built by: {}\n", lab));
  auto tick = [](std::uint64_t a) { return fmt::format("{:08x}`{:08x}", a >> 32, a & 0xFFFFFFFF); };
  out.write(fmt::format("Kernel base = 0x{} PsLoadedModuleList = 0x{}\n", tick(v.kern_base),
                        tick(v.ps_loaded_module_list)));
  out.write(fmt::format("Debug session time: {}\n", now_text()));
}

}  // namespace openkd::kd
