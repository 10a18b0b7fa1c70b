// The loaded-module list as KD names it: walked from PsLoadedModuleList
// (LDR_DATA_TABLE_ENTRY, AMD64 layout), bounded against loops and garbage,
// cached until refresh(). The kernel (the module containing KernBase) is `nt`
// whatever its file name; drivers are named by their base name without extension.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/debugger/target.hpp"

namespace openkd::debugger {

struct Module {
  std::string name;        // KD's module name: "nt", "simdrv"
  std::string image_name;  // BaseDllName: "simkrnl.exe"
  std::string full_path;   // FullDllName: "\SystemRoot\system32\simkrnl.exe"
  std::uint64_t base = 0, size = 0, entry = 0;
  std::uint64_t end() const { return base + size; }
  bool contains(std::uint64_t address) const { return address >= base && address - base < size; }
};

// LDR_DATA_TABLE_ENTRY (AMD64) offsets: docs/protocol.md section 5.
inline constexpr std::uint64_t kLdrDllBase = 0x30, kLdrEntryPoint = 0x38, kLdrSizeOfImage = 0x40,
                               kLdrFullDllName = 0x48, kLdrBaseDllName = 0x58, kLdrEntrySize = 0x68;
/// A walk gives up after this many entries (a corrupt list may never return to its head).
inline constexpr std::size_t kMaxModules = 4096;

/// What a walk found: the modules in load order, named as KD names them, and why it
/// stopped early if it did (a corrupt list still yields the modules before the damage).
struct ModuleWalk {
  std::vector<Module> modules;
  std::string error;
};
/// Walks the list at `list_head` once; never loops, never follows a link twice.
ModuleWalk walk_loaded_modules(TargetMemory& memory, std::uint64_t list_head, std::uint64_t kern_base);

/// "simdrv.sys" -> "simdrv"; a path keeps only its last component.
std::string module_name_from_image(std::string_view image_name);

/// Where the kernel and its module list are: GetVersion64's KernBase and
/// PsLoadedModuleList (0: unknown). All the module list needs besides memory.
struct KernelLocation {
  std::uint64_t kern_base = 0;
  std::uint64_t module_list = 0;
};
inline KernelLocation kernel_location(const wire::GetVersion64& v) { return {v.kern_base, v.ps_loaded_module_list}; }

/// A driver the kernel remembers after unloading it (MmUnloadedDrivers, UNLOADED_DRIVERS
/// on AMD64: UNICODE_STRING Name, PVOID StartAddress, PVOID EndAddress, LARGE_INTEGER CurrentTime).
struct UnloadedModule {
  std::string name;
  std::uint64_t base = 0, end = 0;
};
/// KDDEBUGGER_DATA64 offsets of MmUnloadedDrivers and MmLastUnloadedDriver (docs/protocol.md section 5).
inline constexpr std::uint64_t kDebuggerDataMmUnloadedDrivers = 0x220, kDebuggerDataMmLastUnloadedDriver = 0x228;
inline constexpr std::uint32_t kMaxUnloadedDrivers = 50;  // MI_UNLOADED_DRIVERS
/// The kernel's unloaded-driver list, newest last; nullopt if the kernel keeps none
/// (the debugger data names no MmUnloadedDrivers, or it was never allocated).
std::optional<std::vector<UnloadedModule>> read_unloaded_modules(TargetMemory& memory, std::uint64_t debugger_data);

class ModuleList {
public:
  ModuleList(TargetMemory& memory, KernelLocation where) : memory_(memory), where_(where) {}

  /// The modules, walking the target's list on first use after refresh().
  const std::vector<Module>& modules();
  /// By KD name or image name, case-insensitively.
  const Module* find(std::string_view name);
  const Module* containing(std::uint64_t address);
  /// Forgets the cache: call after a module load/unload or a reboot.
  void refresh() { loaded_ = false; }
  /// Forgets the cache and moves to a new kernel location (after a reboot or reconnect).
  void refresh(KernelLocation where) {
    where_ = where;
    loaded_ = false;
  }
  KernelLocation location() const { return where_; }
  /// Why the last walk fell short (empty when it did not).
  const std::string& last_error() const { return last_error_; }

private:
  TargetMemory& memory_;
  KernelLocation where_;
  bool loaded_ = false;
  std::vector<Module> modules_;
  std::string last_error_;
};

}  // namespace openkd::debugger
