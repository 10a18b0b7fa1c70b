#include "core/commands/event_filters.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/commands/expression.hpp"

namespace openkd::commands {

namespace {
using A = FilterAction;
// KD's defaults, from the "Event Definitions and Defaults" and "Exception
// Definitions and Defaults" tables of "Controlling Exceptions and Events".
// ld/ud start at `ignore` here (openkd continues past module loads unless
// asked: -d or sxe ld), ibp/iml follow -b and -d.
EventFilter ev(std::string name, std::string description, A action) {
  return EventFilter{std::move(name), std::move(description), std::nullopt, action, false, {}, {}};
}
EventFilter ex(std::string name, std::string description, std::uint32_t code, A action, bool handled) {
  return EventFilter{std::move(name), std::move(description), code, action, handled, {}, {}};
}
}  // namespace

EventFilters::EventFilters(bool break_on_module_load) {
  const A modules = break_on_module_load ? A::Break : A::Ignore;
  events_ = {
      ev("ct", "Create thread", A::Ignore),       ev("et", "Exit thread", A::Ignore),
      ev("cpr", "Create process", A::Ignore),     ev("epr", "Exit process", A::Ignore),
      ev("ld", "Load module", modules),           ev("ud", "Unload module", modules),
      ev("ser", "System error", A::Ignore),       ev("ibp", "Initial breakpoint", A::Ignore),
      ev("iml", "Initial module load", modules),  ev("out", "Debuggee output", A::Output),
  };
  exceptions_ = {
      ex("av", "Access violation", 0xC0000005, A::Break, false),
      ex("asrt", "Assertion failure", 0xC0000420, A::Break, false),
      ex("bpe", "Break instruction exception", 0x80000003, A::Break, true),
      ex("eh", "C++ EH exception", 0xE06D7363, A::SecondChance, false),
      ex("cce", "Control-C exception", 0x40010005, A::Break, true),
      ex("dm", "Data misaligned", 0x80000002, A::Break, false),
      ex("gp", "Guard page violation", 0x80000001, A::Break, false),
      ex("ii", "Illegal instruction", 0xC000001D, A::SecondChance, false),
      ex("ip", "In-page I/O error", 0xC0000006, A::Break, false),
      ex("dz", "Integer divide-by-zero", 0xC0000094, A::Break, false),
      ex("iov", "Integer overflow", 0xC0000095, A::Break, false),
      ex("ch", "Invalid handle", 0xC0000008, A::Break, false),
      ex("lsq", "Invalid lock sequence", 0xC000001E, A::Break, false),
      ex("isc", "Invalid system call", 0xC000001C, A::Break, false),
      ex("3c", "Port disconnected", 0xC0000037, A::SecondChance, false),
      ex("sse", "Single step exception", 0x80000004, A::Break, true),
      ex("sbo", "Security check failure or stack buffer overrun", 0xC0000409, A::Break, false),
      ex("sov", "Stack overflow", 0xC00000FD, A::Break, false),
      ex("vs", "Verifier stop", 0xC0000421, A::Break, false),
      ex("vcpp", "Visual C++ exception", 0x406D1388, A::Ignore, true),
      ex("wkd", "Wake debugger", 0x80000007, A::Break, false),
      ex("wob", "WOW64 breakpoint", 0x4000001F, A::Break, true),
      ex("wos", "WOW64 single step exception", 0x4000001E, A::Break, true),
  };
  other_ = ex("*", "Other exception", 0, A::SecondChance, false);
}

std::string_view action_text(FilterAction a) {
  switch (a) {
    case A::Break: return "break";
    case A::SecondChance: return "second-chance break";
    case A::Output: return "output";
    case A::Ignore: return "ignore";
  }
  return "ignore";
}

EventFilter* EventFilters::find(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "*") return &other_;
  for (auto* list : {&events_, &exceptions_})
    for (auto& f : *list)
      if (f.name == lower) return &f;
  // An exception code: hex (0x optional), as `sxe c000008e`.
  if (auto code = parse_number(lower); code && *code <= 0xFFFFFFFFu && lower.size() >= 3) {
    for (auto& f : exceptions_)
      if (f.code == *code) return &f;
  }
  return nullptr;
}

EventFilter& EventFilters::for_exception(std::uint32_t code) {
  for (auto& f : exceptions_)
    if (f.code == code) return f;
  return other_;
}

EventFilter& EventFilters::event(std::string_view name) {
  for (auto& f : events_)
    if (f.name == name) return f;
  return other_;  // not reached for the names the engine asks for
}

EventFilter& EventFilters::add_code(std::uint32_t code) {
  exceptions_.push_back(ex(fmt::format("{:08x}", code), fmt::format("Exception code {:08x}", code), code,
                           other_.action, other_.handled));
  return exceptions_.back();
}

std::string EventFilters::listing() const {
  std::string out;
  auto line = [&](const EventFilter& f) {
    out += fmt::format("{:>4} - {} - {}", f.name, f.description, action_text(f.action));
    if (f.code) out += f.handled ? " - handled" : " - not handled";
    out += "\n";
    if (!f.command.empty()) out += fmt::format("       Command: \"{}\"\n", f.command);
    if (!f.command2.empty()) out += fmt::format("       Second command: \"{}\"\n", f.command2);
  };
  for (const auto& f : events_) line(f);
  out += "\n";
  for (const auto& f : exceptions_) line(f);
  out += "\n";
  line(other_);
  return out;
}

}  // namespace openkd::commands
