#include "simulator/sim_builds.hpp"

#include <array>
#include <filesystem>

#include "sim_builds.h"  // generated from simulator/kernel/builds.py

namespace openkd::sim {
namespace {
#define OPENKD_SIM_BUILD_ROW(build, product, lab) ModelledBuild{build, product, lab},
constexpr std::array kBuilds{SIM_BUILD_TABLE(OPENKD_SIM_BUILD_ROW)};
#undef OPENKD_SIM_BUILD_ROW
}  // namespace

std::span<const ModelledBuild> modelled_builds() { return kBuilds; }

const ModelledBuild* find_modelled_build(std::uint32_t build) {
  for (const auto& b : kBuilds)
    if (b.build == build) return &b;
  return nullptr;
}

std::uint32_t default_build() { return SIM_DEFAULT_BUILD; }

std::string modelled_builds_text() {
  std::string text;
  for (const auto& b : kBuilds) {
    if (!text.empty()) text += ", ";
    text += std::to_string(b.build);
  }
  return text;
}

std::expected<void, std::string> check_build(std::uint32_t build) {
  if (find_modelled_build(build)) return {};
  return std::unexpected("build " + std::to_string(build) + " is not modelled (kdsim models " +
                         modelled_builds_text() + ")");
}

std::expected<std::string, std::string> kernel_image_path(const std::string& kernel_dir, std::uint32_t build) {
  if (auto ok = check_build(build); !ok) return std::unexpected(ok.error());
  std::error_code ec;
  std::string per_build = kernel_dir + "/builds/" + std::to_string(build) + "/simkrnl.exe";
  if (std::filesystem::is_regular_file(per_build, ec)) return per_build;
  std::string plain = kernel_dir + "/simkrnl.exe";
  if (build == default_build() && std::filesystem::is_regular_file(plain, ec)) return plain;
  return std::unexpected("no kernel image for build " + std::to_string(build) + " (" + per_build + ")");
}

}  // namespace openkd::sim
