#include "core/debugger/symbols.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/debugger/pe.hpp"
#include "core/symbols/symbol_path.hpp"

namespace openkd::debugger {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

SymbolSource source_of(symbols::SymbolKind k) {
  switch (k) {
    case symbols::SymbolKind::function: return SymbolSource::pdb_function;
    case symbols::SymbolKind::data: return SymbolSource::pdb_data;
    case symbols::SymbolKind::public_data: return SymbolSource::pdb_public_data;
    default: return SymbolSource::pdb_public;
  }
}

}  // namespace

void SymbolTable::refresh() {
  by_module_base_.clear();
  modules_.refresh();
}

void SymbolTable::forget_pdbs() {
  searched_.clear();
  reported_.clear();
  by_module_base_.clear();
}

void SymbolTable::set_symbol_path(std::string path) {
  symbol_path_ = std::move(path);
  // What was missing may now be found; what was found stays valid (same GUID/age).
  std::erase_if(searched_, [](const auto& kv) { return kv.second.pdb == nullptr; });
  reported_.clear();
  std::erase_if(by_module_base_, [](const auto& kv) { return kv.second.state != ModuleSymbols::State::pdb; });
}

ModuleSymbols::State SymbolTable::state_of(const Module& module) const {
  auto it = by_module_base_.find(module.base);
  return it == by_module_base_.end() ? ModuleSymbols::State::deferred : it->second.state;
}

const ModuleSymbols& SymbolTable::load(const Module& module, bool force) {
  if (force) {
    if (auto it = by_module_base_.find(module.base); it != by_module_base_.end() && it->second.rsds) {
      const auto key = it->second.rsds->pdb_name() + "/" + it->second.rsds->identity.store_key();
      searched_.erase(key);
      reported_.erase(key);
    }
    by_module_base_.erase(module.base);
  }
  auto [it, inserted] = by_module_base_.try_emplace(module.base);
  auto& ms = it->second;
  if (!inserted) return ms;

  auto headers = read_pe_headers(memory_, module.base);
  std::vector<Symbol> exported;
  if (headers) {
    if (auto exports = read_pe_exports(memory_, module.base, *headers)) {
      for (auto& e : exports->exports) {
        if (e.rva >= module.size) continue;
        std::string name = e.name.empty() ? fmt::format("Ordinal{}", e.ordinal) : std::move(e.name);
        exported.push_back(Symbol{std::move(name), module.base + e.rva});
      }
    }
    if (auto cv = read_pe_codeview(memory_, module.base, *headers))
      ms.rsds = symbols::parse_rsds(cv->data(), cv->size());
  }

  if (ms.rsds && !symbol_path_.empty()) {
    const auto key = ms.rsds->pdb_name() + "/" + ms.rsds->identity.store_key();
    auto found = searched_.find(key);
    if (found == searched_.end()) {
      symbols::DownloadLimits limits;
      auto log = noisy && notice ? std::function<void(const std::string&)>(notice) : std::function<void(const std::string&)>();
      auto path = symbols::parse_symbol_path(symbol_path_, default_cache_.empty() ? symbols::default_symbol_cache() : default_cache_);
      auto search = symbols::find_pdb(path, ms.rsds->pdb_name(), ms.rsds->identity, limits, log);
      found = searched_.emplace(key, Found{std::shared_ptr<symbols::PdbFile>(std::move(search.pdb)), search.failure}).first;
    }
    ms.pdb = found->second.pdb;
    ms.failure = found->second.failure;
  } else if (ms.rsds) {
    ms.failure = "the symbol path is empty";
  }

  if (ms.pdb) {
    ms.state = ModuleSymbols::State::pdb;
    std::set<std::string> names;
    for (const auto& s : ms.pdb->symbols()) {
      if (s.rva >= module.size) continue;
      ms.symbols.push_back(Symbol{s.name, module.base + s.rva, s.size, source_of(s.kind), s.type});
      names.insert(s.name);
    }
    for (auto& e : exported)
      if (!names.contains(e.name)) ms.symbols.push_back(std::move(e));
  } else {
    ms.state = exported.empty() ? ModuleSymbols::State::none : ModuleSymbols::State::exports;
    ms.symbols = std::move(exported);
    // With no symbol path at all nothing was looked for: lm v tells why, nothing else does.
    if (ms.rsds && !ms.failure.empty() && notice && !symbol_path_.empty()) {
      const auto key = ms.rsds->pdb_name() + "/" + ms.rsds->identity.store_key();
      if (reported_.insert(key).second)
        notice(fmt::format("*** ERROR: Symbol file could not be found for {} ({} GUID {} age {}): {}; defaulted to export symbols",
                           module.image_name.empty() ? module.name : module.image_name, ms.rsds->pdb_name(),
                           ms.rsds->identity.guid_string(), ms.rsds->identity.age, ms.failure));
    }
  }
  // By address; at one address functions and data before publics and exports, then by name.
  std::ranges::stable_sort(ms.symbols, [](const Symbol& a, const Symbol& b) {
    if (a.address != b.address) return a.address < b.address;
    if (a.source != b.source) return static_cast<int>(a.source) < static_cast<int>(b.source);
    return a.name < b.name;
  });
  return ms;
}

const std::vector<Symbol>& SymbolTable::symbols_of(const Module& module) { return load(module).symbols; }

symbols::PdbFile* SymbolTable::pdb_of(const Module& module) { return load(module).pdb.get(); }

std::optional<symbols::SourceLine> SymbolTable::line_of(std::uint64_t address) {
  const Module* m = modules_.containing(address);
  if (!m) return std::nullopt;
  auto* pdb = pdb_of(*m);
  if (!pdb) return std::nullopt;
  return pdb->line_at(static_cast<std::uint32_t>(address - m->base));
}

std::optional<std::uint64_t> SymbolTable::address_of(std::string_view name) {
  if (auto bang = name.find('!'); bang != std::string_view::npos) {
    const Module* m = modules_.find(name.substr(0, bang));
    if (!m) return std::nullopt;
    const auto symbol = name.substr(bang + 1);
    if (symbol.empty()) return m->base;
    const auto& symbols = symbols_of(*m);
    for (const auto& s : symbols)  // exact case first (C is case-sensitive), then KD's insensitive match
      if (s.name == symbol) return s.address;
    for (const auto& s : symbols)
      if (iequals(s.name, symbol)) return s.address;
    return std::nullopt;
  }
  // A bare name: the kernel first, then every other module in load order.
  const auto& all = modules_.modules();
  std::vector<const Module*> order;
  for (const auto& m : all)
    if (m.name == "nt") order.push_back(&m);
  for (const auto& m : all)
    if (m.name != "nt") order.push_back(&m);
  for (const Module* m : order)
    for (const auto& s : symbols_of(*m))
      if (iequals(s.name, name)) return s.address;
  return std::nullopt;
}

std::optional<SymbolLocation> SymbolTable::locate(std::uint64_t address) {
  const Module* m = modules_.containing(address);
  if (!m) return std::nullopt;
  const auto& ms = load(*m);
  const auto& symbols = ms.symbols;
  // With a PDB, the function whose range holds the address names it (a later
  // public or label inside it does not).
  if (ms.pdb) {
    if (const auto* f = ms.pdb->function_containing(static_cast<std::uint32_t>(address - m->base))) {
      const std::uint64_t start = m->base + f->rva;
      auto at = std::ranges::lower_bound(symbols, start, {}, &Symbol::address);
      for (; at != symbols.end() && at->address == start; ++at)
        if (at->source == SymbolSource::pdb_function && at->name == f->name)
          return SymbolLocation{m, &*at, address - start};
    }
  }
  auto after = std::ranges::upper_bound(symbols, address, {}, &Symbol::address);
  if (after == symbols.begin()) return SymbolLocation{m, nullptr, address - m->base};
  auto at = std::prev(after);
  // Several names at one address: the first of them (functions and data, then by name).
  while (at != symbols.begin() && std::prev(at)->address == at->address) --at;
  return SymbolLocation{m, &*at, address - at->address};
}

std::string SymbolTable::describe(std::uint64_t address) {
  auto where = locate(address);
  if (!where) return {};
  std::string text = where->symbol ? fmt::format("{}!{}", where->module->name, where->symbol->name) : where->module->name;
  if (where->displacement) text += fmt::format("+0x{:x}", where->displacement);
  return text;
}

}  // namespace openkd::debugger
