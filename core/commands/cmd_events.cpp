// Event filters: sx, sxe, sxd, sxn, sxi [-c "cmd"] [-c2 "cmd"] [-h] event|code|*
// (Microsoft's "sx, sxd, sxe, sxi, sxn, sxr, sx- (Set Exceptions)"). The
// table is event_filters.cpp; cmd_execution.cpp applies it to every stop.
#include "core/commands/engine_core.hpp"

namespace openkd::commands {
namespace {

CommandResult<> cmd_sx(EngineCore& core, Invocation& call) {
  if (call.name == "sx") {
    if (auto r = core.expect_end(call.args); !r) return r;
    core.print(core.event_filters.listing());
    return {};
  }
  std::optional<std::string> command, command2;
  bool handling = false;
  while (call.args.peek() == '-') {
    const std::size_t column = call.args.next_column();
    if (call.args.consume_word("-c2") || call.args.consume_word("-c")) {
      const bool second = call.args.text().substr(0, call.args.offset()).ends_with("2");
      const std::size_t text_column = call.args.next_column();
      auto text = call.args.take_quoted();
      if (!text) return std::unexpected(CommandError::syntax(text_column));
      (second ? command2 : command) = *text;
    } else if (call.args.consume_word("-h")) {
      handling = true;
    } else {
      return std::unexpected(CommandError::syntax(column));
    }
  }
  const std::size_t column = call.args.next_column();
  const std::string name(call.args.take_token());
  if (name.empty()) return std::unexpected(CommandError::syntax(column));
  if (auto r = core.expect_end(call.args); !r) return r;
  EventFilter* filter = core.event_filters.find(name);
  if (!filter) {
    // A code without a filter of its own gets one (sxe c000008e).
    auto code = parse_number(name);
    if (!code || *code > 0xFFFFFFFFu || !std::isxdigit(static_cast<unsigned char>(name[0])))
      return std::unexpected(CommandError::caret("Unknown event error", column));
    filter = &core.event_filters.add_code(static_cast<std::uint32_t>(*code));
  }
  if (handling) {
    // -h sets the handling status instead: sxe handled, sxd not handled.
    if (!filter->code) return std::unexpected(CommandError::caret("-h applies to exceptions, not events", column));
    if (call.name != "sxe" && call.name != "sxd")
      return std::unexpected(CommandError::plain("-h goes with sxe (handled) or sxd (not handled)"));
    filter->handled = call.name == "sxe";
  } else {
    filter->action = call.name == "sxe"   ? FilterAction::Break
                     : call.name == "sxd" ? FilterAction::SecondChance
                     : call.name == "sxn" ? FilterAction::Output
                                          : FilterAction::Ignore;
    // Events have no second chance: sxd on an event is `ignore`, as KD lists it.
    if (!filter->code && filter->action == FilterAction::SecondChance) filter->action = FilterAction::Ignore;
  }
  core.show_target_output.store(core.event_filters.event("out").action != FilterAction::Ignore);
  if (command) filter->command = *command;
  if (command2) filter->command2 = *command2;
  return {};
}

}  // namespace

void add_event_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"sx", cmd_sx, "sx                            list the event and exception filters"},
      {"sxe", cmd_sx, "sx{e|d|n|i} [-c \"cmd\"] [-c2 \"cmd\"] [-h] event|code|*   break | 2nd-chance | output | ignore",
       "sxd sxn sxi", kAnyone,
       "  events: ld ud ibp iml out ser (cpr epr ct et: user-mode events a kernel target never reports);\n"
       "  exceptions: av asrt bpe eh cce dm gp ii ip dz iov ch lsq isc 3c sse sbo sov vs vcpp wkd wob wos,\n"
       "  any code (sxe c000008e), * (other exceptions). -c runs at a first-chance break, -c2 at a second."},
  });
}

}  // namespace openkd::commands
