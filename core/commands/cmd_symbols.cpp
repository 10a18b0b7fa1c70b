// Symbols: x (examine, with wildcards), ln (list nearest), .reload.
#include <algorithm>
#include <cctype>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

constexpr std::size_t kMaxListed = 10000;

// `*` and `?` wildcards, case-insensitive (KD's default for symbols).
bool matches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || same(pattern[p], text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

CommandResult<> cmd_x(EngineCore& core, Invocation& call) {
  const std::size_t column = call.args.next_column();
  const std::string_view spec = call.args.take_token();
  if (spec.empty()) return std::unexpected(CommandError::syntax(column));
  if (auto r = core.expect_end(call.args); !r) return r;
  // "nt!Ke*", "*!DriverEntry", or a bare pattern (every module).
  const auto bang = spec.find('!');
  const std::string_view module_pattern = bang == std::string_view::npos ? "*" : spec.substr(0, bang);
  const std::string_view symbol_pattern = bang == std::string_view::npos ? spec : spec.substr(bang + 1);
  std::size_t listed = 0;
  for (const auto& m : core.modules.modules()) {
    if (!matches(module_pattern, m.name)) continue;
    for (const auto& s : core.symbols.symbols_of(m)) {
      if (!matches(symbol_pattern, s.name)) continue;
      if (++listed > kMaxListed) {
        core.printf("(stopped after {} symbols)\n", kMaxListed);
        return {};
      }
      core.printf("{} {}!{} (<no parameter info>)\n", hex64(s.address), m.name, s.name);
    }
  }
  return {};
}

CommandResult<> cmd_ln(EngineCore& core, Invocation& call) {
  std::optional<std::uint64_t> address;
  if (call.args.at_end()) {
    if (auto ctx = core.context()) address = ctx->rip;
  } else {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    address = *v;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  if (!address) return std::unexpected(CommandError::syntax(call.args.column()));
  auto where = core.symbols.locate(*address);
  if (!where) {
    core.printf("No symbols near {}\n", hex64(*address));
    return {};
  }
  const auto& symbols = core.symbols.symbols_of(*where->module);
  std::string line;
  if (where->symbol) {
    line = fmt::format("({})   {}", hex64(where->symbol->address), core.describe(*address));
  } else {
    line = fmt::format("({})   {}", hex64(where->module->base), core.describe(*address));
  }
  auto next = std::ranges::upper_bound(symbols, *address, {}, &debugger::Symbol::address);
  if (next != symbols.end())
    line += fmt::format("   |  ({})   {}!{}", hex64(next->address), where->module->name, next->name);
  core.printf("{}\n", line);
  if (where->symbol && where->displacement == 0) {
    core.print("Exact matches:\n");
    for (const auto& s : symbols)
      if (s.address == *address) core.printf("    {}!{} (<no parameter info>)\n", where->module->name, s.name);
  }
  return {};
}

CommandResult<> cmd_reload(EngineCore& core, Invocation& call) {
  (void)call.args.take_rest();  // /f and module names: everything is reloaded anyway
  core.forget_everything();
  core.print("Loading Kernel Symbols\n");
  const auto& modules = core.modules.modules();
  for (const auto& m : modules) (void)core.symbols.symbols_of(m);
  core.printf("{} modules, export symbols only\n", modules.size());
  if (!core.modules.last_error().empty()) core.printf("(module list: {})\n", core.modules.last_error());
  return {};
}

}  // namespace

void add_symbol_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"x", cmd_x, "x [module!]pattern             list symbols (wildcards * and ?)"},
      {"ln", cmd_ln, "ln [address]                  nearest symbols"},
      {".reload", cmd_reload, ".reload                       re-read the module list and export symbols"},
  });
}

}  // namespace openkd::commands
