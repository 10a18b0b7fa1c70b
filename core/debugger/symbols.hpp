// Export symbols per module, read lazily from each image's export directory in
// target memory (TargetMemory alone) and cached per module until refresh(). Names resolve as KD
// writes them: `nt!KeBugCheckEx`, a bare `KeBugCheckEx` (searched in every
// module, the kernel first), and addresses back to `nt!KeBugCheckEx+0x12`.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/debugger/modules.hpp"
#include "core/debugger/target.hpp"

namespace openkd::debugger {

struct Symbol {
  std::string name;
  std::uint64_t address = 0;
};

/// Where an address falls: its module and, when one precedes it, the nearest symbol.
struct SymbolLocation {
  const Module* module = nullptr;
  const Symbol* symbol = nullptr;  // null: only the module is known
  std::uint64_t displacement = 0;  // from the symbol, or from the module base
};

class SymbolTable {
public:
  SymbolTable(TargetMemory& memory, ModuleList& modules) : memory_(memory), modules_(modules) {}

  /// "nt!KeBugCheckEx" or "KeBugCheckEx"; case-insensitive as KD's default.
  std::optional<std::uint64_t> address_of(std::string_view name);
  std::optional<SymbolLocation> locate(std::uint64_t address);
  /// "nt!KeBugCheckEx+0x12", "nt!KeBugCheckEx", "nt+0x1234"; empty outside every module.
  std::string describe(std::uint64_t address);
  /// The module's symbols sorted by address (read on first use).
  const std::vector<Symbol>& symbols_of(const Module& module);
  /// Forgets every cached module symbol table and the module list.
  void refresh();

private:
  TargetMemory& memory_;
  ModuleList& modules_;
  std::map<std::uint64_t, std::vector<Symbol>> by_module_base_;
};

}  // namespace openkd::debugger
