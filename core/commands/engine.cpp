#include "core/commands/engine.hpp"

#include <algorithm>
#include <cctype>
#include <exception>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/commands/registers.hpp"
#include "core/debugger/pdb_types.hpp"
#include "core/commands/script.hpp"
#include "core/debugger/pe.hpp"

namespace openkd::commands {

// ---- Engine: the public face -------------------------------------------------

Engine::Engine(debugger::Target& target, Output& output, EngineOptions options)
    : core_(std::make_unique<EngineCore>(target, output, options)) {}
Engine::~Engine() = default;
void Engine::execute(std::string_view line) { execute(line, CommandOrigin{}); }
void Engine::execute(std::string_view line, const CommandOrigin& origin) {
  core_->origin = origin;
  core_->execute(line);
  core_->origin = {};
}
void Engine::add_family(CommandFamily family) {
  for (auto& c : family.commands) core_->family_commands.push_back(std::move(c));
}
void Engine::set_type_provider(std::shared_ptr<debugger::types::TypeProvider> provider) {
  core_->type_provider = std::move(provider);
}
std::string Engine::prompt() const { return core_->prompt(); }
bool Engine::quit_requested() const { return core_->quit; }
bool Engine::shows_target_output() const {
  return core_->show_target_output.load();
}
bool Engine::passes_over_at_connect(const debugger::StopEvent& stop, const EngineOptions& options) {
  return std::holds_alternative<wire::LoadSymbolsState>(stop.change.state) && !options.break_on_module_load;
}
void Engine::report_stop(const debugger::StopEvent& stop) { core_->report_stop(stop); }
void Engine::invalidate() { core_->forget_everything(); }
void Engine::request_cancel() { core_->cancel_requested.store(true); }
const std::map<std::string, std::string>& Engine::kdfiles() const { return core_->kdfiles; }
const EngineOptions& Engine::options() const { return core_->options; }
const BreakpointTable& Engine::breakpoints() const { return core_->breakpoints; }

// ---- EngineCore ----------------------------------------------------------------

namespace {
// A breakpoint command that runs `g` and hits itself again would queue lines
// forever; KD would too, but a single execute() call must return.
constexpr std::size_t kMaxLinesPerExecute = 10000;
constexpr std::size_t kPage = 0x1000;
constexpr std::uint64_t kHardRangeFactor = 64;
constexpr std::uint64_t kUnlimitedRange = 0x10000000;  // L?: up to 256 MiB (db 0 L?10000000)
}  // namespace

std::optional<std::uint64_t> read_u64(debugger::TargetMemory& target, std::uint64_t address) {
  std::array<std::uint8_t, 8> raw{};
  if (!debugger::read_exact(target, address, raw)) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | raw[i];
  return v;
}

bool MemoryBlock::all_valid() const { return std::ranges::all_of(valid, [](bool v) { return v; }); }
bool MemoryBlock::any_valid() const { return std::ranges::any_of(valid, [](bool v) { return v; }); }

std::optional<std::uint64_t> MemoryBlock::value(std::size_t offset, unsigned size) const {
  if (offset + size > bytes.size()) return std::nullopt;
  std::uint64_t v = 0;
  for (unsigned i = size; i-- > 0;) {
    if (!valid[offset + i]) return std::nullopt;
    v = (v << 8) | bytes[offset + i];
  }
  return v;
}

EngineCore::EngineCore(debugger::Target& t, Output& o, EngineOptions opts)
    : target(t), output(o), options(opts), modules(t, debugger::kernel_location(t.version())), symbols(t, modules) {
  add_execution_commands(commands);
  add_breakpoint_commands(commands);
  add_memory_commands(commands);
  add_code_commands(commands);
  add_memory_file_commands(commands);
  add_physical_commands(commands);
  add_register_commands(commands);
  add_io_commands(commands);
  add_symbol_commands(commands);
  add_info_commands(commands);
  add_stack_commands(commands);
  add_extension_commands(commands);
  add_type_commands(commands);
  symbols.set_symbol_path(options.symbol_path);
  symbols.source_lines = options.source_lines;
  symbols.notice = [this](const std::string& line) { print(line + "\n"); };
  // dt and the type-driven extensions read types from the modules' PDBs (a
  // test may connect another provider with Engine::set_type_provider).
  type_provider = debugger::types::make_pdb_type_provider(modules, symbols);
  add_script_commands(commands);
  add_event_commands(commands);
  add_session_commands(commands);
}

EngineCore::~EngineCore() {
  if (log) std::fclose(log);
}

std::string EngineCore::prompt() const {
  if (target.number_processors() > 1) return fmt::format("{}: kd> ", target.current_processor());
  return "kd> ";
}

void EngineCore::print(std::string_view text) {
  if (capture) {
    capture->append(text);
    return;
  }
  output.write(text);
  if (log) std::fwrite(text.data(), 1, text.size(), log);
}

bool EngineCore::link_failure(const debugger::Error& e) {
  using debugger::ErrorKind;
  // Unreadable memory (a failure status) is what `??` means; anything else is
  // the link or the target misbehaving, and the user is told why, once.
  if (e.kind == ErrorKind::Status || e.kind == ErrorKind::Failed) return false;
  if (!link_failure_reported) {
    link_failure_reported = true;
    print(fmt::format("Memory read failed: {}\n", e.message));
  }
  return true;
}

bool EngineCore::take_cancel() {
  if (!cancel_requested.exchange(false)) return false;
  print("^C: stopped between steps\n");
  return true;
}

namespace {
// KD repeats the last command on an empty line for t and p (the same command
// again) and for d* and u (the command alone: it continues where it stopped).
std::string repeat_of(std::string_view line) {
  std::string text(line);
  if (text.find(';') != std::string::npos) return {};
  std::size_t b = text.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  text.erase(0, b);
  std::string word = text.substr(0, text.find_first_of(" \t"));
  for (char& c : word) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (word == "t" || word == "p") return text;
  if (word == "u") return "u";
  static const char* dumps[] = {"d", "db", "dw", "dd", "dq", "dc", "da", "du", "dp", "dps", "dqs", "dds", "dyb", "df", "dD"};
  for (const char* d : dumps)
    if (word == d) return word;
  return {};
}
}  // namespace

void EngineCore::execute(std::string_view line) {
  cancel_requested.store(false);  // a cancel aimed at an earlier command is stale
  std::string repeated;
  if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    if (repeat_line.empty()) return;
    repeated = repeat_line;
    line = repeated;
  } else {
    repeat_line = repeat_of(line);
  }
  if (log) fmt::print(log, "{}{}\n", prompt(), line);
  link_failure_reported = false;
  queued_lines.emplace_back(line);
  std::size_t budget = kMaxLinesPerExecute;
  while (!queued_lines.empty() && !quit && budget-- > 0) {
    const std::string current = std::move(queued_lines.front());
    queued_lines.pop_front();
    run_program(*this, current);
  }
  queued_lines.clear();
}

namespace {
// A family command's output goes where the engine's does (and to the log).
class CoreOutput final : public Output {
public:
  explicit CoreOutput(EngineCore& core) : core_(core) {}
  void write(std::string_view text) override { core_.print(text); }
  bool is_terminal() const override { return core_.output.is_terminal(); }

private:
  EngineCore& core_;
};
}  // namespace

bool CommandSpec::answers_to(std::string_view n) const {
  if (n == name) return true;
  for (std::size_t at = 0; at < aliases.size();) {
    std::size_t end = aliases.find(' ', at);
    if (end == std::string_view::npos) end = aliases.size();
    if (aliases.substr(at, end - at) == n) return true;
    at = end + 1;
  }
  return false;
}

const CommandSpec* EngineCore::find_command(std::string_view name) const {
  for (const auto& spec : commands)
    if (spec.answers_to(name)) return &spec;
  return nullptr;
}

void EngineCore::run_command(CommandText command, std::optional<CommandName> known) {
  const CommandName parsed = known ? *known : parse_command_name(command.text);
  if (auto family = std::ranges::find(family_commands, parsed.name, &FamilyCommand::name);
      !parsed.name.empty() && family != family_commands.end()) {
    std::string_view args = command.text.substr(parsed.args_offset);
    while (!args.empty() && std::isspace(static_cast<unsigned char>(args.front()))) args.remove_prefix(1);
    CoreOutput out(*this);
    try {
      if (family->run(args, origin, out) == FamilyResult::done) return;
    } catch (const std::exception& e) {
      printf("Internal error in '{}': {}\n", command.text, e.what());
      return;
    }
  }
  Invocation call{parsed.name, command, ArgCursor(command.text.substr(parsed.args_offset), command.column + parsed.args_offset)};
  const CommandSpec* spec = find_command(parsed.name);
  if (parsed.name.empty() || !spec || !spec->handler) {
    print_error(CommandError::caret("Unknown command", command.column), command);
    return;
  }
  // Who may run it comes from the table (secure mode, remote clients).
  if ((spec->access & kNotInSecureMode) && options.secure) {
    printf("{} is disabled for this session (secure mode)\n", parsed.name);
    return;
  }
  if ((spec->access & kHostOnly) && !origin.is_host()) {
    printf("{} is refused: a remote client may not run it on the debugger's host\n", parsed.name);
    return;
  }
  try {
    if (auto r = spec->handler(*this, call); !r) print_error(r.error(), command);
  } catch (const std::exception& e) {  // last line of defence: a command never ends the session
    printf("Internal error in '{}': {}\n", command.text, e.what());
  }
}

void EngineCore::print_error(const CommandError& error, const CommandText& command) {
  switch (error.style) {
    case CommandError::Style::Caret:
      printf("{}^ {} in '{}'\n", std::string(prompt().size() + error.column, ' '), error.kind, command.text);
      break;
    case CommandError::Style::At: {
      const std::size_t offset = error.column >= command.column ? error.column - command.column : 0;
      printf("{} at '{}'\n", error.kind, command.text.substr(std::min(offset, command.text.size())));
      break;
    }
    case CommandError::Style::Plain:
      printf("{}\n", error.kind);
      break;
  }
}

// ---- cached state --------------------------------------------------------------

CommandResult<wire::Context> EngineCore::context() {
  if (!context_cache_) {
    auto ctx = target.get_context();
    if (!ctx) return std::unexpected(CommandError::plain("Unable to get the processor context: " + ctx.error().message));
    context_cache_ = *ctx;
  }
  return *context_cache_;
}

CommandResult<> EngineCore::set_context(const wire::Context& ctx) {
  if (auto r = target.set_context(ctx); !r) {
    context_cache_.reset();
    return std::unexpected(CommandError::plain("Unable to set the processor context: " + r.error().message));
  }
  context_cache_ = ctx;
  return {};
}

void EngineCore::forget_state() { context_cache_.reset(); }

void EngineCore::forget_everything() {
  forget_state();
  debugger_data_cache_.reset();
  target_search_trusted.reset();
  modules.refresh(debugger::kernel_location(target.version()));  // a reboot may move the kernel
  symbols.refresh();
}

std::uint64_t EngineCore::debugger_data() {
  if (debugger_data_cache_) return *debugger_data_cache_;
  std::uint64_t found = 0;
  // DebuggerDataList is the address of a list head whose Flink is KDDEBUGGER_DATA64.List.
  if (const auto head = target.version().debugger_data_list; head != 0) {
    if (auto data = read_u64(target, head); data && *data != 0) {
      std::array<std::uint8_t, 4> tag{};
      if (debugger::read_exact(target, *data + 0x10, tag) && tag == std::array<std::uint8_t, 4>{'K', 'D', 'B', 'G'})
        found = *data;
    }
  }
  debugger_data_cache_ = found;
  return found;
}

// ---- expressions -----------------------------------------------------------------

CommandResult<std::uint64_t> EngineCore::expression(ArgCursor& args) { return evaluate(args, *this); }

CommandResult<> EngineCore::expect_end(ArgCursor& args) {
  if (!args.at_end()) return std::unexpected(CommandError::caret("Extra character error", args.column()));
  return {};
}

namespace {
// `L` starts a length when what follows can start a count (`L10`, `L?20`, `L 0n16`, `L(x)`).
bool at_length_prefix(ArgCursor& args) {
  const char c = args.peek();
  if (c != 'l' && c != 'L') return false;
  const auto rest = args.rest();
  if (rest.size() < 2) return false;
  const char next = rest[1];
  return next == '?' || next == '(' || next == '@' || next == ' ' || std::isxdigit(static_cast<unsigned char>(next));
}
}  // namespace

CommandResult<Range> EngineCore::range(ArgCursor& args, std::optional<std::uint64_t> default_address,
                                       std::uint64_t default_count, unsigned element_size, std::uint64_t max_bytes) {
  Range r{0, default_count};
  const std::size_t start_column = args.column();
  if (args.at_end() || at_length_prefix(args)) {
    if (!default_address) return std::unexpected(CommandError::syntax(args.column()));
    r.address = *default_address;
  } else {
    auto address = expression(args);
    if (!address) return std::unexpected(address.error());
    r.address = *address;
  }
  if (at_length_prefix(args)) {
    args.set_offset(args.rest().data() - args.text().data() + 1);
    const bool unlimited = args.consume('?');
    const std::size_t count_column = args.column();
    auto count = expression(args);
    if (!count) return std::unexpected(count.error());
    // L? lifts the soft limit (KD's "size too large" guard), not the hard one.
    // L? lifts the size limit (KD's way past "size too large"); reads stay cancellable (Ctrl-C).
    const std::uint64_t limit = unlimited ? std::max<std::uint64_t>(max_bytes * kHardRangeFactor, kUnlimitedRange) : max_bytes;
    if (*count == 0 || *count > limit / element_size)
      return std::unexpected(CommandError::caret("Range error", count_column));
    r.count = *count;
  } else if (!args.at_end() && args.peek() != '"') {
    // A second expression is the end address (inclusive), as in `db 1000 10ff`.
    const std::size_t saved = args.offset();
    const std::size_t end_column = args.column();
    auto end = expression(args);
    if (!end) {
      args.set_offset(saved);
      return r;
    }
    if (*end < r.address || (*end - r.address) / element_size >= max_bytes / element_size)
      return std::unexpected(CommandError::caret("Range error", end_column));
    r.count = (*end - r.address) / element_size + 1;
    r.end_given = true;
  }
  (void)start_column;
  return r;
}

std::optional<std::uint64_t> EngineCore::register_value(std::string_view name) {
  if (auto v = pseudo_register(name)) return v;
  if (special_register_bits(name)) {
    auto s = target.get_special_registers();
    return s ? get_special_register(*s, name) : std::nullopt;
  }
  if (name == "efer") {  // not in the special-registers block: the MSR (IA32_EFER, 0xC0000080)
    auto v = target.read_msr(kMsrEfer);
    return v ? std::optional(*v) : std::nullopt;
  }
  auto ctx = context();
  if (!ctx) return std::nullopt;
  if (auto v = get_extended_register(*ctx, name)) return v;
  return get_register(*ctx, name);
}

namespace {
// KDDEBUGGER_DATA64 (wdbgexts.h): its Size (ULONG at +0x14) and the USHORT field offsets used here.
constexpr std::uint64_t kDebuggerDataSize = 0x14;
constexpr std::uint64_t kOffsetKThreadTeb = 0x29A;
constexpr std::uint64_t kOffsetKThreadApcProcess = 0x2A0;
constexpr std::uint64_t kOffsetEprocessPeb = 0x2AA;
}  // namespace

std::optional<std::uint64_t> EngineCore::debugger_data_offset(std::uint64_t field) {
  const std::uint64_t data = debugger_data();
  if (!data) return std::nullopt;
  auto size = read_memory(data + kDebuggerDataSize, 4);
  if (!size || *size < field + 2) return std::nullopt;  // an older, shorter block
  auto v = read_memory(data + field, 2);
  if (!v || *v == 0) return std::nullopt;
  return *v;
}

std::optional<std::uint64_t> EngineCore::pseudo_register(std::string_view name) {
  // $t0..$t19
  if (name.size() >= 3 && name.size() <= 4 && name.starts_with("$t") && std::isdigit(static_cast<unsigned char>(name[2]))) {
    const auto n = parse_number(name.substr(2), 10);
    if (n && *n < user_registers.size() && (name.size() == 3 || name[2] != '0')) return user_registers[*n];
    return std::nullopt;
  }
  if (name == "$ptrsize") return target.version().machine_type == 0x14C ? 4 : 8;
  if (name == "$thread" || name == "$prcb" || name == "$pcr") {
    const std::uint64_t which = name == "$pcr" ? 0 : name == "$prcb" ? 1 : 3;
    auto v = target.read_control_pointer(which);
    return v ? std::optional(*v) : std::nullopt;
  }
  // The current thread's ApcState.Process, TEB and its process's PEB, at the
  // offsets the kernel's debugger data block gives.
  if (name == "$proc" || name == "$teb" || name == "$peb") {
    auto thread = target.read_control_pointer(3);
    if (!thread || *thread == 0) return std::nullopt;
    if (name == "$teb") {
      auto off = debugger_data_offset(kOffsetKThreadTeb);
      return off ? read_memory(*thread + *off, 8) : std::nullopt;
    }
    auto apc = debugger_data_offset(kOffsetKThreadApcProcess);
    if (!apc) return std::nullopt;
    auto process = read_memory(*thread + *apc, 8);
    if (name == "$proc" || !process) return process;
    auto peb = debugger_data_offset(kOffsetEprocessPeb);
    return peb ? read_memory(*process + *peb, 8) : std::nullopt;
  }
  // The kernel image's entry point (kernel mode has no "first executable").
  if (name == "$exentry") {
    if (const auto* nt = modules.find("nt")) return nt->entry;
    return std::nullopt;
  }
  if (name.starts_with("$bp") && name.size() > 3) {
    const auto id = parse_number(name.substr(3), 10);
    if (!id) return std::nullopt;
    const Breakpoint* bp = breakpoints.find(static_cast<unsigned>(*id));
    if (!bp || bp->deferred) return std::nullopt;
    return bp->address;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> EngineCore::symbol_value(std::string_view name) {
  if (name.find('!') == std::string_view::npos)
    if (const auto* m = modules.find(name)) return m->base;
  return symbols.address_of(name);
}

std::optional<std::uint64_t> EngineCore::read_memory(std::uint64_t address, unsigned size) {
  auto block = read_block(address, size);
  return block.value(0, size);
}

// ---- memory ------------------------------------------------------------------------

MemoryBlock EngineCore::read_block(std::uint64_t address, std::size_t size, bool physical) {
  MemoryBlock block{address, std::vector<std::uint8_t>(size), std::vector<bool>(size, false)};
  std::size_t done = 0;
  while (done < size) {
    // Ctrl-C between round trips: the rest stays unreadable (the command reports the cancel).
    if (cancel_requested.load()) break;
    const std::uint64_t at = address + done;
    auto span = std::span(block.bytes).subspan(done);
    auto got = physical ? target.read_physical(at, span) : target.read_virtual(at, span);
    if (!got && link_failure(got.error())) break;
    if (got && *got > 0) {
      const std::size_t n = std::min(*got, size - done);
      std::fill_n(block.valid.begin() + done, n, true);
      done += n;
    } else {
      // Unreadable: give up on the rest of this page and try the next one.
      const std::size_t to_page_end = kPage - (at % kPage);
      done += std::min(to_page_end, size - done);
    }
  }
  return block;
}

// ---- code ----------------------------------------------------------------------------

std::string EngineCore::describe(std::uint64_t address) { return symbols.describe(address); }

std::optional<Instruction> EngineCore::instruction_at(std::uint64_t address) {
  auto block = read_block(address, 16);
  std::size_t readable = 0;
  while (readable < block.valid.size() && block.valid[readable]) ++readable;
  if (readable == 0) return std::nullopt;
  return decode_instruction(address, std::span(block.bytes).first(readable),
                            [this](std::uint64_t a) { return describe(a); });
}

void EngineCore::print_code_location(std::uint64_t address) {
  if (auto name = describe(address); !name.empty()) {
    auto line = symbols.source_lines ? symbols.line_of(address) : std::nullopt;  // -n, .lines
    printf("{}{}:\n", name, line ? fmt::format(" [{} @ {}]", line->file, line->line) : std::string());
  }
  if (auto in = instruction_at(address))
    printf("{}\n", format_instruction(*in));
  else
    printf("{}\n", format_unreadable_instruction(address));
}

void EngineCore::print_registers_and_location() {
  auto ctx = context();
  if (!ctx) {
    print_error(ctx.error(), {});
    return;
  }
  print(register_block(*ctx));
  print_code_location(ctx->rip);
}

}  // namespace openkd::commands
