// Information and session: ? .formats vertarget version lm .echo .log* .help q .kdfiles .shell
#include <algorithm>
#include <bit>
#include <cctype>
#include <ctime>
#include <fstream>
#include <map>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/debugger/pe.hpp"
#include "core/debugger/windows_version.hpp"

namespace openkd::commands {
namespace {

constexpr std::string_view kVersion = "0.1.0";
constexpr std::uint64_t kDebuggerDataNtBuildLab = 0x208;

// `.help name`: the row's help, its other names, who may run it and any details.
CommandResult<> help_for(EngineCore& core, std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (const CommandSpec* spec = core.find_command(lower)) {
    core.printf("  {}\n", spec->help);
    if (!spec->aliases.empty()) core.printf("  also: {} {}\n", spec->name, spec->aliases);
    if (!spec->details.empty()) core.printf("{}\n", spec->details);
    if (spec->access & kNotInSecureMode) core.print("  not in secure mode (-secure)\n");
    if (spec->access & kHostOnly) core.print("  not from remote clients\n");
    return {};
  }
  for (const auto& c : core.family_commands)
    if (c.name == lower) {
      core.printf("  {}\n", c.help);
      return {};
    }
  return std::unexpected(CommandError::plain(fmt::format("No help for '{}': not a command (.help lists them)", name)));
}

CommandResult<> cmd_help(EngineCore& core, Invocation& call) {
  if (call.name == ".help" && !call.args.at_end()) {
    const std::string name(call.args.take_token());
    if (auto r = core.expect_end(call.args); !r) return r;
    return help_for(core, name);
  }
  core.print("openkd kd commands (expressions are MASM: hex by default, 0n decimal, poi(), nt!Symbol):\n");
  std::string_view previous;
  for (const auto& c : core.commands) {
    if (c.help == previous) continue;  // families share one line
    previous = c.help;
    core.printf("  {}\n", c.help);
  }
  for (const auto& c : core.family_commands) {
    if (c.help.empty() || c.help == previous) continue;
    previous = c.help;
    core.printf("  {}\n", c.help);
  }
  // How many names the table answers: each row's name and its other names, and the families'.
  std::size_t names = core.family_commands.size();
  for (const auto& c : core.commands) {
    ++names;
    for (char ch : c.aliases) names += ch == ' ';
    if (!c.aliases.empty()) ++names;
  }
  core.printf("{} command names (commands, meta-commands, tokens)\n", names);
  return {};
}

CommandResult<> cmd_evaluate(EngineCore& core, Invocation& call) {
  if (call.args.at_end()) return cmd_help(core, call);
  auto value = core.expression(call.args);
  if (!value) return std::unexpected(value.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  core.printf("Evaluate expression: {} = {}\n", signed_decimal(*value), hex64(*value));
  return {};
}

CommandResult<> cmd_formats(EngineCore& core, Invocation& call) {
  auto value = core.expression(call.args);
  if (!value) return std::unexpected(value.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  const std::uint64_t v = *value;
  std::string binary;
  for (int byte = 7; byte >= 0; --byte) {
    binary += fmt::format("{:08b}", (v >> (8 * byte)) & 0xFF);
    if (byte) binary += ' ';
  }
  std::string chars;
  for (int byte = 7; byte >= 0; --byte) {
    const auto c = static_cast<unsigned char>(v >> (8 * byte));
    chars += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '.';
  }
  // Time as a time_t in UTC (KD uses the host's zone; UTC keeps output reproducible).
  std::string time_text = "invalid";
  const std::time_t t = static_cast<std::time_t>(v);
  std::tm tm{};
  if (static_cast<std::int64_t>(v) >= 0 && v < (1ull << 40) && gmtime_r(&t, &tm)) {
    char buffer[64];
    if (std::strftime(buffer, sizeof buffer, "%a %b %e %H:%M:%S %Y", &tm)) time_text = buffer;
  }
  core.print("Evaluate expression:\n");
  core.printf("  Hex:     {}\n", hex64(v));
  core.printf("  Decimal: {}\n", signed_decimal(v));
  core.printf("  Decimal (unsigned) : {}\n", v);
  core.printf("  Octal:   {:022o}\n", v);
  core.printf("  Binary:  {}\n", binary);
  core.printf("  Chars:   {}\n", chars);
  core.printf("  Time:    {}\n", time_text);
  core.printf("  Float:   low {:g} high {:g}\n", std::bit_cast<float>(static_cast<std::uint32_t>(v)),
              std::bit_cast<float>(static_cast<std::uint32_t>(v >> 32)));
  core.printf("  Double:  {:g}\n", std::bit_cast<double>(v));
  return {};
}

// The same name as kd's banner (core/debugger/windows_version.hpp).
std::string_view windows_name(std::uint16_t build) { return debugger::windows_product_name(build); }

std::string read_string(EngineCore& core, std::uint64_t address, std::size_t max) {
  const auto block = core.read_block(address, max);
  std::string s;
  for (std::size_t i = 0; i < max && block.valid[i] && block.bytes[i] != 0; ++i) s.push_back(static_cast<char>(block.bytes[i]));
  return s;
}

void print_target_version(EngineCore& core) {
  const auto& v = core.target.version();
  const std::string_view machine = v.machine_type == 0x8664 ? "x64" : v.machine_type == 0x14C ? "x86"
                                   : v.machine_type == 0xAA64 ? "ARM64" : "unknown machine";
  const unsigned processors = core.target.number_processors();
  core.printf("{} Kernel Version {} {} ({} procs) {} {}\n", windows_name(v.minor_version), v.minor_version,
              (v.flags & wire::kVersionFlagMp) || processors > 1 ? "MP" : "UP", processors,
              (v.major_version & 0xFF) == 0xC ? "Checked" : "Free", machine);
  std::string build_lab;
  if (const std::uint64_t data = core.debugger_data())
    if (auto where = read_u64(core.target, data + kDebuggerDataNtBuildLab); where && *where)
      build_lab = read_string(core, *where, 256);
  if (build_lab.empty())
    if (auto where = core.symbols.address_of("nt!NtBuildLab")) build_lab = read_string(core, *where, 256);
  if (!build_lab.empty()) core.printf("Built by: {}\n", build_lab);
  core.printf("Kernel base = 0x{} PsLoadedModuleList = 0x{}\n", hex64(v.kern_base), hex64(v.ps_loaded_module_list));
}

CommandResult<> cmd_vertarget(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  print_target_version(core);
  return {};
}

CommandResult<> cmd_version(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  core.printf("openkd kd version {} (a KD-compatible kernel debugger)\n\n", kVersion);
  print_target_version(core);
  return {};
}

// `*` and `?` wildcards, case-insensitive, as lm m uses them.
bool wildcard_match(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (std::size_t i = 0; i <= text.size(); ++i)
      if (wildcard_match(pattern.substr(1), text.substr(i))) return true;
    return false;
  }
  if (text.empty()) return false;
  if (pattern[0] != '?' && std::tolower(static_cast<unsigned char>(pattern[0])) != std::tolower(static_cast<unsigned char>(text[0])))
    return false;
  return wildcard_match(pattern.substr(1), text.substr(1));
}

// lm [v] [l] [o] [sm] [f|n] [m pattern] [a address]: each module with its symbol state
// as KD shows it: "(pdb symbols)  PATH", "(export symbols)  image", "(deferred)".
CommandResult<> cmd_lm(EngineCore& core, Invocation& call) {
  bool verbose = call.name == "lmv" || call.name == "lmvm";
  bool loaded_only = false, sort_by_name = false, full_path = false, image_names = false, no_unloaded = false;
  std::optional<std::string> pattern;
  std::optional<std::uint64_t> address;
  if (call.name == "lmm" || call.name == "lmvm") {
    call.args.skip_spaces();
    const std::size_t column = call.args.next_column();
    auto p = call.args.take_token();
    if (p.empty()) return std::unexpected(CommandError::syntax(column));
    pattern = std::string(p);
  }
  while (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto option = call.args.take_token();
    std::string lower(option);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "v" || lower == "vm" || lower == "m") {
      if (lower != "m") verbose = true;
      if (lower == "v") continue;
      const std::size_t pattern_column = call.args.next_column();
      auto p = call.args.take_token();
      if (p.empty()) return std::unexpected(CommandError::syntax(pattern_column));
      pattern = std::string(p);
    } else if (lower == "a") {
      auto a = core.expression(call.args);
      if (!a) return std::unexpected(a.error());
      address = *a;
    } else if (lower == "l") {
      loaded_only = true;  // modules whose symbols are loaded
    } else if (lower == "o") {
      no_unloaded = true;  // loaded modules only: no "Unloaded modules:" section
    } else if (lower == "sm") {
      sort_by_name = true;
    } else if (lower == "f") {
      full_path = true;
    } else if (lower == "n") {
      image_names = true;
    } else if (lower == "k") {
      continue;  // kernel modules: every module here is one
    } else {
      return std::unexpected(CommandError::syntax(column));
    }
  }
  std::vector<const debugger::Module*> shown;
  for (const auto& m : core.modules.modules()) {
    if (pattern && !wildcard_match(*pattern, m.name)) continue;
    if (address && !m.contains(*address)) continue;
    if (loaded_only && core.symbols.state_of(m) == debugger::ModuleSymbols::State::deferred) continue;
    shown.push_back(&m);
  }
  if (sort_by_name)
    std::ranges::stable_sort(shown, [](const debugger::Module* a, const debugger::Module* b) {
      std::string x = a->name, y = b->name;
      for (auto& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (auto& c : y) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return x < y;
    });
  core.print("start             end                 module name\n");
  for (const auto* mp : shown) {
    const auto& m = *mp;
    if (full_path || image_names) {
      core.printf("{} {}   {:<10} {}\n", hex64(m.base), hex64(m.end()), m.name,
                  full_path && !m.full_path.empty() ? m.full_path : m.image_name);
      continue;
    }
    // Verbose output loads the module's symbols (KD's lmv does too); plain lm shows the state.
    const auto state = verbose ? core.symbols.load(m).state : core.symbols.state_of(m);
    using State = debugger::ModuleSymbols::State;
    std::string status;
    switch (state) {
      case State::pdb: status = fmt::format("{:<23}{}", "(pdb symbols)", core.symbols.pdb_of(m)->path()); break;
      case State::exports: status = fmt::format("{:<23}{}", "(export symbols)", m.image_name); break;
      case State::none: status = fmt::format("{:<23}{}", "(no symbols)", m.image_name); break;
      case State::deferred: status = "(deferred)"; break;
    }
    core.printf("{} {}   {:<10} {}\n", hex64(m.base), hex64(m.end()), m.name, status);
    if (!verbose) continue;
    const auto& ms = core.symbols.load(m);
    core.printf("    Loaded symbol image file: {}\n", m.image_name);
    if (ms.pdb) core.printf("    Symbol file: {}\n", ms.pdb->path());
    if (ms.rsds)
      core.printf("    PDB: {} GUID {} age {}{}\n", ms.rsds->pdb_name(), ms.rsds->identity.guid_string(), ms.rsds->identity.age,
                  ms.pdb || ms.failure.empty() ? "" : " (" + ms.failure + ")");
    if (!m.full_path.empty()) core.printf("    Image path: {}\n", m.full_path);
    core.printf("    Image name: {}\n", m.image_name);
    if (auto h = debugger::read_pe_headers(core.target, m.base)) {
      core.printf("    Timestamp:        {:08X}\n", h->timestamp);
      core.printf("    CheckSum:         {:08X}\n", h->checksum);
      core.printf("    ImageSize:        {:08X}\n", h->size_of_image);
    }
    core.printf("    Entry point:      {}\n", hex64(m.entry));
    core.printf("    Symbols:          {}\n", ms.symbols.size());
  }
  if (!no_unloaded && !pattern && !address && !loaded_only)
    if (auto unloaded = debugger::read_unloaded_modules(core.target, core.debugger_data()); unloaded && !unloaded->empty()) {
      core.print("\nUnloaded modules:\n");
      for (const auto& u : *unloaded) core.printf("{} {}   {}\n", hex64(u.base), hex64(u.end), u.name);
    }
  if (!core.modules.last_error().empty()) core.printf("(module list: {})\n", core.modules.last_error());
  return {};
}

CommandResult<> cmd_echo(EngineCore& core, Invocation& call) {
  core.printf("{}\n", call.args.take_rest());
  return {};
}

CommandResult<> cmd_logopen(EngineCore& core, Invocation& call) {
  if (core.options.secure)
    return std::unexpected(CommandError::plain(fmt::format("{} is disabled: the session is in secure mode", call.name)));
  call.args.skip_spaces();
  const std::size_t column = call.args.next_column();
  std::string name;
  if (auto q = call.args.take_quoted()) name = *q; else name = std::string(call.args.take_token());
  if (name.empty()) return std::unexpected(CommandError::syntax(column));
  if (auto r = core.expect_end(call.args); !r) return r;
  if (core.log) {
    std::fclose(core.log);
    core.log = nullptr;
  }
  core.log = std::fopen(name.c_str(), call.name == ".logappend" ? "a" : "w");
  if (!core.log) return std::unexpected(CommandError::plain(fmt::format("Unable to open log file '{}'", name)));
  core.printf("Opened log file '{}'\n", name);
  return {};
}

CommandResult<> cmd_logclose(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  if (!core.log) {
    core.print("No log file open\n");
    return {};
  }
  core.print("Closing open log file\n");
  std::fclose(core.log);
  core.log = nullptr;
  return {};
}

CommandResult<> cmd_quit(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  core.print("quit:\n");
  core.quit = true;
  return {};
}

CommandResult<> cmd_kdfiles(EngineCore& core, Invocation& call) {
  if (call.args.at_end()) {
    if (core.kdfiles.empty()) core.print("No KD file associations\n");
    for (const auto& [target_path, host_path] : core.kdfiles) core.printf("{} -> {}\n", target_path, host_path);
    return {};
  }
  if (core.options.secure)
    return std::unexpected(CommandError::plain(".kdfiles changes are disabled: the session is in secure mode"));
  const std::size_t column = call.args.next_column();
  if (call.args.consume_word("-c")) {
    core.kdfiles.clear();
    return core.expect_end(call.args);
  }
  if (!call.args.consume_word("-m")) {
    // .kdfiles FILE: a map file of `map` lines, each followed by a target path and a host path.
    std::string path;
    if (auto q = call.args.take_quoted()) path = *q; else path = std::string(call.args.take_rest());
    if (path.empty()) return std::unexpected(CommandError::syntax(column));
    std::ifstream in(path);
    if (!in) return std::unexpected(CommandError::plain(fmt::format("Unable to open map file '{}'", path)));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      if (!line.empty()) lines.push_back(line);
    }
    std::map<std::string, std::string> map;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::string word = lines[i];
      for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (word != "map") continue;
      if (i + 2 >= lines.size())
        return std::unexpected(CommandError::plain(fmt::format("{}: 'map' at entry {} needs a target path and a host path", path, map.size() + 1)));
      std::string target_path = lines[i + 1];
      for (auto& c : target_path) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      map[target_path] = lines[i + 2];
      i += 2;
    }
    if (map.empty()) return std::unexpected(CommandError::plain(fmt::format("{}: no 'map' entries", path)));
    core.kdfiles = std::move(map);  // a map file replaces the associations, as KD's does
    core.printf("KD file associations loaded from '{}'\n", path);
    for (const auto& [target_path, host_path] : core.kdfiles) core.printf("{} -> {}\n", target_path, host_path);
    return {};
  }
  auto take = [&]() -> std::string {
    if (auto q = call.args.take_quoted()) return *q;
    return std::string(call.args.take_token());
  };
  std::string target_path = take();
  std::string host_path = take();
  if (target_path.empty() || host_path.empty()) return std::unexpected(CommandError::syntax(call.args.column()));
  if (auto r = core.expect_end(call.args); !r) return r;
  for (auto& c : target_path) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  core.printf("{} -> {}\n", target_path, host_path);
  core.kdfiles[target_path] = host_path;
  return {};
}

}  // namespace

void add_info_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"?", cmd_evaluate, "? expression                  evaluate (? alone: this list)"},
      {".formats", cmd_formats, ".formats expression           a value in every format"},
      {"vertarget", cmd_vertarget, "vertarget                     the target's version"},
      {"version", cmd_version, "version                       the debugger's and the target's version"},
      {"lm", cmd_lm, "lm [v] [l] [o] [sm] [f|n] [m pattern] [a address]   list modules (lmv, lmm, lmvm too)"},
      {"lmv", cmd_lm, "lm [v] [l] [o] [sm] [f|n] [m pattern] [a address]   list modules (lmv, lmm, lmvm too)"},
      {"lmm", cmd_lm, "lm [v] [l] [o] [sm] [f|n] [m pattern] [a address]   list modules (lmv, lmm, lmvm too)"},
      {"lmvm", cmd_lm, "lm [v] [l] [o] [sm] [f|n] [m pattern] [a address]   list modules (lmv, lmm, lmvm too)"},
      {".echo", cmd_echo, ".echo text                    print text"},
      {".logopen", cmd_logopen, ".logopen file                 copy the session to a log file"},
      {".logappend", cmd_logopen, ".logappend file               append the session to a log file"},
      {".logclose", cmd_logclose, ".logclose                     close the log file"},
      {".kdfiles", cmd_kdfiles, ".kdfiles [FILE | -m target host | -c]   drivers served to the target"},
      {".help", cmd_help, ".help [command]               this list, or one command's help"},
      {"q", cmd_quit, "q                             quit"},
      {"qq", cmd_quit, "qq                            quit, ending the session for every remote client too"},
  });
}

}  // namespace openkd::commands
