// Symbols: x, ln, .reload, ld, .sympath, .symfix, !sym, .lines, bm.
// Output shapes: Microsoft's pages "x (Examine Symbols)", "ln (List Nearest
// Symbols)", ".sympath", ".symfix", ".reload", "bp, bu, bm".
#include <algorithm>
#include <cctype>
#include <chrono>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/symbols/symbol_path.hpp"

namespace openkd::commands {
namespace {

constexpr std::size_t kMaxListed = 10000;
using debugger::Symbol;
using debugger::SymbolSource;

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

symbols::PdbFile* pdb_for(EngineCore& core, const debugger::Module& m) {
  return core.symbols.state_of(m) == debugger::ModuleSymbols::State::pdb ? core.symbols.pdb_of(m) : nullptr;
}

// "(unsigned long, unsigned __int64)" for a PDB function, KD's "(<no parameter info>)" otherwise.
std::string parameters_of(EngineCore& core, const debugger::Module& m, const Symbol& s) {
  auto* pdb = pdb_for(core, m);
  if (!pdb || s.source != SymbolSource::pdb_function || !s.type) return "(<no parameter info>)";
  const auto& sig = pdb->type(s.type);
  if (sig.kind != symbols::TypeKind::function) return "(<no parameter info>)";
  std::string text;
  for (auto p : sig.parameters) text += (text.empty() ? "" : ", ") + pdb->type(p).name;
  return "(" + (text.empty() ? std::string("void") : text) + ")";
}

// " = 0x..." for typed data of a scalar type, " = <no type information>" for untyped data.
std::string value_of(EngineCore& core, const debugger::Module& m, const Symbol& s) {
  auto* pdb = pdb_for(core, m);
  if (!pdb || !s.type) return " = <no type information>";
  const auto& t = pdb->type(pdb->strip_modifiers(s.type));
  using K = symbols::TypeKind;
  if ((t.kind == K::base || t.kind == K::pointer || t.kind == K::enumeration) && t.size && t.size <= 8) {
    if (auto v = core.read_memory(s.address, static_cast<unsigned>(t.size))) return fmt::format(" = 0x{:0{}x}", *v, t.size * 2);
    return " = ??";
  }
  return "";
}

std::string type_of(EngineCore& core, const debugger::Module& m, const Symbol& s) {
  auto* pdb = pdb_for(core, m);
  if (!pdb || !s.type) return "<NoType>";
  const auto& t = pdb->type(s.type);
  if (t.kind == symbols::TypeKind::function) return pdb->type(t.element).name;  // the return type
  return t.name;
}

CommandResult<> cmd_x(EngineCore& core, Invocation& call) {
  bool with_types = false, verbose = false;
  while (call.args.peek() == '/') {
    const std::size_t column = call.args.next_column();
    auto option = call.args.take_token();
    if (option == "/t") with_types = true;
    else if (option == "/v") verbose = true;
    else if (option == "/n" || option == "/a" || option == "/z" || option == "/q") continue;  // sort orders: address order is kept
    else return std::unexpected(CommandError::syntax(column));
  }
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
      const bool code = s.source != SymbolSource::pdb_data && s.source != SymbolSource::pdb_public_data;
      std::string line;
      if (verbose) {
        const char* scope = s.source == SymbolSource::pdb_function || s.source == SymbolSource::pdb_data ? "prv" : "pub";
        const char* kind = s.source == SymbolSource::pdb_function ? "func"
                           : s.source == SymbolSource::pdb_data   ? "global"
                           : s.source == SymbolSource::exported   ? "export"
                                                                  : "public";
        std::uint64_t size = s.size;
        if (!size && s.type && s.source == SymbolSource::pdb_data)
          if (auto* pdb = pdb_for(core, m)) size = pdb->type(s.type).size;
        line = fmt::format("{} {:<6} {} {:>5x} ", scope, kind, hex64(s.address), size);
      } else {
        line = fmt::format("{} ", hex64(s.address));
      }
      if (with_types) line += type_of(core, m, s) + " ";
      line += fmt::format("{}!{}", m.name, s.name);
      if (code) line += " " + parameters_of(core, m, s);
      else if (s.source == SymbolSource::pdb_data) line += value_of(core, m, s);
      else line += " = <no type information>";
      core.printf("{}\n", line);
    }
  }
  return {};
}

// " [file @ line]" when .lines is on and the address has a line.
std::string line_suffix(EngineCore& core, std::uint64_t address) {
  if (!core.symbols.source_lines) return {};
  auto l = core.symbols.line_of(address);
  return l ? fmt::format(" [{} @ {}]", l->file, l->line) : std::string();
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
  const auto& m = *where->module;
  const auto& symbols = core.symbols.symbols_of(m);
  std::string line = fmt::format("({})   {}{}", hex64(where->symbol ? where->symbol->address : m.base),
                                 core.describe(*address), line_suffix(core, *address));
  auto next = std::ranges::upper_bound(symbols, *address, {}, &Symbol::address);
  if (next != symbols.end()) line += fmt::format("   |  ({})   {}!{}", hex64(next->address), m.name, next->name);
  core.printf("{}\n", line);
  if (where->symbol && where->displacement == 0) {
    core.print("Exact matches:\n");
    for (const auto& s : symbols) {
      if (s.address != *address) continue;
      const bool code = s.source != SymbolSource::pdb_data && s.source != SymbolSource::pdb_public_data;
      core.printf("    {}!{} {}\n", m.name, s.name,
                  code ? parameters_of(core, m, s) : std::string("= <no type information>"));
    }
  }
  return {};
}

// `.reload [/f] [/v] [module[=base[,size]]]`: module list and symbols again; /f loads
// at once (otherwise deferred, as KD's default); a module name limits it to one.
CommandResult<> cmd_reload(EngineCore& core, Invocation& call) {
  bool force = false, verbose = false;
  std::string only;
  while (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto token = call.args.take_token();
    std::string lower(token);
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "/f") force = true;
    else if (lower == "/v") verbose = true;
    else if (lower == "/n" || lower == "/user" || lower == "/o" || lower == "/i") continue;  // nothing else to choose here
    else if (lower.starts_with("/")) return std::unexpected(CommandError::syntax(column));
    else only = std::string(token.substr(0, token.find('=')));
  }
  const auto start = std::chrono::steady_clock::now();
  if (only.empty()) {
    core.forget_everything();
    if (force) core.symbols.forget_pdbs();
    core.print("Loading Kernel Symbols\n");
  }
  const auto& modules = core.modules.modules();
  std::size_t with_pdb = 0, loaded = 0;
  bool found = only.empty();
  for (const auto& m : modules) {
    if (!only.empty() && !matches(only, m.name) && !matches(only, m.image_name)) continue;
    found = true;
    if (!force && only.empty()) continue;  // deferred until needed
    const auto& ms = core.symbols.load(m, force);
    ++loaded;
    if (ms.state == debugger::ModuleSymbols::State::pdb) ++with_pdb;
    if (verbose) core.printf("{:<10} {}\n", m.name, ms.pdb ? ms.pdb->path() : std::string("export symbols"));
  }
  if (!found) return std::unexpected(CommandError::plain(fmt::format("\"{}\" was not found in the image list.", only)));
  if (only.empty() && !force)
    core.printf("{} modules, symbols deferred\n", modules.size());
  else
    core.printf("{} module{} loaded, {} with PDB symbols ({} ms)\n", loaded, loaded == 1 ? "" : "s", with_pdb,
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
  if (!core.modules.last_error().empty()) core.printf("(module list: {})\n", core.modules.last_error());
  return {};
}

// `ld module`: loads one module's symbols now.
CommandResult<> cmd_ld(EngineCore& core, Invocation& call) {
  const std::size_t column = call.args.next_column();
  const std::string name(call.args.take_token());
  if (name.empty()) return std::unexpected(CommandError::syntax(column));
  if (auto r = core.expect_end(call.args); !r) return r;
  bool any = false;
  for (const auto& m : core.modules.modules()) {
    if (!matches(name, m.name)) continue;
    any = true;
    const auto& ms = core.symbols.load(m, true);
    core.printf("Symbols loaded for {}{}\n", m.name,
                ms.pdb ? "" : ms.state == debugger::ModuleSymbols::State::exports ? " (export symbols)" : " (no symbols)");
  }
  if (!any) core.printf("Unable to find module '{}'\n", name);
  return {};
}

void print_sympath(EngineCore& core) {
  const auto& path = core.symbols.symbol_path();
  core.printf("Symbol search path is: {}\n", path.empty() ? "<empty>" : path);
  core.printf("Expanded Symbol search path is: {}\n", path.empty() ? "<empty>" : path);
}

// `.sympath [path]`, `.sympath+ path`.
CommandResult<> cmd_sympath(EngineCore& core, Invocation& call) {
  const bool append = call.args.consume('+');
  std::string path(call.args.take_rest());
  while (!path.empty() && std::isspace(static_cast<unsigned char>(path.back()))) path.pop_back();
  // Secure mode: a path decides where the host reads and writes (caches, downloads).
  if (!path.empty() && core.options.secure)
    return std::unexpected(CommandError::plain(".sympath cannot be changed: the session is in secure mode"));
  if (append && !path.empty()) {
    const auto& old = core.symbols.symbol_path();
    core.symbols.set_symbol_path(old.empty() ? path : old + ";" + path);
  } else if (!path.empty()) {
    core.symbols.set_symbol_path(path);
  }
  print_sympath(core);
  if (!path.empty()) {
    core.print("\n************* Path validation summary **************\nResponse                         Time (ms)     Location\n");
    for (const auto& e : symbols::parse_symbol_path(path, core.symbols.default_cache())) {
      const bool server = e.kind == symbols::SymbolPathEntry::Kind::server;
      core.printf("{:<33}{:<14}{}\n", server ? "Deferred" : "OK", "",
                  server ? (e.url.empty() ? e.stores.back() : e.url) : e.folder);
    }
  }
  return {};
}

// `.symfix [cache]`, `.symfix+ [cache]`: Microsoft's symbol server with a local cache.
CommandResult<> cmd_symfix(EngineCore& core, Invocation& call) {
  if (core.options.secure)
    return std::unexpected(CommandError::plain(".symfix is disabled: the session is in secure mode"));
  const bool append = call.args.consume('+');
  std::string cache(call.args.take_rest());
  while (!cache.empty() && std::isspace(static_cast<unsigned char>(cache.back()))) cache.pop_back();
  if (cache.empty()) cache = core.symbols.default_cache().empty() ? symbols::default_symbol_cache() : core.symbols.default_cache();
  const std::string entry = fmt::format("srv*{}*{}", cache, symbols::kMicrosoftSymbolServer);
  const auto& old = core.symbols.symbol_path();
  core.symbols.set_symbol_path(append && !old.empty() ? old + ";" + entry : entry);
  print_sympath(core);
  return {};
}

// `!sym noisy|quiet`.
CommandResult<> cmd_sym(EngineCore& core, Invocation& call) {
  const std::size_t column = call.args.next_column();
  std::string word(call.args.take_token());
  std::ranges::transform(word, word.begin(), [](unsigned char c) { return std::tolower(c); });
  if (word == "noisy") core.symbols.noisy = true;
  else if (word == "quiet") core.symbols.noisy = false;
  else if (!word.empty()) return std::unexpected(CommandError::syntax(column));
  core.printf("{} mode - symbol prompts on\n", core.symbols.noisy ? "noisy" : "quiet");
  return {};
}

// `.lines [-e|-d|-t]`: source line information on, off, or toggled (default: toggle).
CommandResult<> cmd_lines(EngineCore& core, Invocation& call) {
  const std::size_t column = call.args.next_column();
  const auto option = call.args.take_token();
  if (option == "-e") core.symbols.source_lines = true;
  else if (option == "-d") core.symbols.source_lines = false;
  else if (option.empty() || option == "-t") core.symbols.source_lines = !core.symbols.source_lines;
  else return std::unexpected(CommandError::syntax(column));
  core.printf("Line number information will be {}\n", core.symbols.source_lines ? "loaded" : "ignored");
  return {};
}

// `bm [/d] module!pattern ["commands"]`: a breakpoint on each matching function.
CommandResult<> cmd_bm(EngineCore& core, Invocation& call) {
  bool one_shot = false;
  while (call.args.peek() == '/') {
    const std::size_t column = call.args.next_column();
    auto option = call.args.take_token();
    if (option == "/1") one_shot = true;
    else if (option == "/a" || option == "/d") continue;
    else return std::unexpected(CommandError::syntax(column));
  }
  const std::size_t column = call.args.next_column();
  const std::string_view spec = call.args.take_token("\"");
  if (spec.empty()) return std::unexpected(CommandError::syntax(column));
  std::string command;
  if (auto q = call.args.take_quoted()) command = *q;
  if (auto r = core.expect_end(call.args); !r) return r;
  const auto bang = spec.find('!');
  const std::string_view module_pattern = bang == std::string_view::npos ? "*" : spec.substr(0, bang);
  const std::string_view symbol_pattern = bang == std::string_view::npos ? spec : spec.substr(bang + 1);
  std::size_t added = 0;
  for (const auto& m : core.modules.modules()) {
    if (!matches(module_pattern, m.name)) continue;
    for (const auto& s : core.symbols.symbols_of(m)) {
      // Code only: PDB functions and exports (data has no place for a breakpoint).
      if (s.source == SymbolSource::pdb_data || s.source == SymbolSource::pdb_public_data || !matches(symbol_pattern, s.name)) continue;
      if (core.breakpoints.find_at(s.address, Breakpoint::Kind::Software)) continue;  // one per address
      Breakpoint bp;
      bp.address = s.address;
      bp.one_shot = one_shot;
      bp.command = command;
      const auto& added_bp = core.breakpoints.add(std::move(bp));
      core.printf("{:>3}: {} @!\"{}!{}\"\n", added_bp.id, hex64(s.address), m.name, s.name);
      if (++added >= 1024) {
        core.print("(stopped after 1024 breakpoints)\n");
        return {};
      }
    }
  }
  if (added == 0) core.printf("No matching code symbols found, no breakpoints set.\n");
  return {};
}

}  // namespace

void add_symbol_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"x", cmd_x, "x [/t] [/v] [module!]pattern   list symbols (wildcards * and ?)"},
      {"ln", cmd_ln, "ln [address]                  nearest symbols"},
      {".reload", cmd_reload, ".reload [/f] [/v] [module]    re-read modules; /f loads symbols now"},
      {"ld", cmd_ld, "ld module                     load a module's symbols now"},
      {".sympath", cmd_sympath, ".sympath[+] [path]            show, set or extend the symbol path"},
      {".symfix", cmd_symfix, ".symfix[+] [cache]            Microsoft's symbol server, cached in cache"},
      {"!sym", cmd_sym, "!sym noisy|quiet              show every path a symbol search tries"},
      {".lines", cmd_lines, ".lines [-e|-d|-t]             source line information on/off"},
      {"bm", cmd_bm, "bm [/1] module!pattern [\"cmds\"] breakpoint on every matching function"},
  });
}

}  // namespace openkd::commands
