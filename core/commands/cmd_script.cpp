// Scripting: as aS al ad, .printf, $< $>< $$< $$>< $$>a<, and the table rows of
// the control-flow tokens (.if .for ... j) that script.cpp parses.
// Facts from Microsoft's reference: "as, aS (Set Alias)", "al (List Aliases)",
// "ad (Delete Alias)", ".printf", "$<, $><, $$<, $$><, $$>a< (Run Script File)".
#include <bit>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/commands/script.hpp"

namespace openkd::commands {
namespace {

constexpr std::size_t kMaxString = 0x10000;  // bytes read for %ma/%mu and as /ma /mu
constexpr unsigned kMaxScriptDepth = 32;      // nested $< files

// A NUL-terminated string in the target (ASCII, or UTF-16 when `wide`); nullopt if unreadable.
std::optional<std::string> target_string(EngineCore& core, std::uint64_t address, bool wide, std::size_t limit = kMaxString) {
  std::string ascii;
  std::vector<std::uint16_t> units;
  constexpr std::size_t kChunk = 0x100;
  for (std::size_t done = 0; done < limit; done += kChunk) {
    const auto block = core.read_block(address + done, kChunk);
    const unsigned step = wide ? 2 : 1;
    for (std::size_t k = 0; k + step <= kChunk; k += step) {
      auto v = block.value(k, step);
      if (!v) return done + k == 0 ? std::nullopt : std::optional(wide ? utf16_to_utf8(units) : ascii);
      if (*v == 0) return wide ? utf16_to_utf8(units) : ascii;
      if (wide) units.push_back(static_cast<std::uint16_t>(*v));
      else ascii.push_back(static_cast<char>(*v));
    }
  }
  return wide ? utf16_to_utf8(units) : ascii;
}

// ANSI_STRING / UNICODE_STRING (x64): Length (bytes) at +0, Buffer at +8.
std::optional<std::string> counted_string(EngineCore& core, std::uint64_t address, bool wide) {
  auto length = core.read_memory(address, 2);
  auto buffer = core.read_memory(address + 8, 8);
  if (!length || !buffer) return std::nullopt;
  const auto block = core.read_block(*buffer, *length);
  if (!block.all_valid()) return std::nullopt;
  if (!wide) return std::string(block.bytes.begin(), block.bytes.end());
  std::vector<std::uint16_t> units;
  for (std::size_t k = 0; k + 1 < block.bytes.size(); k += 2) units.push_back(static_cast<std::uint16_t>(*block.value(k, 2)));
  return utf16_to_utf8(units);
}

std::string read_host_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- as / aS ------------------------------------------------------------------------

CommandResult<> cmd_alias_set(EngineCore& core, Invocation& call) {
  const bool phrase = call.command.text.substr(0, 2) == "aS";
  std::string option;
  if (call.args.peek() == '/') {
    const std::size_t column = call.args.next_column();
    call.args.consume('/');
    option = std::string(call.args.take_token());
    for (std::string_view known : {"ma", "mu", "msa", "msu", "x", "e", "f", "c"})
      if (option == known) goto known_option;
    return std::unexpected(CommandError::syntax(column));
  known_option:;
  }
  const std::size_t name_column = call.args.next_column();
  std::string name(call.args.take_token());
  if (name.starts_with("${/v:") && name.ends_with("}")) name = name.substr(5, name.size() - 6);
  if (name.empty()) return std::unexpected(CommandError::syntax(name_column));
  if (name.starts_with("al") || name.starts_with("as") || name.starts_with("aS") || name.starts_with("ad"))
    return std::unexpected(CommandError::caret("Syntax error (an alias name may not begin with al, as, aS or ad)", name_column));
  // The equivalent: never leading spaces; trailing ones kept.
  std::string_view rest = call.args.rest();
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::string value;
  if (option.empty()) {
    if (phrase && rest.starts_with("\"")) {
      auto q = call.args.take_quoted();
      if (!q) return std::unexpected(CommandError::syntax(call.args.next_column()));
      if (auto r = core.expect_end(call.args); !r) return r;
      value = *q;
    } else {
      value = std::string(rest);
    }
  } else if (option == "x") {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    if (auto r = core.expect_end(call.args); !r) return r;
    value = fmt::format("0x{:x}", *v);
  } else if (option == "ma" || option == "mu" || option == "msa" || option == "msu") {
    auto address = core.expression(call.args);
    if (!address) return std::unexpected(address.error());
    if (auto r = core.expect_end(call.args); !r) return r;
    auto s = option.size() == 2 ? target_string(core, *address, option == "mu")
                                : counted_string(core, *address, option == "msu");
    if (!s) return std::unexpected(CommandError::plain(fmt::format("Memory access error at {}", hex64(*address))));
    value = *s;
  } else if (option == "e") {
    const std::string variable(call.args.take_token());
    const char* env = std::getenv(variable.c_str());
    if (!env) return std::unexpected(CommandError::plain(fmt::format("Environment variable '{}' is not set", variable)));
    value = env;
  } else if (option == "f") {
    bool ok = false;
    const std::string path(rest);
    value = read_host_file(path, ok);
    if (!ok) return std::unexpected(CommandError::plain(fmt::format("Unable to read file '{}'", path)));
  } else {  // /c: the output of the commands
    std::string captured;
    std::string* saved = core.capture;
    core.capture = &captured;
    run_program(core, rest, call.args.column());
    core.capture = saved;
    value = std::move(captured);
  }
  core.aliases[name] = std::move(value);
  return {};
}

CommandResult<> cmd_alias_list(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  if (core.aliases.empty()) {
    core.print("No aliases\n");
    return {};
  }
  core.print("  Alias            Value  \n -------          ------- \n");
  for (const auto& [name, value] : core.aliases) core.printf(" {:<16} {} \n", name, value);
  return {};
}

CommandResult<> cmd_alias_delete(EngineCore& core, Invocation& call) {
  bool quiet = false;
  if (call.args.peek() == '/') {
    const std::size_t column = call.args.next_column();
    call.args.consume('/');
    if (call.args.take_token() != "q") return std::unexpected(CommandError::syntax(column));
    quiet = true;
  }
  // `ad *` (or `ad*`) deletes every alias.
  const std::size_t column = call.args.next_column();
  std::string name(call.args.take_token());
  if (name.starts_with("${/v:") && name.ends_with("}")) name = name.substr(5, name.size() - 6);
  if (name.empty()) return std::unexpected(CommandError::syntax(column));
  if (auto r = core.expect_end(call.args); !r) return r;
  if (name == "*") {
    core.aliases.clear();
    return {};
  }
  if (core.aliases.erase(name) == 0 && !quiet) core.printf("No alias named '{}'\n", name);
  return {};
}

// ---- .printf ---------------------------------------------------------------------------

// The format string: C escapes (\n \t \\ \") resolved.
std::optional<std::string> take_format(ArgCursor& args) {
  if (args.peek() != '"') return std::nullopt;
  std::string_view text = args.rest();
  std::string out;
  std::size_t i = 1;
  for (; i < text.size() && text[i] != '"'; ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char e = text[++i];
      out.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'a' ? '\a' : e == '0' ? '\0' : e);
      continue;
    }
    out.push_back(text[i]);
  }
  if (i >= text.size()) return std::nullopt;
  args.set_offset(args.offset() + i + 1);
  return out;
}

CommandResult<> cmd_printf(EngineCore& core, Invocation& call) {
  // /D (DML) and WinDbg's /o? colour options change nothing in a text console.
  while (call.args.peek() == '/') {
    const std::size_t column = call.args.next_column();
    call.args.consume('/');
    const auto option = call.args.take_token();
    if (option != "D" && !(option.size() == 2 && option[0] == 'o')) return std::unexpected(CommandError::syntax(column));
  }
  const std::size_t format_column = call.args.next_column();
  auto format = take_format(call.args);
  if (!format) return std::unexpected(CommandError::syntax(format_column));
  std::vector<std::uint64_t> values;
  while (call.args.consume(',')) {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    values.push_back(*v);
  }
  if (auto r = core.expect_end(call.args); !r) return r;

  std::string out;
  std::size_t next = 0;
  auto argument = [&]() -> CommandResult<std::uint64_t> {
    if (next >= values.size())
      return std::unexpected(CommandError::plain(fmt::format(".printf: the format wants more than {} argument(s)", values.size())));
    return values[next++];
  };
  const std::string& f = *format;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out.push_back(f[i]);
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '%') {
      out.push_back('%');
      ++i;
      continue;
    }
    // %[flags][width][.precision][size]conversion
    std::size_t j = i + 1;
    std::string spec = "%";
    while (j < f.size() && std::string_view("-+ #0").find(f[j]) != std::string_view::npos) spec.push_back(f[j++]);
    while (j < f.size() && std::isdigit(static_cast<unsigned char>(f[j]))) spec.push_back(f[j++]);
    if (j < f.size() && f[j] == '.') {
      spec.push_back(f[j++]);
      while (j < f.size() && std::isdigit(static_cast<unsigned char>(f[j]))) spec.push_back(f[j++]);
    }
    bool wide64 = false;
    if (f.compare(j, 3, "I64") == 0) { wide64 = true; j += 3; }
    else if (f.compare(j, 3, "I32") == 0) { j += 3; }
    else if (f.compare(j, 2, "ll") == 0) { wide64 = true; j += 2; }
    else if (j < f.size() && f[j] == 'l' && f.compare(j, 2, "ly") != 0) { wide64 = true; ++j; }
    else if (j < f.size() && f[j] == 'h') { ++j; }
    if (j >= f.size()) return std::unexpected(CommandError::plain(".printf: the format ends inside a conversion"));
    const std::string_view at = std::string_view(f).substr(j);
    auto v = [&]() { return argument(); };
    std::string piece;
    char buffer[128];
    auto c_format = [&](char conversion, auto value) {
      const std::string one = spec + (sizeof(value) == 8 && std::is_integral_v<decltype(value)> ? "ll" : "") + conversion;
      std::snprintf(buffer, sizeof buffer, one.c_str(), value);
      return std::string(buffer);
    };
    if (at.starts_with("ma") || at.starts_with("mu") || at.starts_with("msa") || at.starts_with("msu") || at[0] == 's') {
      const std::size_t len = at[0] == 's' ? 1 : at[1] == 's' ? 3 : 2;
      auto a = v();
      if (!a) return std::unexpected(a.error());
      std::optional<std::string> s = len == 3 ? counted_string(core, *a, at[2] == 'u')
                                              : target_string(core, *a, len == 2 && at[1] == 'u');
      piece = s ? *s : fmt::format("<Memory access error at {}>", hex64(*a));
      j += len - 1;
    } else if (at.starts_with("ly") || at[0] == 'y') {
      auto a = v();
      if (!a) return std::unexpected(a.error());
      const std::string name = core.describe(*a);
      piece = name.empty() ? hex64(*a) : fmt::format("{} ({})", name, hex64(*a));
      if (at[0] == 'l') ++j;
    } else {
      auto a = v();
      if (!a) return std::unexpected(a.error());
      switch (at[0]) {
        case 'p': piece = hex64(*a); break;                       // a target pointer, as KD writes addresses
        case 'N': piece = fmt::format("{:016X}", *a); break;      // a host pointer: C's %p
        case 'd': case 'i':
          piece = wide64 ? c_format('d', static_cast<long long>(*a)) : c_format('d', static_cast<int>(*a));
          break;
        case 'u': case 'x': case 'X': case 'o':
          piece = wide64 ? c_format(at[0], static_cast<unsigned long long>(*a))
                         : c_format(at[0], static_cast<unsigned>(*a));
          break;
        case 'c': piece = c_format('c', static_cast<int>(*a & 0xFF)); break;
        case 'f': case 'e': case 'g': case 'E': case 'G':
          // A 64-bit argument is a 32-bit float unless `l` says double (the .printf page).
          piece = c_format(at[0], wide64 ? std::bit_cast<double>(*a)
                                         : static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(*a))));
          break;
        default:
          return std::unexpected(CommandError::plain(fmt::format(".printf: unknown conversion '%{}'", at[0])));
      }
    }
    out += piece;
    i = j;
  }
  core.print(out);
  return {};
}

// ---- script files ---------------------------------------------------------------------------

CommandResult<> cmd_script_file(EngineCore& core, Invocation& call) {
  const std::string token = call.name;
  const bool joined = token.find('>') != std::string::npos;  // $>< $$>< $$>a<: one command block
  const bool with_args = token == "$$>a<";
  std::string path;
  std::vector<std::string> arguments;
  if (with_args) {
    if (auto q = call.args.take_quoted()) path = *q;
    else path = std::string(call.args.take_token());
    while (!call.args.at_end()) {
      if (auto q = call.args.take_quoted()) arguments.push_back(*q);
      else arguments.emplace_back(call.args.take_token());
    }
  } else {
    std::string_view rest = call.args.take_rest();
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back()))) rest.remove_suffix(1);
    path = std::string(rest);
  }
  if (path.empty()) return std::unexpected(CommandError::syntax(call.args.column()));
  if (core.script_depth >= kMaxScriptDepth)
    return std::unexpected(CommandError::plain(fmt::format("Script files nested deeper than {}: not running '{}'", kMaxScriptDepth, path)));
  bool ok = false;
  std::string text = read_host_file(path, ok);
  if (!ok) return std::unexpected(CommandError::plain(fmt::format("Couldn't open script file '{}'", path)));
  if (with_args) {
    // ${$argN} becomes the Nth argument; a missing one stays as written. ${$arg0} is the file.
    for (std::size_t n = 0; n <= arguments.size(); ++n) {
      const std::string key = fmt::format("${{$arg{}}}", n);
      const std::string& value = n == 0 ? path : arguments[n - 1];
      for (std::size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) text.replace(at, key.size(), value);
    }
  }
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  ++core.script_depth;
  if (joined) {
    // Every line break becomes a `;` and the whole runs as one command block.
    std::string block;
    for (const auto& line : lines) block += (block.empty() ? "" : ";") + line;
    if (!with_args) core.printf("{}{}\n", core.prompt(), block);  // $$>a< does not echo
    run_program(core, block);
  } else {
    for (const auto& line : lines) {
      if (core.quit) break;
      core.printf("{}{}\n", core.prompt(), line);
      run_program(core, line);
    }
  }
  --core.script_depth;
  return {};
}

}  // namespace

void add_script_commands(std::vector<CommandSpec>& table) {
  // The control-flow tokens are parsed by script.cpp (no handler); their rows give .help and the count.
  table.insert(table.end(), {
      {"as", cmd_alias_set, "as [/x|/ma|/mu|/msa|/msu|/e|/c] name value   set an alias (aS: up to ';', /f file)"},
      {"al", cmd_alias_list, "al                            list aliases"},
      {"ad", cmd_alias_delete, "ad [/q] name | *              delete aliases"},
      {".printf", cmd_printf, ".printf \"format\" [, arg ...]   print (%p %x %d %u %c %s %ma %mu %msa %msu %y %N)"},
      {"$<", cmd_script_file, "$<file | $$<file              run a script file line by line"},
      {"$$<", cmd_script_file, "$<file | $$<file              run a script file line by line"},
      {"$><", cmd_script_file, "$><file | $$><file            run a script file as one command block"},
      {"$$><", cmd_script_file, "$><file | $$><file            run a script file as one command block"},
      {"$$>a<", cmd_script_file, "$$>a<file [args]              run a script file with ${$arg1} ... arguments"},
      {".block", nullptr, ".block { cmds }               a block (aliases in it are replaced when it runs)"},
      {".if", nullptr, ".if (expr) { } .elsif (expr) { } .else { }   conditional"},
      {".elsif", nullptr, ".if (expr) { } .elsif (expr) { } .else { }   conditional"},
      {".else", nullptr, ".if (expr) { } .elsif (expr) { } .else { }   conditional"},
      {".for", nullptr, ".for (init; cond; step) { }   loop"},
      {".while", nullptr, ".while (cond) { }             loop"},
      {".do", nullptr, ".do { } (cond)                loop, body first"},
      {".break", nullptr, ".break | .continue            leave a loop | next iteration"},
      {".continue", nullptr, ".break | .continue            leave a loop | next iteration"},
      {".foreach", nullptr, ".foreach [/pS n] [/ps n] [/s|/f] (var {cmds}|\"text\") { }   for each token"},
      {"j", nullptr, "j expr 'cmds1' ; 'cmds2'      run cmds1 if expr is nonzero, else cmds2"},
      {"$$", nullptr, "$$ comment ; * comment       comments (to ';' and to the end of the line)"},
      {"*", nullptr, "$$ comment ; * comment       comments (to ';' and to the end of the line)"},
  });
}

}  // namespace openkd::commands
