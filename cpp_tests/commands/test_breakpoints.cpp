// Breakpoint list management, and insertion/removal around every resume.
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "core/commands/breakpoints.hpp"
#include "core/commands/engine.hpp"
#include "fake_target.hpp"

using namespace openkd;
using namespace openkd::commands;
using testing::FakeTarget;

namespace {

Breakpoint at(std::uint64_t address, std::uint32_t passes = 1) {
  Breakpoint b;
  b.address = address;
  b.pass_count = b.initial_passes = passes;
  return b;
}

struct Session {
  FakeTarget target;
  StringOutput out;
  Engine engine{target, out};

  std::string run(std::string_view line) {
    target.calls.clear();
    engine.execute(line);
    return out.take();
  }
  // The calls that change target state, in order (reads are left out).
  std::vector<std::string> actions() const {
    std::vector<std::string> a;
    for (const auto& c : target.calls)
      if (c != "get_context") a.push_back(c);
    return a;
  }
  static std::string hex(std::uint64_t v) { return fmt::format("{:x}", v); }
};

bool contains(const std::string& text, std::string_view what) { return text.find(what) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(ids_fill_the_lowest_gap) {
  BreakpointTable table;
  for (std::uint64_t a : {0x10u, 0x20u, 0x30u}) table.add(at(a));
  table.remove(1);
  BOOST_TEST(table.add(at(0x40)).id == 1u);
  BOOST_TEST(table.add(at(0x50)).id == 3u);
  // The same address again replaces, keeping the id.
  BOOST_TEST(table.add(at(0x30, 5)).id == 2u);
  BOOST_TEST(table.find(2)->pass_count == 5u);
  BOOST_TEST(table.all().size() == 4u);
}

BOOST_AUTO_TEST_CASE(id_lists_take_stars_lists_and_ranges) {
  BreakpointTable table;
  for (std::uint64_t a = 0; a < 5; ++a) table.add(at(0x100 + a));
  struct Row {
    std::string_view text;
    std::vector<unsigned> ids;
  };
  const Row rows[] = {{"*", {0, 1, 2, 3, 4}}, {"1", {1}},     {"1 3", {1, 3}}, {"1,3", {1, 3}},
                      {"1-3", {1, 2, 3}},     {"3 1-2", {1, 2, 3}}, {"9", {}},  {"0-0n100", {0, 1, 2, 3, 4}}};
  for (const auto& row : rows) {
    BOOST_TEST_INFO("ids: " << row.text);
    auto ids = table.parse_ids(row.text, 0);
    BOOST_REQUIRE(ids.has_value());
    BOOST_TEST(*ids == row.ids);
  }
  BOOST_TEST(table.parse_ids("x", 3).error().column == 3u);
  BOOST_TEST(table.parse_ids("3-1", 0).error().column == 2u);
  BOOST_TEST(!table.parse_ids("", 0).has_value());
}

BOOST_AUTO_TEST_CASE(dr7_encodes_slot_access_and_length) {
  BOOST_TEST(dr7_bits(0, 'e', 1) == 0x1u);
  BOOST_TEST(dr7_bits(0, 'w', 4) == 0xD0001u);
  BOOST_TEST(dr7_bits(1, 'r', 8) == (0x4ull | (3ull << 20) | (2ull << 22)));
  BOOST_TEST(dr7_bits(3, 'w', 2) == (0x40ull | (1ull << 28) | (1ull << 30)));
}

BOOST_AUTO_TEST_CASE(breakpoints_are_in_the_target_only_while_it_runs) {
  Session s;
  s.run("bp nt!KeBugCheckEx");
  BOOST_TEST(s.target.inserted.empty());
  const std::string out = s.run("g");
  BOOST_TEST(contains(out, "Breakpoint 0 hit\nnt!KeBugCheckEx:\n"));
  const std::vector<std::string> expected{"write_breakpoint " + Session::hex(testing::kKeBugCheckEx),
                                          "resume go status=10002 dr7=0",
                                          "restore_breakpoint " + Session::hex(testing::kKeBugCheckEx)};
  BOOST_TEST(s.actions() == expected, boost::test_tools::per_element());
  BOOST_TEST(s.target.inserted.empty());
  BOOST_TEST(s.target.ctx.rip == testing::kKeBugCheckEx);
  // The original byte is back: u shows the real instruction, not int 3.
  BOOST_TEST(contains(s.run("u . L1"), "mov     qword ptr [rsp+8],rcx"));
}

BOOST_AUTO_TEST_CASE(going_from_a_breakpoint_steps_over_it_first) {
  Session s;
  s.run("bp nt!KeBugCheckEx; g");
  const std::string out = s.run("g");
  BOOST_TEST(contains(out, "*** Fatal System Error: 0x0000007e"));
  const std::vector<std::string> expected{"resume step status=10002 dr7=0",
                                          "write_breakpoint " + Session::hex(testing::kKeBugCheckEx),
                                          "resume go status=10002 dr7=0",
                                          "restore_breakpoint " + Session::hex(testing::kKeBugCheckEx)};
  BOOST_TEST(s.actions() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(disabled_breakpoints_stay_out_and_cleared_ones_go) {
  Session s;
  s.run("bp nt!KeBugCheckEx; bp nt!DbgBreakPointWithStatus; bd 0");
  BOOST_TEST(contains(s.run("bl"), " 0 d Enable Clear  "));
  const std::string out = s.run("g");
  BOOST_TEST(contains(out, "Breakpoint 1 hit"));
  BOOST_TEST(std::ranges::count(s.actions(), std::string("write_breakpoint " + Session::hex(testing::kKeBugCheckEx))) == 0);
  s.run("bc *");
  BOOST_TEST(s.run("bl").empty());
}

BOOST_AUTO_TEST_CASE(pass_counts_and_one_shot) {
  Session s;
  s.run("bp nt!KiSystemStartup 2; bp /1 nt!KeBugCheckEx");
  BOOST_TEST(contains(s.run("g"), "Breakpoint 1 hit"));
  const std::string list = s.run("bl");
  BOOST_TEST(contains(list, "0001 (0002) nt!KiSystemStartup"));
  BOOST_TEST(!contains(list, "KeBugCheckEx"));  // the one-shot is gone
}

BOOST_AUTO_TEST_CASE(breakpoint_commands_run_at_the_hit) {
  Session s;
  s.run("bp nt!KeBugCheckEx \"r rcx; .echo done\"");
  const std::string out = s.run("g");
  BOOST_TEST(contains(out, "Breakpoint 0 hit"));
  BOOST_TEST(contains(out, "rcx=000000000000007e\ndone\n"));
}

BOOST_AUTO_TEST_CASE(hardware_breakpoints_use_debug_registers) {
  Session s;
  s.run("ba e1 nt!KeBugCheckEx");
  const std::string out = s.run("g");
  BOOST_TEST(contains(out, "Breakpoint 0 hit\nnt!KeBugCheckEx:\n"));
  const auto actions = s.actions();
  BOOST_REQUIRE(actions.size() >= 2u);
  BOOST_TEST(actions[0] == "set_context rip=" + Session::hex(testing::kDbgBreakPoint) + " dr0=" +
                               Session::hex(testing::kKeBugCheckEx) + " dr7=1");
  BOOST_TEST(actions[1] == "resume go status=10002 dr7=1");

  Session w;
  w.run("ba w4 nt!KeTickCount");
  w.run("g");
  BOOST_TEST(contains(w.actions()[1], "dr7=d0001"));
  BOOST_TEST(contains(w.run("bl"), " 0 e Disable Clear  fffff800`00403600 w 4 0001 (0001) nt!KeTickCount"));
  BOOST_TEST(contains(w.run("ba e2 nt!KeBugCheckEx"), "Size error"));
  BOOST_TEST(contains(w.run("ba w4 nt!KeTickCount+1"), "Alignment error"));
  w.run("ba r8 nt!KiBugCheckData; ba w8 nt!KiBugCheckData+8; ba w8 nt!KiBugCheckData+10");
  BOOST_TEST(contains(w.run("ba w8 nt!KiBugCheckData+18"), "Too many hardware breakpoints"));
}

BOOST_AUTO_TEST_CASE(go_to_an_address_and_step_over_a_call) {
  Session s;
  const std::string out = s.run("g nt!KiSystemStartup+4");
  BOOST_TEST(out == "nt!KiSystemStartup+0x4:\nfffff800`00401004 e877000000      call    nt!KiSystemStartup+0x80 (fffff800`00401080)\n");
  BOOST_TEST(s.target.inserted.empty());
  const std::string p = s.run("p");
  BOOST_TEST(contains(p, "rax=0000000000000001"));
  BOOST_TEST(contains(p, "nt!KiSystemStartup+0x9:\nfffff800`00401009 b97e000000      mov     ecx,7Eh\n"));
  // The call ran to the temporary breakpoint at its return address.
  BOOST_TEST(contains(s.actions()[0], "write_breakpoint " + Session::hex(testing::kKiSystemStartup + 9)));
}

BOOST_AUTO_TEST_CASE(deferred_breakpoints_resolve_when_their_module_loads) {
  // simdrv2.sys arrives (image mapped, LDR entry linked) with the first state change.
  class LoadingTarget : public FakeTarget {
  public:
    const std::uint64_t kBase = 0xFFFFF80001100000ull;
    int resumes = 0;
    debugger::Result<debugger::StopEvent> resume(const debugger::ResumeOptions& options) override {
      calls.push_back(fmt::format("resume {}", options.single_step ? "step" : "go"));
      if (++resumes == 1) {
        write_image(kBase, 0x3000, "simdrv2.sys", {{"DriverEntry", 0x1000}}, 0x1000);
        const std::uint64_t entry = testing::kPool + 0x200, names = testing::kPool + 0x400;
        poke_u64(entry, testing::kPsLoadedModuleList);
        poke_u64(entry + 0x30, kBase);
        poke_u64(entry + 0x40, 0x3000);
        std::vector<std::uint8_t> header{22, 0, 24, 0, 0, 0, 0, 0};
        for (int i = 0; i < 8; ++i) header.push_back(static_cast<std::uint8_t>(names >> (8 * i)));
        poke(entry + 0x58, header);
        std::vector<std::uint8_t> text;
        for (char c : std::string("simdrv2.sys")) text.insert(text.end(), {static_cast<std::uint8_t>(c), 0});
        poke(names, text);
        poke_u64(testing::kPool + 0x100, entry);  // simdrv's Flink
        debugger::StopEvent load;
        wire::LoadSymbolsState l;
        l.base_of_dll = kBase;
        l.size_of_image = 0x3000;
        l.path = "simdrv2.sys";
        load.change.state = l;
        return last = load;
      }
      ctx.rip = kBase + 0x1000;
      return last = exception_stop(wire::kExceptionBreakpoint, kBase + 0x1000);
    }
  } target;
  StringOutput out;
  Engine engine(target, out);
  engine.execute("bu simdrv2!DriverEntry");
  BOOST_TEST(out.take() == "Bp expression 'simdrv2!DriverEntry' could not be resolved, adding deferred bp\n");
  engine.execute("bl");
  // The address column stays blank (17 characters) until it resolves.
  BOOST_TEST(out.take() == " 0 eu Disable Clear  " + std::string(17 + 5, ' ') + "0001 (0001) (simdrv2!DriverEntry)\n");
  engine.execute("bp simdrv!Nope");  // a loaded module: a typo, not a deferral
  BOOST_TEST(out.take() == "Couldn't resolve error at 'simdrv!Nope'\n");
  target.calls.clear();
  engine.execute("g");
  const std::string hit = out.take();
  BOOST_TEST(contains(hit, "Breakpoint 0 hit\nsimdrv2!DriverEntry:\n"));
  const std::vector<std::string> expected{"resume go", "write_breakpoint fffff80001101000", "resume go",
                                          "restore_breakpoint fffff80001101000"};
  std::vector<std::string> actions;
  for (const auto& c : target.calls)
    if (c != "get_context" && !c.starts_with("set_context")) actions.push_back(c);
  BOOST_TEST(actions == expected, boost::test_tools::per_element());
  engine.execute("bl");
  BOOST_TEST(out.take() == " 0 e Disable Clear  fffff800`01101000     0001 (0001) simdrv2!DriverEntry\n");
}
