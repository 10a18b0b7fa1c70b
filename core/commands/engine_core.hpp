// What every command family shares: the target, the output (and log), the
// target model (modules, symbols), the breakpoint list, cached registers,
// expression evaluation and memory helpers. Internal to core/commands.
#pragma once
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/commands/breakpoints.hpp"
#include "core/commands/disasm.hpp"
#include "core/commands/engine.hpp"
#include "core/commands/errors.hpp"
#include "core/commands/event_filters.hpp"
#include "core/commands/expression.hpp"
#include "core/commands/tokenizer.hpp"
#include "core/debugger/modules.hpp"
#include "core/debugger/symbols.hpp"

namespace openkd::commands {

class EngineCore;

/// One command being run: its name, its text and a cursor over its arguments.
struct Invocation {
  std::string name;
  CommandText command;  // the whole command ("db rsp L10") and its column in the line
  ArgCursor args;
};

using CommandHandler = CommandResult<> (*)(EngineCore& core, Invocation& call);

/// Who may run a command (CommandSpec::access; flags combine).
enum CommandAccess : unsigned {
  kAnyone = 0,
  kNotInSecureMode = 1,  ///< refused under -secure (host files, host processes)
  kHostOnly = 2,         ///< refused from a remote client (runs something on the host)
};

/// Commands are data: a name, its handler and a line of help; then (all
/// optional, so three-field rows still compile) other names the row answers
/// to, who may run it, and more help for `.help name`. A row without a handler
/// is a token the program parser handles itself (script.cpp: .if, .for, $$ ...).
struct CommandSpec {
  std::string_view name;
  CommandHandler handler;
  std::string_view help;
  std::string_view aliases = {};  ///< other names, space separated ("sxd sxn sxi")
  unsigned access = kAnyone;      ///< CommandAccess flags
  std::string_view details = {};  ///< further lines of `.help name`
  bool answers_to(std::string_view n) const;
};

// Each family adds its commands (one file each).
void add_execution_commands(std::vector<CommandSpec>& table);
void add_breakpoint_commands(std::vector<CommandSpec>& table);
void add_memory_commands(std::vector<CommandSpec>& table);
void add_code_commands(std::vector<CommandSpec>& table);
void add_memory_file_commands(std::vector<CommandSpec>& table);
void add_physical_commands(std::vector<CommandSpec>& table);
void add_register_commands(std::vector<CommandSpec>& table);
void add_info_commands(std::vector<CommandSpec>& table);
void add_symbol_commands(std::vector<CommandSpec>& table);
void add_io_commands(std::vector<CommandSpec>& table);
void add_stack_commands(std::vector<CommandSpec>& table);
void add_extension_commands(std::vector<CommandSpec>& table);
void add_type_commands(std::vector<CommandSpec>& table);
void add_script_commands(std::vector<CommandSpec>& table);
void add_event_commands(std::vector<CommandSpec>& table);
void add_session_commands(std::vector<CommandSpec>& table);

/// Bytes read from the target with a validity flag per byte (unreadable bytes print as ??).
struct MemoryBlock {
  std::uint64_t address = 0;
  std::vector<std::uint8_t> bytes;
  std::vector<bool> valid;
  bool all_valid() const;
  bool any_valid() const;
  /// Little-endian value of `size` bytes at `offset`; nullopt if any is unreadable.
  std::optional<std::uint64_t> value(std::size_t offset, unsigned size) const;
};

/// A range as commands take it: `addr`, `addr L count`, `addr L?count`, `addr end`.
struct Range {
  std::uint64_t address = 0;
  std::uint64_t count = 0;  // elements
  bool end_given = false;   // `addr end` rather than a count
};

class EngineCore final : public ExpressionContext {
public:
  EngineCore(debugger::Target& target, Output& output, EngineOptions options);
  ~EngineCore() override;

  debugger::Target& target;
  Output& output;
  EngineOptions options;
  /// sx: what each event and exception does (initially ld/ud/iml break under -d).
  EventFilters event_filters{options.break_on_module_load};
  /// The `out` filter, read by the session's I/O thread (Engine::shows_target_output).
  std::atomic<bool> show_target_output{true};
  /// How the engine continues past a stop its filters pass over (set per stop).
  std::uint32_t filtered_continue_status = wire::kDbgContinue;
  debugger::ModuleList modules;
  debugger::SymbolTable symbols;
  BreakpointTable breakpoints;
  std::vector<CommandSpec> commands;
  std::vector<FamilyCommand> family_commands;  // Engine::add_family
  CommandOrigin origin;                        // who issued the line being run
  std::map<std::string, std::string> kdfiles;

  // --- running lines
  void execute(std::string_view line);
  /// Runs one command; `parsed` names it when the caller knows better ($$><file).
  void run_command(CommandText command, std::optional<CommandName> parsed = std::nullopt);
  /// The command table's row for a name (lowercase), or nullptr.
  const CommandSpec* find_command(std::string_view name) const;
  /// User-named aliases (as, aS, al, ad), replaced before a command program is parsed.
  std::map<std::string, std::string> aliases;
  /// While set, printed text goes here instead of the output (as /c, .foreach's InCommands).
  std::string* capture = nullptr;
  /// Script files being run (bounds recursion).
  unsigned script_depth = 0;
  /// $t0..$t19: the user-defined pseudo-registers.
  std::array<std::uint64_t, 20> user_registers{};
  std::string prompt() const;
  bool quit = false;
  std::deque<std::string> queued_lines;  // breakpoint commands, run after the current line
  std::string repeat_line;               // what an empty line runs again (t, p, d*, u)

  // --- output (also copied to the open log)
  void print(std::string_view text);
  template <class... Args>
  void printf(fmt::format_string<Args...> f, Args&&... args) {
    print(fmt::format(f, std::forward<Args>(args)...));
  }
  void print_error(const CommandError& error, const CommandText& command);
  std::FILE* log = nullptr;

  // --- cached target state (forgotten whenever the target runs)
  CommandResult<wire::Context> context();
  CommandResult<> set_context(const wire::Context& ctx);
  void forget_state();       // registers and debugger data (after run/step)
  void forget_everything();  // also modules and symbols (load/unload, reboot)
  /// KDDEBUGGER_DATA64's address, from GetVersion's DebuggerDataList; 0 if unknown.
  std::uint64_t debugger_data();

  // --- expressions and arguments
  CommandResult<std::uint64_t> expression(ArgCursor& args);
  /// `addr [L count | L?count | end]`; `count` is in elements of `element_size` bytes.
  /// Without an address, `default_address` is used (nullopt: the address is required).
  CommandResult<Range> range(ArgCursor& args, std::optional<std::uint64_t> default_address,
                             std::uint64_t default_count, unsigned element_size, std::uint64_t max_bytes);
  CommandResult<> expect_end(ArgCursor& args);

  std::optional<std::uint64_t> register_value(std::string_view name) override;
  /// $t0-$t19, $ptrsize, $thread, $prcb, $pcr, $proc, $teb, $peb, $exentry, $bpN;
  /// nullopt if not one or not available ($ip, $csp, $retreg come from the context).
  std::optional<std::uint64_t> pseudo_register(std::string_view name);
  /// A USHORT offset field of KDDEBUGGER_DATA64 (at `field`); nullopt if absent or zero.
  std::optional<std::uint64_t> debugger_data_offset(std::uint64_t field);
  static constexpr std::uint32_t kMsrEfer = 0xC0000080;
  /// The register display mask (rm, rM): 2 integer, 4 x87, 8 segments, 0x20 debug,
  /// 0x40 xmm, 0x80 control, 0x100 descriptor and task registers.
  std::uint32_t register_mask = 0x2;
  std::optional<std::uint64_t> symbol_value(std::string_view name) override;
  std::optional<std::uint64_t> read_memory(std::uint64_t address, unsigned size) override;
  unsigned default_radix() override { return radix; }
  unsigned radix = 16;  ///< n [8|10|16]

  // --- memory
  MemoryBlock read_block(std::uint64_t address, std::size_t size, bool physical = false);

  // --- code
  /// "nt!KeBugCheckEx+0x4" or "" for addresses outside every module.
  std::string describe(std::uint64_t address);
  std::optional<Instruction> instruction_at(std::uint64_t address);
  /// `nt!Sym+0x4:` (if known) and the disassembly line at `address`.
  void print_code_location(std::uint64_t address);
  /// The register block, then the code location at rip: what p and t print.
  void print_registers_and_location();

  // --- stops
  void report_stop(const debugger::StopEvent& stop);
  /// "Breakpoint N hit", the location; queues the breakpoint's commands.
  void report_breakpoint_hit(const Breakpoint& bp, std::uint64_t address);
  /// The stop is KeBugCheckEx's DbgBreakPointWithStatus(DBG_STATUS_BUGCHECK_FIRST).
  bool is_bugcheck(const debugger::StopEvent& stop);
  /// Sticky state the `d*`, `u` and `e*` commands continue from.
  std::uint64_t next_dump_address = 0;
  bool have_dump_address = false;
  std::string last_dump_command = "db";
  std::uint64_t next_unassemble_address = 0;
  bool have_unassemble_address = false;
  /// Set by Engine::request_cancel (any thread); multi-step commands check it between steps.
  std::atomic<bool> cancel_requested{false};
  /// True (once) if a cancel arrived since the last call; prints KD's notice.
  bool take_cancel();
  /// True if `e` is a link or protocol failure rather than unreadable memory;
  /// says so (once per command line) so `??` is never the only sign of it.
  bool link_failure(const debugger::Error& e);
  bool link_failure_reported = false;
  /// The last exception the target reported, for `g` after it (not-handled by default).
  std::uint32_t last_exception_code = 0;
  /// Whether the target's SearchMemory found what it should (`s`); unknown until asked.
  std::optional<bool> target_search_trusted;
  /// The stack commands' state (core/commands/stack.hpp): module unwind directories, the selected frame.
  std::shared_ptr<void> stack_state;
  /// Types for dt (Engine::set_type_provider); null: none connected.
  std::shared_ptr<debugger::types::TypeProvider> type_provider;

private:
  std::optional<wire::Context> context_cache_;
  std::optional<std::uint64_t> debugger_data_cache_;
};

/// Reads a u64 from the target; nullopt if unreadable.
std::optional<std::uint64_t> read_u64(debugger::TargetMemory& memory, std::uint64_t address);

}  // namespace openkd::commands
