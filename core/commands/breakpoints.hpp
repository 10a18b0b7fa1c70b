// The engine's breakpoint list (bp, ba, bl, bc, bd, be). Software breakpoints
// live in the target only while it runs: the engine writes them just before a
// resume and restores them at the next stop, as WinDbg does. Hardware
// breakpoints (ba) take one of Dr0..Dr3 each, described by Dr7.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/commands/errors.hpp"

namespace openkd::commands {

struct Breakpoint {
  enum class Kind { Software, Hardware };
  unsigned id = 0;
  Kind kind = Kind::Software;
  std::uint64_t address = 0;
  bool enabled = true;
  bool one_shot = false;          // bp /1: deleted after its first hit
  std::uint32_t pass_count = 1;   // hits left before it breaks
  std::uint32_t initial_passes = 1;
  std::string command;            // run after it breaks
  char access = 'e';              // hardware: e(xecute), w(rite), r(ead/write), i(o)
  unsigned size = 1;              // hardware: 1, 2, 4 or 8
  /// Deferred (KD's "u"): `expression` names a module not loaded yet; `address` is
  /// meaningless until a module load lets it resolve.
  bool deferred = false;
  std::string expression;
};

/// Dr7's bits for slot n: local enable at bit 2n; R/W at 16+4n, LEN at 18+4n.
std::uint64_t dr7_bits(unsigned slot, char access, unsigned size);

class BreakpointTable {
public:
  /// Adds a breakpoint with the lowest free id, or replaces an existing one of the
  /// same kind at the same address (as KD does when a bp is set twice).
  Breakpoint& add(Breakpoint bp);
  /// A list of ids from `bc`-style text: "*", "1", "1 3", "1,3", "2-4". Positions
  /// in errors are offsets into `text` plus `column`.
  CommandResult<std::vector<unsigned>> parse_ids(std::string_view text, std::size_t column) const;

  Breakpoint* find(unsigned id);
  Breakpoint* find_at(std::uint64_t address, Breakpoint::Kind kind);
  void remove(unsigned id);
  const std::vector<Breakpoint>& all() const { return list_; }
  std::vector<Breakpoint>& all() { return list_; }
  /// An enabled breakpoint that would fire when executing at `address`.
  Breakpoint* enabled_at(std::uint64_t address);
  /// An enabled hardware breakpoint assigned to Dr slot `slot` (slots follow id order).
  const Breakpoint* hardware_in_slot(unsigned slot) const;
  /// Enabled hardware breakpoints in slot order (at most 4 fit).
  std::vector<const Breakpoint*> hardware_slots() const;

private:
  std::vector<Breakpoint> list_;  // sorted by id
};

}  // namespace openkd::commands
