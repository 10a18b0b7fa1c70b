// Session and everyday commands: n, .lastevent, .time, .echotime, .effmach,
// .cls, .expr, .bugcheck, .shell, c (compare), m (move).
// Shapes from Microsoft's command reference pages of the same names.
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

constexpr std::uint64_t kSharedUserData = 0xFFFFF78000000000ull;  // KUSER_SHARED_DATA
constexpr std::uint64_t kInterruptTime = 0x08, kSystemTime = 0x14;  // KSYSTEM_TIME fields
constexpr std::uint64_t kDebuggerDataKiBugcheckData = 0x88;        // KDDEBUGGER_DATA64
constexpr std::uint64_t kFiletimeToUnix = 116444736000000000ull;   // 1601 -> 1970 in 100 ns
constexpr std::uint64_t kMaxCompareBytes = 0x10000000, kMaxMoveBytes = 0x10000000;

// "Mon Dec  7 22:36:06.123 2026 (UTC + 0:00)" for 100-ns units since 1970.
std::string time_text(std::uint64_t unix_100ns) {
  const std::time_t t = static_cast<std::time_t>(unix_100ns / 10'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a %b %e %H:%M:%S", &tm);
  char year[8];
  std::strftime(year, sizeof year, "%Y", &tm);
  return fmt::format("{}.{:03} {} (UTC + 0:00)", buffer, (unix_100ns / 10'000) % 1000, year);
}

std::uint64_t host_now_100ns() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()) * 10;
}

// n [radix]: the default radix of numbers.
CommandResult<> cmd_radix(EngineCore& core, Invocation& call) {
  if (call.args.at_end()) {
    core.printf("base is {}\n", core.radix);
    return {};
  }
  const std::size_t column = call.args.next_column();
  const auto word = call.args.take_token();
  if (auto r = core.expect_end(call.args); !r) return r;
  // The new radix is always read in decimal.
  if (word != "8" && word != "10" && word != "16") return std::unexpected(CommandError::caret("Syntax error (n 8, n 10 or n 16)", column));
  core.radix = static_cast<unsigned>(std::stoul(std::string(word)));
  return {};
}

CommandResult<> cmd_lastevent(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  const auto& stop = core.target.last_stop();
  std::string what = "none";
  if (const auto* e = std::get_if<wire::ExceptionState>(&stop.change.state)) {
    const auto& f = core.event_filters.for_exception(e->record.code);
    what = fmt::format("{} - code {:08x} ({})", f.name == "*" ? "Exception" : f.description, e->record.code,
                       e->first_chance ? "first chance" : "!!! second chance !!!");
  } else if (const auto* l = std::get_if<wire::LoadSymbolsState>(&stop.change.state)) {
    what = fmt::format("{} {} at {}", l->unload ? "Unload module" : "Load module", l->path, hex64(l->base_of_dll));
  } else if (const auto* c = std::get_if<wire::CommandStringState>(&stop.change.state)) {
    what = fmt::format("Command string {}: {}", c->name, c->command);
  }
  core.printf("Last event: {}\n  debugger time: {}\n", what, time_text(host_now_100ns()));
  return {};
}

std::optional<std::uint64_t> ksystem_time(EngineCore& core, std::uint64_t field) {
  auto low = core.read_memory(kSharedUserData + field, 4);
  auto high = core.read_memory(kSharedUserData + field + 4, 4);
  if (!low || !high) return std::nullopt;
  return (*high << 32) | *low;
}

CommandResult<> cmd_time(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  // The target's clock (KUSER_SHARED_DATA.SystemTime) when it has one, else the host's.
  auto system = ksystem_time(core, kSystemTime);
  if (system && *system > kFiletimeToUnix)
    core.printf("Debug session time: {}\n", time_text(*system - kFiletimeToUnix));
  else
    core.printf("Debug session time: {} (the host's clock: the target's KUSER_SHARED_DATA is unreadable)\n",
                time_text(host_now_100ns()));
  if (auto up = ksystem_time(core, kInterruptTime)) {
    const std::uint64_t ms = *up / 10'000;
    core.printf("System Uptime: {} days {}:{:02}:{:02}.{:03}\n", ms / 86'400'000, ms / 3'600'000 % 24, ms / 60'000 % 60,
                ms / 1000 % 60, ms % 1000);
  } else {
    core.print("System Uptime: not available (KUSER_SHARED_DATA.InterruptTime at fffff780`00000008 is unreadable)\n");
  }
  return {};
}

CommandResult<> cmd_echotime(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  core.printf("Debugger (not debuggee) time: {}\n", time_text(host_now_100ns()));
  return {};
}

CommandResult<> cmd_effmach(EngineCore& core, Invocation& call) {
  const std::string_view machine = core.target.version().machine_type == 0x14C ? "x86 (i386)" : "x64 (AMD64)";
  if (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    std::string want(call.args.take_token());
    if (auto r = core.expect_end(call.args); !r) return r;
    for (auto& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool same = want == "." || want == "#" || want == "amd64" || want == "x64";
    if (!same)
      return std::unexpected(CommandError::caret(
          fmt::format("Unsupported machine error ({} only: openkd has no {} processor mode)", machine, want), column));
  }
  core.printf("Effective machine: {}\n", machine);
  return {};
}

CommandResult<> cmd_cls(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  if (core.output.is_terminal()) core.print("\x1b[2J\x1b[H");  // only a terminal has a screen to clear
  return {};
}

CommandResult<> cmd_expr(EngineCore& core, Invocation& call) {
  if (call.args.at_end()) {
    core.print("Current expression evaluator: MASM - Microsoft Assembler expressions\n");
    return {};
  }
  const std::size_t column = call.args.next_column();
  if (call.args.consume_word("/q")) {
    if (auto r = core.expect_end(call.args); !r) return r;
    core.print("Available expression evaluators:\nMASM - Microsoft Assembler expressions\n\n"
               "Current expression evaluator: MASM - Microsoft Assembler expressions\n");
    return {};
  }
  if (!call.args.consume_word("/s")) return std::unexpected(CommandError::syntax(column));
  std::string which(call.args.take_token());
  if (auto r = core.expect_end(call.args); !r) return r;
  for (auto& c : which) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (which != "masm")
    return std::unexpected(CommandError::plain(fmt::format("Expression evaluator '{}' is not available: openkd evaluates MASM only", which)));
  core.print("Current expression evaluator: MASM - Microsoft Assembler expressions\n");
  return {};
}

CommandResult<> cmd_bugcheck(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  const std::uint64_t data = core.debugger_data();
  if (!data) return std::unexpected(CommandError::plain("Unable to read the bug check data: no KDDEBUGGER_DATA64"));
  auto where = read_u64(core.target, data + kDebuggerDataKiBugcheckData);
  std::array<std::uint64_t, 5> v{};
  for (std::size_t i = 0; where && i < v.size(); ++i) {
    auto x = read_u64(core.target, *where + 8 * i);
    if (!x) return std::unexpected(CommandError::plain(fmt::format("Unable to read KiBugCheckData at {}", hex64(*where))));
    v[i] = *x;
  }
  if (!where) return std::unexpected(CommandError::plain("Unable to read the bug check data: KiBugCheckData unknown"));
  core.printf("Bugcheck code {:08X}\nArguments {} {} {} {}\n", static_cast<std::uint32_t>(v[0]), hex64(v[1]), hex64(v[2]),
              hex64(v[3]), hex64(v[4]));
  return {};
}

// .shell [command]: runs a host command (sh -c), its output shown. Refused under -noshell/-secure.
CommandResult<> cmd_shell(EngineCore& core, Invocation& call) {
  if (core.options.noshell || core.options.secure)
    return std::unexpected(CommandError::plain(".shell is disabled for this session (-noshell or -secure)"));
  std::string command(call.args.take_rest());
  if (command.starts_with("-ci ") || command.starts_with("-i ") || command.starts_with("-o ") || command.starts_with("-e "))
    return std::unexpected(CommandError::plain(".shell: the -ci/-i/-o/-e options are not supported; give a command"));
  if (command.empty())
    return std::unexpected(CommandError::plain(".shell without a command would start an interactive shell: give a command"));
  std::FILE* pipe = ::popen((command + " 2>&1 </dev/null").c_str(), "r");
  if (!pipe) return std::unexpected(CommandError::plain(fmt::format(".shell: unable to start '{}'", command)));
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) core.print(std::string_view(buffer, n));
  const int status = ::pclose(pipe);
  core.printf(".shell: Process exited{}\n", status == 0 ? "" : fmt::format(" (status {})", status));
  return {};
}

// c range address: compares two memory areas, showing the bytes that differ.
// `range address`, as c and m take them.
struct RangeAndAddress {
  Range range;
  std::uint64_t address = 0;
};
CommandResult<RangeAndAddress> range_and_address(EngineCore& core, Invocation& call, std::uint64_t max_bytes) {
  auto range = core.range(call.args, std::nullopt, 0, 1, max_bytes);
  if (!range) return std::unexpected(range.error());
  if (range->count == 0) return std::unexpected(CommandError::syntax(call.args.column()));
  auto address = core.expression(call.args);
  if (!address) return std::unexpected(address.error());
  if (auto r = core.expect_end(call.args); !r) return std::unexpected(r.error());
  return RangeAndAddress{*range, *address};
}

CommandResult<> cmd_compare(EngineCore& core, Invocation& call) {
  auto args = range_and_address(core, call, kMaxCompareBytes);
  if (!args) return std::unexpected(args.error());
  const Range* range = &args->range;
  const std::uint64_t* other = &args->address;
  const auto a = core.read_block(range->address, range->count);
  const auto b = core.read_block(*other, range->count);
  for (std::size_t i = 0; i < range->count; ++i) {
    if (core.take_cancel()) break;
    const auto x = a.value(i, 1), y = b.value(i, 1);
    if (x && y && *x == *y) continue;
    core.printf("{}  {} - {}  {}\n", hex64(range->address + i), x ? fmt::format("{:02x}", *x) : "??", hex64(*other + i),
                y ? fmt::format("{:02x}", *y) : "??");
  }
  return {};
}

// m range address: copies memory (overlapping areas as if through a buffer).
CommandResult<> cmd_move(EngineCore& core, Invocation& call) {
  auto args = range_and_address(core, call, kMaxMoveBytes);
  if (!args) return std::unexpected(args.error());
  const Range* range = &args->range;
  const std::uint64_t* destination = &args->address;
  const auto block = core.read_block(range->address, range->count);
  if (!block.all_valid()) {
    std::size_t bad = 0;
    while (block.valid[bad]) ++bad;
    return std::unexpected(CommandError::plain(fmt::format("Memory access error at {}", hex64(range->address + bad))));
  }
  auto written = core.target.write_virtual(*destination, block.bytes);
  core.forget_state();
  if (!written || *written < block.bytes.size())
    return std::unexpected(CommandError::plain(fmt::format("Memory write error at {}", hex64(*destination + (written ? *written : 0)))));
  return {};
}

// dl[b] address [max [size]]: walks a LIST_ENTRY chain (Flink; dlb: Blink),
// `size` qwords of each entry a line, until the chain comes back or `max` entries.
CommandResult<> cmd_dl(EngineCore& core, Invocation& call) {
  const bool backwards = call.name == "dlb";
  auto head = core.expression(call.args);
  if (!head) return std::unexpected(head.error());
  std::uint64_t max = 0x20, size = 2;
  if (!call.args.at_end()) {
    auto m = core.expression(call.args);
    if (!m) return std::unexpected(m.error());
    max = *m;
  }
  if (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto z = core.expression(call.args);
    if (!z) return std::unexpected(z.error());
    if (*z < 2 || *z > 0x100) return std::unexpected(CommandError::caret("Range error (size: 2 to 100 pointers)", column));
    size = *z;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  std::uint64_t at = *head;
  for (std::uint64_t n = 0; n < max && !core.take_cancel(); ++n) {
    const auto block = core.read_block(at, size * 8);
    std::string line = hex64(at) + " ";
    for (std::uint64_t k = 0; k < size; ++k) {
      auto v = block.value(k * 8, 8);
      line += " " + (v ? hex64(*v) : std::string("????????`????????"));
    }
    core.printf("{}\n", line);
    auto next = block.value(backwards ? 8 : 0, 8);
    if (!next || *next == *head || *next == 0) break;
    at = *next;
  }
  return {};
}

}  // namespace

void add_session_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"n", cmd_radix, "n [8|10|16]                   show or set the default radix"},
      {".lastevent", cmd_lastevent, ".lastevent                    the last event the target reported"},
      {".time", cmd_time, ".time                         the target's time and uptime"},
      {".echotime", cmd_echotime, ".echotime                     the debugger's time"},
      {".effmach", cmd_effmach, ".effmach [. | # | amd64]      the effective machine (x64 only)"},
      {".cls", cmd_cls, ".cls                          clear the screen"},
      {".expr", cmd_expr, ".expr [/q | /s masm]          the expression evaluator (MASM)"},
      {".bugcheck", cmd_bugcheck, ".bugcheck                     the bug check code and arguments"},
      {".shell", cmd_shell, ".shell command                run a host command (not with -noshell/-secure)", {},
       kNotInSecureMode | kHostOnly},
      {"dl", cmd_dl, "dl[b] address [max [size]]    walk a LIST_ENTRY chain (dlb: by Blink)", "dlb"},
      {"c", cmd_compare, "c range address               compare memory"},
      {"m", cmd_move, "m range address               move (copy) memory"},
  });
}

}  // namespace openkd::commands
