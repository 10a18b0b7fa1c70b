#include "core/debugger/symbols.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/debugger/pe.hpp"

namespace openkd::debugger {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

void SymbolTable::refresh() {
  by_module_base_.clear();
  modules_.refresh();
}

const std::vector<Symbol>& SymbolTable::symbols_of(const Module& module) {
  auto [it, inserted] = by_module_base_.try_emplace(module.base);
  if (!inserted) return it->second;
  auto& symbols = it->second;
  auto headers = read_pe_headers(memory_, module.base);
  if (!headers) return symbols;
  auto exports = read_pe_exports(memory_, module.base, *headers);
  if (!exports) return symbols;
  for (auto& e : exports->exports) {
    if (e.rva >= module.size) continue;
    std::string name = e.name.empty() ? fmt::format("Ordinal{}", e.ordinal) : std::move(e.name);
    symbols.push_back(Symbol{std::move(name), module.base + e.rva});
  }
  // By address; at one address the name sorted first wins `describe`, so output is stable.
  std::ranges::sort(symbols, [](const Symbol& a, const Symbol& b) {
    return a.address != b.address ? a.address < b.address : a.name < b.name;
  });
  return symbols;
}

std::optional<std::uint64_t> SymbolTable::address_of(std::string_view name) {
  if (auto bang = name.find('!'); bang != std::string_view::npos) {
    const Module* m = modules_.find(name.substr(0, bang));
    if (!m) return std::nullopt;
    const auto symbol = name.substr(bang + 1);
    if (symbol.empty()) return m->base;
    for (const auto& s : symbols_of(*m))
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
  const auto& symbols = symbols_of(*m);
  auto after = std::ranges::upper_bound(symbols, address, {}, &Symbol::address);
  if (after == symbols.begin()) return SymbolLocation{m, nullptr, address - m->base};
  auto at = std::prev(after);
  // Several names at one address: the first of them (sorted by name).
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
