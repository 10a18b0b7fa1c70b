// The KD command engine: a typed line in, KD-shaped text out, over an abstract
// debugger::Target. kd's console, the remoting server and the tests all drive
// it the same way:
//
//   Engine engine(target, output);
//   engine.report_stop(first_stop);          // the stop that began the session
//   while (!engine.quit_requested()) { show(engine.prompt()); engine.execute(read_line()); }
//
// Not thread-safe: one thread calls it (Target::request_break may come from another).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/commands/breakpoints.hpp"
#include "core/commands/command_family.hpp"
#include "core/commands/output.hpp"
#include "core/debugger/target.hpp"

namespace openkd::debugger::types {
class TypeProvider;
}

namespace openkd::commands {

struct EngineOptions {
  /// Remoting's secure mode: no host file writes (.writemem, .logopen/.logappend)
  /// and no .kdfiles changes; .shell refused.
  bool secure = false;
  /// .shell refused.
  bool noshell = false;
  /// Stop (and report) on module load/unload events instead of continuing (sxe ld).
  bool break_on_module_load = false;
  /// The symbol path (-y, else _NT_SYMBOL_PATH; see core/symbols/symbol_path.hpp).
  std::string symbol_path;
  /// -n: source line information shown with locations (as .lines).
  bool source_lines = false;
};

class EngineCore;

class Engine {
public:
  Engine(debugger::Target& target, Output& output, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Runs one typed line (commands separated by ';'). Errors are printed, never thrown.
  /// Blocks while the target runs (g, p, t ...); Target::request_break ends that.
  void execute(std::string_view line);
  /// The same for a line a remote client (or the host, client 0) issued; family
  /// commands see the origin (remoting: what a client may do).
  void execute(std::string_view line, const CommandOrigin& origin);
  /// Adds a family of commands from a layer above (see command_family.hpp).
  /// Looked up before the engine's own commands; listed by .help after them.
  void add_family(CommandFamily family);
  /// Where dt (and the type-driven commands) get types; none: they say so.
  void set_type_provider(std::shared_ptr<debugger::types::TypeProvider> provider);
  /// "kd> ", or "N: kd> " on a multiprocessor target.
  std::string prompt() const;
  /// True after `q`.
  bool quit_requested() const;
  /// Whether the target's debug output (DbgPrint) is shown: the `out` filter (sxi out hides it).
  bool shows_target_output() const;
  /// Whether a stop that arrives while kd connects without -b is one the default
  /// filters pass over (a module load or unload while ld/ud/iml say ignore).
  static bool passes_over_at_connect(const debugger::StopEvent& stop, const EngineOptions& options);
  /// Prints a stop the engine did not cause (the initial break-in, a stop seen by the
  /// session while the engine was idle), as KD does, and forgets cached target state.
  void report_stop(const debugger::StopEvent& stop);
  /// Stops a multi-step command (t 100, gu, pc, tc) at its next step. Safe from any
  /// thread (the Ctrl-C handler calls it along with Target::request_break).
  void request_cancel();
  /// Forgets cached registers, modules and symbols (e.g. after the session reconnects).
  void invalidate();
  /// `.kdfiles` map: target driver path (lowercase) -> host file, for KD_FILE_IO.
  const std::map<std::string, std::string>& kdfiles() const;
  const EngineOptions& options() const;
  /// The breakpoint list (bp, ba, bl): for callers that show or track breakpoints (the Python API).
  const BreakpointTable& breakpoints() const;

private:
  std::unique_ptr<EngineCore> core_;
};

}  // namespace openkd::commands
