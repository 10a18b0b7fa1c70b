// The type-driven commands' TypeProvider (types.hpp) answered from the PDBs the
// symbol table loads (core/symbols' type model): dt, !process, !thread, !pcr and
// !prcb on any target whose PDB the symbol path finds, kdsim's or Microsoft's.
#pragma once
#include <memory>

#include "core/debugger/modules.hpp"
#include "core/debugger/symbols.hpp"
#include "core/debugger/types.hpp"

namespace openkd::debugger::types {

/// A provider over `symbols` (which must outlive it): `find("nt", "_KPRCB")` loads
/// nt's PDB on first need (KD's deferred loading) and converts the type.
std::shared_ptr<TypeProvider> make_pdb_type_provider(ModuleList& modules, SymbolTable& symbols);

}  // namespace openkd::debugger::types
