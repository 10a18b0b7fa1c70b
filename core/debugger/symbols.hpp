// Symbols per module, as KD names them: `nt!KeBugCheckEx`, a bare `KeBugCheckEx`
// (searched in every module, the kernel first), and addresses back to
// `nt!KeBugCheckEx+0x12`.
//
// Each module's symbols come from its PDB when the symbol path finds one whose
// GUID/age match the image's RSDS record (read from target memory), else from the
// image's export directory in target memory (works on any real target with no PDB).
// Loading is deferred, as KD's default: a module's PDB is looked for on first need
// (a name asked, an address described), or at once with load(module, force).
// A missing or mismatched PDB is said once per module (through the notice sink)
// with the GUID/age looked for. Opened PDBs outlive refresh() (a module load event)
// so they are read once per session.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/debugger/modules.hpp"
#include "core/debugger/target.hpp"
#include "core/symbols/pdb.hpp"

namespace openkd::debugger {

enum class SymbolSource : std::uint8_t { pdb_function, pdb_data, pdb_public, pdb_public_data, exported };

struct Symbol {
  std::string name;
  std::uint64_t address = 0;
  std::uint32_t size = 0;  // PDB functions: code size; 0 when unknown
  SymbolSource source = SymbolSource::exported;
  symbols::TypeId type = 0;  // PDB functions and data
};

/// Where an address falls: its module and, when one precedes it, the nearest symbol.
struct SymbolLocation {
  const Module* module = nullptr;
  const Symbol* symbol = nullptr;  // null: only the module is known
  std::uint64_t displacement = 0;  // from the symbol, or from the module base
};

/// A module's symbol state, as `lm` shows it.
struct ModuleSymbols {
  enum class State { deferred, pdb, exports, none };
  State state = State::deferred;
  std::shared_ptr<symbols::PdbFile> pdb;           // State::pdb
  std::optional<symbols::RsdsRecord> rsds;         // what the image asks for (read on load)
  std::string failure;                             // why no PDB (empty if none was wanted)
  std::vector<Symbol> symbols;                     // sorted by address
};

class SymbolTable {
public:
  SymbolTable(TargetMemory& memory, ModuleList& modules) : memory_(memory), modules_(modules) {}

  /// "nt!KeBugCheckEx" or "KeBugCheckEx"; case-insensitive as KD's default.
  std::optional<std::uint64_t> address_of(std::string_view name);
  std::optional<SymbolLocation> locate(std::uint64_t address);
  /// "nt!KeBugCheckEx+0x12", "nt!KeBugCheckEx", "nt+0x1234"; empty outside every module.
  std::string describe(std::uint64_t address);
  /// The module's symbols sorted by address (loaded on first use).
  const std::vector<Symbol>& symbols_of(const Module& module);
  /// The module's state without loading anything.
  ModuleSymbols::State state_of(const Module& module) const;
  /// The module's symbols, loaded if deferred; `force` drops what was loaded and the
  /// cached search result and looks again (.reload /f module, ld).
  const ModuleSymbols& load(const Module& module, bool force = false);
  /// The module's PDB (loading it if deferred); null with export symbols only.
  /// For the type and stack commands: dt, dv, kp.
  symbols::PdbFile* pdb_of(const Module& module);
  /// `file:line` for an address, if its module's PDB has line numbers.
  std::optional<symbols::SourceLine> line_of(std::uint64_t address);

  /// Forgets every module's symbols and the module list (a load/unload event). Opened
  /// PDBs and search results stay cached (keyed by PDB name and GUID/age).
  void refresh();
  /// Also forgets opened PDBs and search results (the symbol path changed, .reload /f).
  void forget_pdbs();

  // --- symbol path and messages
  void set_symbol_path(std::string path);
  const std::string& symbol_path() const { return symbol_path_; }
  /// Where new downloads go when a `srv*URL` entry names no cache.
  void set_default_cache(std::string dir) { default_cache_ = std::move(dir); }
  const std::string& default_cache() const { return default_cache_; }
  /// !sym noisy: every path tried is told to the notice sink.
  bool noisy = false;
  /// -n / .lines: show `[file @ line]` with locations.
  bool source_lines = false;
  /// One-line notices for the user (a PDB not found, noisy search lines).
  std::function<void(const std::string&)> notice;

private:
  struct Found {
    std::shared_ptr<symbols::PdbFile> pdb;
    std::string failure;
  };
  TargetMemory& memory_;
  ModuleList& modules_;
  std::map<std::uint64_t, ModuleSymbols> by_module_base_;
  std::map<std::string, Found> searched_;  // "name.pdb/KEY" -> result
  std::set<std::string> reported_;         // failures already told, by the same key
  std::string symbol_path_;
  std::string default_cache_;
};

}  // namespace openkd::debugger
