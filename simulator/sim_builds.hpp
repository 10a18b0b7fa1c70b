// The Windows builds kdsim models, from the one table simulator/kernel/builds.py
// (through the generated sim_builds.h the kernel compiles against), and the kernel
// image of each: ${kernel_dir}/builds/<N>/simkrnl.exe (ABI.md "Images").
#pragma once
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace openkd::sim {

struct ModelledBuild {
  std::uint32_t build;
  std::string_view product;  // as KD names it: "Windows 7", "Windows 8", "Windows 10"
  std::string_view lab;      // NtBuildLab
};

std::span<const ModelledBuild> modelled_builds();
const ModelledBuild* find_modelled_build(std::uint32_t build);
std::uint32_t default_build();
/// "7601, 9200, 9600, ..." for messages.
std::string modelled_builds_text();
/// "build 1234 is not modelled (kdsim models 7601, 9200, ...)" or nothing.
std::expected<void, std::string> check_build(std::uint32_t build);
/// The kernel image for `build`: kernel_dir/builds/<N>/simkrnl.exe; for the default
/// build also kernel_dir/simkrnl.exe (a kernel folder with the default build only).
std::expected<std::string, std::string> kernel_image_path(const std::string& kernel_dir, std::uint32_t build);

}  // namespace openkd::sim
