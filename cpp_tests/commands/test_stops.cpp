// Stops as KD prints them, how `g` continues after each, module events,
// logs and the progress bar.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "core/commands/engine.hpp"
#include "fake_target.hpp"

using namespace openkd;
using namespace openkd::commands;
using testing::FakeTarget;

namespace {

bool contains(const std::string& text, std::string_view what) { return text.find(what) != std::string::npos; }

class TerminalOutput final : public Output {
public:
  void write(std::string_view text) override { text_.append(text); }
  bool is_terminal() const override { return true; }
  std::string text_;
};

debugger::StopEvent load_event(bool unload) {
  debugger::StopEvent s;
  s.change.program_counter = testing::kDbgBreakPoint;
  wire::LoadSymbolsState l;
  l.base_of_dll = 0xFFFFF80001100000ull;
  l.size_of_image = 0x3000;
  l.unload = unload;
  l.path = "\\SystemRoot\\system32\\drivers\\simdrv2.sys";
  s.change.state = l;
  return s;
}

std::filesystem::path scratch(const std::string& name) {
  return std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(exceptions_print_their_chance) {
  FakeTarget target;
  StringOutput out;
  Engine engine(target, out);
  auto av = target.exception_stop(wire::kExceptionAccessViolation, testing::kKeBugCheckEx);
  engine.report_stop(av);
  BOOST_TEST(out.take() == "Access violation - code c0000005 (first chance)\nnt!KeBugCheckEx:\n"
                           "fffff800`00401100 48894c2408      mov     qword ptr [rsp+8],rcx\n");
  std::get<wire::ExceptionState>(av.change.state).first_chance = 0;
  engine.report_stop(av);
  BOOST_TEST(contains(out.take(), "Access violation - code c0000005 (!!! second chance !!!)\n"));
  engine.report_stop(target.exception_stop(0xC0000094, 0x1000));
  BOOST_TEST(out.take() == "Integer divide-by-zero - code c0000094 (first chance)\n"
                           "00000000`00001000 ??              ???\n");
}

BOOST_AUTO_TEST_CASE(g_passes_an_exception_on_and_gh_handles_it) {
  FakeTarget target;
  StringOutput out;
  Engine engine(target, out);
  engine.report_stop(target.exception_stop(wire::kExceptionAccessViolation, testing::kDbgBreakPoint));
  target.scripted_stops = {target.exception_stop(wire::kExceptionAccessViolation, testing::kDbgBreakPoint),
                           target.exception_stop(wire::kExceptionBreakpoint, testing::kDbgBreakPoint)};
  target.calls.clear();
  engine.execute("g");
  BOOST_TEST(contains(target.calls.back(), "resume go status=80010001"));
  engine.execute("gh");
  BOOST_TEST(contains(target.calls.back(), "resume go status=10001"));
}

BOOST_AUTO_TEST_CASE(module_loads_continue_and_refresh_the_module_list) {
  FakeTarget target;
  StringOutput out;
  Engine engine(target, out);
  engine.execute("lm");
  BOOST_TEST(contains(out.take(), "simdrv"));
  // The driver goes away while the target runs; the load event is not shown.
  target.poke_u64(testing::kPool, testing::kPsLoadedModuleList);
  target.scripted_stops = {load_event(true), target.exception_stop(wire::kExceptionBreakpoint, testing::kDbgBreakPoint)};
  engine.execute("g");
  const std::string stop = out.take();
  BOOST_TEST(!contains(stop, "Unload"));
  BOOST_TEST(contains(stop, "Break instruction exception - code 80000003 (first chance)"));
  engine.execute("lm");
  BOOST_TEST(!contains(out.take(), "simdrv"));
}

BOOST_AUTO_TEST_CASE(module_loads_stop_when_asked) {
  FakeTarget target;
  StringOutput out;
  EngineOptions options;
  options.break_on_module_load = true;
  Engine engine(target, out, options);
  target.scripted_stops = {load_event(false)};
  engine.execute("g");
  BOOST_TEST(contains(out.take(),
                      "ModLoad: fffff800`01100000 fffff800`01103000   \\SystemRoot\\system32\\drivers\\simdrv2.sys\n"));
}

BOOST_AUTO_TEST_CASE(a_break_in_that_met_a_module_load_is_asked_again_with_the_continue) {
  // Ctrl-C (or break_in()) while the target sits at a module load: `g` goes on
  // past the load as always, but asks for the break-in again with the continue,
  // so the user gets the break, not a target that runs on.
  FakeTarget target;
  StringOutput out;
  Engine engine(target, out);
  auto load = load_event(false);
  load.break_requested = true;
  target.scripted_stops = {load_event(false), load,
                           target.exception_stop(wire::kExceptionBreakpoint, testing::kDbgBreakPoint)};
  target.calls.clear();
  engine.execute("g");
  BOOST_TEST(contains(out.take(), "Break instruction exception - code 80000003 (first chance)"));
  std::vector<std::string> resumes;
  for (const auto& c : target.calls)
    if (c.starts_with("resume")) resumes.push_back(c);
  BOOST_TEST_REQUIRE(resumes.size() == 3u);
  BOOST_TEST(!contains(resumes[0], "break-in"));
  BOOST_TEST(!contains(resumes[1], "break-in"));  // that load came with no break-in pending
  BOOST_TEST(contains(resumes[2], "break-in"));
}

BOOST_AUTO_TEST_CASE(a_failed_resume_is_reported_and_the_session_goes_on) {
  class DeadTarget : public FakeTarget {
  public:
    debugger::Result<debugger::StopEvent> resume(const debugger::ResumeOptions&) override {
      return std::unexpected(debugger::Error{"link lost", 0});
    }
  } target;
  StringOutput out;
  Engine engine(target, out);
  engine.execute("bp nt!KeBugCheckEx; g");
  BOOST_TEST(out.take() == "Unable to resume the target: link lost\n");
  BOOST_TEST(target.inserted.empty());  // the breakpoint came out again
  engine.execute("t");
  BOOST_TEST(out.take() == "Unable to resume the target: link lost\n");
}

BOOST_AUTO_TEST_CASE(the_log_holds_commands_and_output) {
  FakeTarget target;
  StringOutput out;
  Engine engine(target, out);
  const auto log = scratch("openkd-log");
  engine.execute(".logopen " + log.string());
  engine.execute("? 1+1");
  engine.execute(".logclose");
  engine.execute("? 2");
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(log);
  BOOST_TEST(text.str() == "Opened log file '" + log.string() + "'\nkd> ? 1+1\nEvaluate expression: 2 = 00000000`00000002\n"
                           "kd> .logclose\nClosing open log file\n");
}

BOOST_AUTO_TEST_CASE(long_transfers_show_progress_only_on_a_terminal) {
  const std::uint64_t big = 0xFFFFF80020000000ull;
  const auto file = scratch("openkd-writemem");
  for (bool terminal : {false, true}) {
    FakeTarget target;
    target.map(big, 0x80000);
    TerminalOutput tty;
    StringOutput plain;
    Output& out = terminal ? static_cast<Output&>(tty) : plain;
    Engine engine(target, out);
    engine.execute(".writemem " + file.string() + " fffff800`20000000 L80000");
    const std::string text = terminal ? tty.text_ : plain.text();
    BOOST_TEST(contains(text, "Writing 80000 bytes"));
    BOOST_TEST(contains(text, "100%") == terminal);
    BOOST_TEST(contains(text, "\r") == terminal);
    BOOST_TEST(std::filesystem::file_size(file) == 0x80000u);
    std::filesystem::remove(file);
  }
}

BOOST_AUTO_TEST_CASE(prompts_follow_the_processor) {
  FakeTarget target;
  StringOutput out;
  Engine engine(target, out);
  BOOST_TEST(engine.prompt() == "kd> ");
  target.processors = 4;
  BOOST_TEST(engine.prompt() == "0: kd> ");
  engine.execute("~3");
  BOOST_TEST(engine.prompt() == "3: kd> ");
  BOOST_TEST(target.calls.back() == "switch_processor 3");
  // A caret lines up under the bad spot, whatever the prompt's width.
  engine.execute("db 1 + ");
  BOOST_TEST(out.take() == std::string(7 + 5, ' ') + "^ Syntax error in 'db 1 +'\n");
}

BOOST_AUTO_TEST_CASE(a_cancel_stops_a_multi_step_command_between_steps) {
  // The cancel arrives (as from a Ctrl-C handler) while the second step runs.
  class CancellingTarget : public FakeTarget {
  public:
    Engine* engine = nullptr;
    int resumes = 0;
    debugger::Result<debugger::StopEvent> resume(const debugger::ResumeOptions& options) override {
      if (++resumes == 2) engine->request_cancel();
      return FakeTarget::resume(options);
    }
  } target;
  StringOutput out;
  Engine engine(target, out);
  target.engine = &engine;
  engine.execute("t 5");
  const std::string text = out.take();
  BOOST_TEST(target.resumes == 2);
  BOOST_TEST(contains(text, "^C: stopped between steps\n"));
  std::size_t blocks = 0;
  for (std::size_t at = 0; (at = text.find("rax=", at)) != std::string::npos; ++at) ++blocks;
  BOOST_TEST(blocks == 2u);
  // The next command starts clean.
  engine.execute("t");
  BOOST_TEST(!contains(out.take(), "^C"));
}
