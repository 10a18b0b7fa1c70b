// Breakpoints: bp (bu) with /1, pass counts and commands; ba e|r|w|i 1|2|4|8;
// bl in KD's row format; bc, bd, be with *, lists and ranges.
#include <algorithm>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

// `[passes] ["commands"]` after a breakpoint's address, then the end of the command.
CommandResult<> parse_tail(EngineCore& core, Invocation& call, Breakpoint& bp) {
  if (!call.args.at_end() && call.args.peek() != '"') {
    const std::size_t column = call.args.next_column();
    auto passes = core.expression(call.args);
    if (!passes) return std::unexpected(passes.error());
    if (*passes == 0 || *passes > 0xFFFFFFFFu) return std::unexpected(CommandError::caret("Range error", column));
    bp.pass_count = bp.initial_passes = static_cast<std::uint32_t>(*passes);
  }
  if (call.args.peek() == '"') {
    const std::size_t column = call.args.next_column();
    auto text = call.args.take_quoted();
    if (!text) return std::unexpected(CommandError::syntax(column));
    bp.command = *text;
  }
  return core.expect_end(call.args);
}

CommandResult<> parse_options(Invocation& call, Breakpoint& bp) {
  while (call.args.peek() == '/') {
    const std::size_t column = call.args.next_column();
    call.args.consume('/');
    const auto option = call.args.take_token();
    if (option == "1")
      bp.one_shot = true;
    else
      return std::unexpected(CommandError::caret("Syntax error", column));
  }
  return {};
}

CommandResult<std::uint64_t> address_or_rip(EngineCore& core, Invocation& call) {
  if (call.args.at_end() || call.args.peek() == '"') {
    auto ctx = core.context();
    if (!ctx) return std::unexpected(ctx.error());
    return ctx->rip;
  }
  return core.expression(call.args);
}

CommandResult<> cmd_bp(EngineCore& core, Invocation& call) {
  Breakpoint bp;
  if (auto r = parse_options(call, bp); !r) return r;
  const std::size_t expression_start = call.args.offset();
  auto address = address_or_rip(core, call);
  if (address) {
    bp.address = *address;
  } else {
    // module!symbol in a module not loaded yet becomes a deferred breakpoint, as in KD:
    // it resolves when a module load brings the module in. (A typo in a loaded
    // module's symbol stays an error.)
    call.args.set_offset(expression_start);
    const std::string_view token = call.args.take_token("\"");
    const auto bang = token.find('!');
    if (address.error().kind != "Couldn't resolve error" || bang == std::string_view::npos || bang == 0 ||
        core.modules.find(token.substr(0, bang)))
      return std::unexpected(address.error());
    bp.deferred = true;
    bp.expression = std::string(token);
  }
  if (auto r = parse_tail(core, call, bp); !r) return r;
  if (bp.deferred) core.printf("Bp expression '{}' could not be resolved, adding deferred bp\n", bp.expression);
  if (!bp.deferred && core.breakpoints.find_at(bp.address, Breakpoint::Kind::Software))
    core.printf("breakpoint {} redefined\n", core.breakpoints.find_at(bp.address, Breakpoint::Kind::Software)->id);
  core.breakpoints.add(std::move(bp));
  return {};
}

CommandResult<> cmd_ba(EngineCore& core, Invocation& call) {
  Breakpoint bp;
  bp.kind = Breakpoint::Kind::Hardware;
  // Access and size: "e1", "w4" or "w 4".
  const std::size_t access_column = call.args.next_column();
  auto access = call.args.take_token();
  if (access.empty()) return std::unexpected(CommandError::syntax(access_column));
  bp.access = static_cast<char>(std::tolower(static_cast<unsigned char>(access[0])));
  if (std::string_view("erwi").find(bp.access) == std::string_view::npos)
    return std::unexpected(CommandError::caret("Syntax error", access_column));
  std::string_view size_text = access.substr(1);
  std::size_t size_column = access_column + 1;
  if (size_text.empty()) {
    size_column = call.args.next_column();
    size_text = call.args.take_token();
  }
  if (size_text != "1" && size_text != "2" && size_text != "4" && size_text != "8")
    return std::unexpected(CommandError::caret("Size error", size_column));
  bp.size = static_cast<unsigned>(size_text[0] - '0');
  if (bp.access == 'e' && bp.size != 1) return std::unexpected(CommandError::caret("Size error", size_column));
  if (auto r = parse_options(call, bp); !r) return r;
  const std::size_t address_column = call.args.next_column();
  auto address = address_or_rip(core, call);
  if (!address) return std::unexpected(address.error());
  bp.address = *address;
  if (bp.address % bp.size != 0)
    return std::unexpected(CommandError::caret("Alignment error (data breakpoints must be aligned to their size)", address_column));
  if (auto r = parse_tail(core, call, bp); !r) return r;
  const bool replacing = core.breakpoints.find_at(bp.address, Breakpoint::Kind::Hardware) != nullptr;
  if (!replacing && core.breakpoints.hardware_slots().size() >= 4)
    return std::unexpected(CommandError::plain("Too many hardware breakpoints: x64 has four (Dr0-Dr3)"));
  core.breakpoints.add(std::move(bp));
  return {};
}

CommandResult<> cmd_bl(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  for (const auto& bp : core.breakpoints.all()) {
    const std::string kind = bp.kind == Breakpoint::Kind::Hardware ? fmt::format(" {} {} ", bp.access, bp.size) : "     ";
    // A deferred breakpoint has no address yet: KD marks it `u` and shows its expression.
    std::string line = fmt::format("{:2} {}{} {} Clear  {}{}{:04x} ({:04x}) ", bp.id, bp.enabled ? 'e' : 'd',
                                   bp.deferred ? "u" : "", bp.enabled ? "Disable" : "Enable",
                                   bp.deferred ? std::string(17, ' ') : hex64(bp.address), kind, bp.pass_count,
                                   bp.initial_passes);
    line += bp.deferred ? "(" + bp.expression + ")" : core.describe(bp.address);
    if (bp.one_shot) line += " (one-shot)";
    if (!bp.command.empty()) line += fmt::format("     \"{}\"", bp.command);
    core.printf("{}\n", line);
  }
  return {};
}

CommandResult<> cmd_change(EngineCore& core, Invocation& call) {
  call.args.skip_spaces();
  const std::size_t column = call.args.next_column();
  auto ids = core.breakpoints.parse_ids(call.args.take_rest(), column);
  if (!ids) return std::unexpected(ids.error());
  for (unsigned id : *ids) {
    if (call.name == "bc") {
      core.breakpoints.remove(id);
    } else if (Breakpoint* bp = core.breakpoints.find(id)) {
      if (call.name == "be" && !bp->enabled && bp->kind == Breakpoint::Kind::Hardware &&
          core.breakpoints.hardware_slots().size() >= 4)
        return std::unexpected(CommandError::plain("Too many hardware breakpoints: x64 has four (Dr0-Dr3)"));
      bp->enabled = call.name == "be";
    }
  }
  return {};
}

// bs id ["commands"]: replaces a breakpoint's commands (none: removes them).
CommandResult<> cmd_bs(EngineCore& core, Invocation& call) {
  const std::size_t column = call.args.next_column();
  auto id = core.expression(call.args);
  if (!id) return std::unexpected(id.error());
  Breakpoint* bp = core.breakpoints.find(static_cast<unsigned>(*id));
  if (!bp || *id > 0xFFFFFFFFu) return std::unexpected(CommandError::caret("No such breakpoint", column));
  std::string command;
  if (!call.args.at_end()) {
    const std::size_t text_column = call.args.next_column();
    auto text = call.args.take_quoted();
    if (!text) return std::unexpected(CommandError::syntax(text_column));
    command = *text;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  bp->command = command;
  return {};
}

// br old new [old new ...]: renumbers breakpoints.
CommandResult<> cmd_br(EngineCore& core, Invocation& call) {
  if (call.args.at_end()) return std::unexpected(CommandError::syntax(call.args.column()));
  while (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto from = core.expression(call.args);
    if (!from) return std::unexpected(from.error());
    auto to = core.expression(call.args);
    if (!to) return std::unexpected(to.error());
    Breakpoint* bp = core.breakpoints.find(static_cast<unsigned>(*from));
    if (!bp || *from > 0xFFFFFFFFu) return std::unexpected(CommandError::caret("No such breakpoint", column));
    if (*to > 0xFFFFFFFFu || (*to != *from && core.breakpoints.find(static_cast<unsigned>(*to))))
      return std::unexpected(CommandError::caret(fmt::format("Breakpoint {} already exists", *to), column));
    bp->id = static_cast<unsigned>(*to);
    std::ranges::sort(core.breakpoints.all(), {}, &Breakpoint::id);
  }
  return {};
}

}  // namespace

void add_breakpoint_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"bp", cmd_bp, "bp [/1] [address [passes]] [\"commands\"]   set a software breakpoint"},
      {"bu", cmd_bp, "bu ...                        same as bp (symbols are resolved at once)"},
      {"ba", cmd_ba, "ba e|r|w|i 1|2|4|8 [/1] address [passes] [\"commands\"]   hardware breakpoint"},
      {"bs", cmd_bs, "bs id [\"commands\"]            replace a breakpoint's commands"},
      {"br", cmd_br, "br old new [old new ...]      renumber breakpoints"},
      {"bl", cmd_bl, "bl                            list breakpoints"},
      {"bc", cmd_change, "bc * | ids                    clear breakpoints (ids: 1 3, 1-3)"},
      {"bd", cmd_change, "bd * | ids                    disable breakpoints"},
      {"be", cmd_change, "be * | ids                    enable breakpoints"},
  });
}

}  // namespace openkd::commands
