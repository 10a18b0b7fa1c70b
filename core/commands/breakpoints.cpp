#include "core/commands/breakpoints.hpp"

#include <algorithm>
#include <cctype>

#include "core/commands/expression.hpp"

namespace openkd::commands {

std::uint64_t dr7_bits(unsigned slot, char access, unsigned size) {
  // R/W: 00 execute, 01 write, 10 I/O, 11 read or write. LEN: 00 1, 01 2, 11 4, 10 8 bytes.
  const std::uint64_t rw = access == 'w' ? 1 : access == 'i' ? 2 : access == 'r' ? 3 : 0;
  const std::uint64_t len = size == 2 ? 1 : size == 4 ? 3 : size == 8 ? 2 : 0;
  return (1ull << (2 * slot)) | (rw << (16 + 4 * slot)) | (len << (18 + 4 * slot));
}

Breakpoint& BreakpointTable::add(Breakpoint bp) {
  for (auto& existing : list_)
    if (existing.kind == bp.kind && existing.deferred == bp.deferred &&
        (bp.deferred ? existing.expression == bp.expression : existing.address == bp.address)) {
      bp.id = existing.id;
      existing = std::move(bp);
      return existing;
    }
  unsigned id = 0;
  for (const auto& b : list_)
    if (b.id == id) ++id;  // list_ is sorted: the first gap is the lowest free id
  bp.id = id;
  auto pos = std::ranges::find_if(list_, [&](const Breakpoint& b) { return b.id > id; });
  return *list_.insert(pos, std::move(bp));
}

CommandResult<std::vector<unsigned>> BreakpointTable::parse_ids(std::string_view text, std::size_t column) const {
  std::vector<unsigned> ids;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && (std::isspace(static_cast<unsigned char>(text[i])) || text[i] == ',')) ++i;
  };
  auto number = [&]() -> std::optional<unsigned> {
    const std::size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '`')) ++i;
    auto v = parse_number(text.substr(start, i - start));
    if (!v || *v > 0xFFFF) return std::nullopt;
    return static_cast<unsigned>(*v);
  };
  skip();
  if (i >= text.size()) return std::unexpected(CommandError::syntax(column + i));
  while (i < text.size()) {
    if (text[i] == '*') {
      ++i;
      for (const auto& b : list_) ids.push_back(b.id);
    } else {
      const std::size_t start = i;
      auto first = number();
      if (!first) return std::unexpected(CommandError::syntax(column + start));
      unsigned last = *first;
      if (i < text.size() && text[i] == '-') {
        ++i;
        const std::size_t second_start = i;
        auto second = number();
        if (!second || *second < *first) return std::unexpected(CommandError::syntax(column + second_start));
        last = *second;
      }
      for (const auto& b : list_)
        if (b.id >= *first && b.id <= last) ids.push_back(b.id);
    }
    skip();
  }
  std::ranges::sort(ids);
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Breakpoint* BreakpointTable::find(unsigned id) {
  auto it = std::ranges::find(list_, id, &Breakpoint::id);
  return it == list_.end() ? nullptr : &*it;
}

Breakpoint* BreakpointTable::find_at(std::uint64_t address, Breakpoint::Kind kind) {
  auto it = std::ranges::find_if(
      list_, [&](const Breakpoint& b) { return !b.deferred && b.address == address && b.kind == kind; });
  return it == list_.end() ? nullptr : &*it;
}

void BreakpointTable::remove(unsigned id) { std::erase_if(list_, [&](const Breakpoint& b) { return b.id == id; }); }

Breakpoint* BreakpointTable::enabled_at(std::uint64_t address) {
  for (auto& b : list_)
    if (b.enabled && !b.deferred && b.address == address && (b.kind == Breakpoint::Kind::Software || b.access == 'e'))
      return &b;
  return nullptr;
}

std::vector<const Breakpoint*> BreakpointTable::hardware_slots() const {
  std::vector<const Breakpoint*> slots;
  for (const auto& b : list_)
    if (b.enabled && b.kind == Breakpoint::Kind::Hardware && slots.size() < 4) slots.push_back(&b);
  return slots;
}

const Breakpoint* BreakpointTable::hardware_in_slot(unsigned slot) const {
  auto slots = hardware_slots();
  return slot < slots.size() ? slots[slot] : nullptr;
}

}  // namespace openkd::commands
