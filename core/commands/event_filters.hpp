// KD's event filters ("Controlling Exceptions and Events", "sx, sxd, sxe, sxi,
// sxn, sxr, sx- (Set Exceptions)"): what the debugger does when the target
// reports an event or an exception. Each filter has a break status (break,
// second-chance break, output, ignore), for exceptions a handling status
// (handled / not handled: how the target is continued), and commands to run
// when it breaks (-c for the first chance, -c2 for the second).
//
// Events the kernel's KD protocol reports: module load (ld) and unload (ud),
// the initial breakpoint (ibp) and initial module load (iml) of a connection,
// debuggee output (out: DbgPrint). Process and thread creation and exit
// (cpr, epr, ct, et) are user-mode debug events a kernel target never sends:
// their filters exist, as KD lists them, and never fire here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openkd::commands {

enum class FilterAction { Break, SecondChance, Output, Ignore };

struct EventFilter {
  std::string name;         ///< "ld", "av", or "c000008e" for a code added with sxe
  std::string description;  ///< "Load module"
  std::optional<std::uint32_t> code;  ///< exceptions only
  FilterAction action = FilterAction::Ignore;
  bool handled = false;     ///< exceptions: continue as handled (gh) rather than not handled (gn)
  std::string command, command2;  ///< -c (first chance / event), -c2 (second chance)
};

class EventFilters {
public:
  explicit EventFilters(bool break_on_module_load = false);
  /// By abbreviation ("av", "ld") or exception code ("c0000005", "0xc0000005"); nullptr if neither.
  EventFilter* find(std::string_view name);
  /// The filter for an exception code: its own, or `*` (other exceptions).
  EventFilter& for_exception(std::uint32_t code);
  /// An event filter by abbreviation (must exist: "ld", "ud", "ibp", "iml", "out", ...).
  EventFilter& event(std::string_view name);
  /// Adds a filter for a code without one (sxe c000008e); returns it.
  EventFilter& add_code(std::uint32_t code);
  /// KD's `sx` listing.
  std::string listing() const;

private:
  std::vector<EventFilter> events_, exceptions_;
  EventFilter other_;
};

std::string_view action_text(FilterAction a);

}  // namespace openkd::commands
