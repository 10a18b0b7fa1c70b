// The machine behaves as Windows does where a KD client can tell (issue 13, the
// machine half): a breakpoint the debugger re-inserts under the PC is reported
// again, the kernel prompts at boot only when asked, a stopped kernel stays
// stopped when its debugger goes away (unless told to run). The client here is
// the test's own: raw DbgKd requests through the host session (sim_host), not
// kd's breakpoint logic.
#include <boost/test/unit_test.hpp>

#include "sim_host.hpp"

using namespace openkd;
using namespace openkd::sim;

namespace {
wire::Manipulate make(wire::Api api, wire::ManipulateArgs args) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(api);
  m.args = std::move(args);
  return m;
}
const wire::ExceptionRecord64* exception_of(const wire::StateChange& sc) {
  auto* e = std::get_if<wire::ExceptionState>(&sc.state);
  return e ? &e->record : nullptr;
}
std::optional<wire::StateChange> go_to_exception(test::Host& host, std::uint32_t status = wire::kDbgContinue) {
  for (int k = 0; k < 50; ++k) {
    auto sc = host.go(status);
    if (!sc || exception_of(*sc)) return sc;
    status = wire::kDbgContinue;
  }
  return std::nullopt;
}
std::uint32_t insert(test::Host& host, std::uint64_t address) {
  auto w = host.request(make(wire::Api::WriteBreakPoint, wire::WriteBreakPointArgs{address, 0}));
  BOOST_REQUIRE(w);
  BOOST_REQUIRE(w->return_status == wire::kStatusSuccess);
  return std::get<wire::WriteBreakPointArgs>(w->args).break_point_handle;
}
void restore(test::Host& host, std::uint32_t handle) {
  auto r = host.request(make(wire::Api::RestoreBreakPoint, wire::RestoreBreakPointArgs{handle}));
  BOOST_REQUIRE(r);
  BOOST_REQUIRE(r->return_status == wire::kStatusSuccess);
}
std::uint64_t bug_check_code(Machine& m) { return m.space().read_u64(*m.kernel_export("KiBugCheckData")); }
/// Lets the kernel run for `rounds` pumps, continuing past module loads; returns
/// the first exception it stops with (none: it ran all the while).
std::optional<wire::StateChange> run_a_while(test::Host& host, int rounds) {
  wire::Manipulate c;
  c.api = static_cast<std::uint32_t>(wire::Api::Continue2);
  c.args = wire::Continue2Args{wire::kDbgContinue, 0, 0};
  host.send_only(c);
  for (int k = 0; k < rounds; ++k) {
    host.pump();
    while (!host.changes.empty()) {
      auto sc = host.changes.front();
      host.changes.pop_front();
      if (exception_of(sc)) return sc;
      host.send_only(c);
    }
  }
  return std::nullopt;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(simcore_machine)

// A client that puts its breakpoint back under the PC and continues gets the
// same breakpoint again, as from Windows (KdpReport never moves the PC of a
// BREAKPOINT_BREAK int 3); the byte under it is never executed half-way.
BOOST_AUTO_TEST_CASE(breakpoint_reinserted_at_rip_is_reported_again_100_times) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  const std::uint64_t target = *m.kernel_export("DbgPrint");
  wire::Bytes original = host.read_virtual(target, 16);
  std::uint32_t handle = insert(host, target);
  auto first = go_to_exception(host);
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(exception_of(*first)->code == wire::kExceptionBreakpoint);
  BOOST_REQUIRE(first->program_counter == target);
  const std::uint64_t instructions = m.instructions();
  const std::size_t prints = host.prints.size();

  for (int cycle = 0; cycle < 100; ++cycle) {
    restore(host, handle);
    handle = insert(host, target);  // re-inserted at the PC, then continued onto
    auto sc = host.go();
    BOOST_REQUIRE(sc);
    const auto* e = exception_of(*sc);
    BOOST_REQUIRE(e);
    BOOST_TEST(e->code == wire::kExceptionBreakpoint);
    BOOST_TEST(e->address == target);
    BOOST_TEST(sc->program_counter == target);
    BOOST_TEST(host.get_context().rip == target);
  }
  // Nothing else ran meanwhile: each cycle retired the int 3 again, nothing more.
  BOOST_TEST(m.instructions() == instructions + 100);
  BOOST_TEST(host.prints.size() == prints);

  // The client takes its breakpoint out and continues: DbgPrint runs whole and
  // the kernel is intact (no bug check, its code as it was).
  restore(host, handle);
  BOOST_TEST(host.read_virtual(target, 16) == original);
  auto later = run_a_while(host, 40);
  BOOST_TEST(!later.has_value());  // no access violation, no bug check breakpoint
  BOOST_TEST(bug_check_code(m) == 0u);
  BOOST_TEST(m.instructions() > instructions);
  BOOST_TEST(host.prints.size() > prints);
}

// The int 3 of the kernel's own break routines is stepped over when the
// debugger leaves the PC on it (a client that does not skip hard-coded breaks
// is not held there), and left alone when the debugger moved the PC past it.
BOOST_AUTO_TEST_CASE(break_routine_int3_is_stepped_over_once) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  host.send_only(make(wire::Api::CauseBugCheck, wire::RawUnion{}));
  auto bc = host.wait_state_change();
  BOOST_REQUIRE(bc);
  const std::uint64_t brk = *m.kernel_export("RtlpBreakWithStatusInstruction");
  BOOST_REQUIRE(bc->program_counter == brk);
  // The debugger moves the PC past the int 3 itself (as WinDbg does): one step
  // then runs the instruction after it, not one more byte further.
  auto ctx = host.get_context();
  ctx.rip = brk + 1;
  ctx.context_flags = wire::kContextControl;
  BOOST_REQUIRE(host.set_context(ctx) == wire::kStatusSuccess);
  auto step = host.go(wire::kDbgContinue, true);
  BOOST_REQUIRE(step);
  BOOST_TEST(exception_of(*step)->code == wire::kExceptionSingleStep);
  BOOST_TEST(m.instructions() > 0u);
}

BOOST_AUTO_TEST_CASE(no_boot_prompt_unless_asked) {
  for (bool prompt : {false, true}) {
    test::HostOptions o;
    o.boot_prompt = prompt;
    auto sim = test::make_simulator(o);
    test::Host host(*sim);
    host.prompt_reply = "quiet";
    host.attach();
    for (int k = 0; k < 60 && host.prints.find("simkrnl: boot complete") == std::string::npos; ++k) host.go();
    BOOST_TEST_CONTEXT("boot_prompt " << prompt) {
      BOOST_TEST(host.prints.find("simkrnl: boot complete") != std::string::npos);
      BOOST_TEST((host.prints.find("boot options: \"quiet\"") != std::string::npos) == prompt);
      BOOST_TEST((host.prints.find("simkrnl: pacing:") != std::string::npos) == prompt);
      BOOST_TEST(host.session().counters().prompts == (prompt ? 1u : 0u));
    }
  }
}

// Freeze (the default): the debugger goes away while the kernel is stopped;
// nothing runs; the next debugger's RESET gets the same stop reported.
BOOST_AUTO_TEST_CASE(detach_freeze_keeps_the_kernel_stopped_for_the_next_debugger) {
  auto sim = test::make_simulator({});
  Machine& m = sim->machine();
  const std::uint64_t target = *m.kernel_export("DbgPrint");
  std::uint64_t rip = 0, instructions = 0;
  {
    test::Host first(*sim);
    first.attach();
    insert(first, target);
    auto sc = go_to_exception(first);
    BOOST_REQUIRE(sc);
    BOOST_REQUIRE(sc->program_counter == target);
    rip = first.get_context().rip;
    instructions = m.instructions();
  }
  sim->disconnected(link::TimePoint{});
  for (int k = 0; k < 20; ++k) sim->run_for(1'000'000, link::TimePoint{});
  BOOST_TEST(!sim->stub().running());
  BOOST_TEST(m.instructions() == instructions);
  BOOST_TEST(m.cpu(0).rip() == rip);

  test::Host second(*sim);
  auto again = second.attach();
  BOOST_REQUIRE(exception_of(again));
  BOOST_TEST(exception_of(again)->code == wire::kExceptionBreakpoint);
  BOOST_TEST(again.program_counter == rip);
  BOOST_TEST(second.get_context().rip == rip);
  BOOST_TEST(bug_check_code(m) == 0u);
}

// Run: the kernel continues when its debugger goes away.
BOOST_AUTO_TEST_CASE(detach_run_continues_the_kernel) {
  test::HostOptions o;
  o.on_detach = OnDetach::Run;
  auto sim = test::make_simulator(o);
  Machine& m = sim->machine();
  std::uint64_t instructions = 0;
  {
    test::Host first(*sim);
    first.attach();
    auto sc = first.go();  // stopped again somewhere after boot
    BOOST_REQUIRE(sc);
    instructions = m.instructions();
  }
  sim->disconnected(link::TimePoint{});
  sim->run_for(1'000'000, link::TimePoint{});
  BOOST_TEST(sim->stub().running());
  BOOST_TEST(m.instructions() > instructions);
}

// KSPECIAL_REGISTERS.Cr3 is the CPU's own CR3 (a value of its state), and one
// the debugger writes becomes the CPU's.
BOOST_AUTO_TEST_CASE(cr3_in_control_space_is_the_cpus) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  auto special = wire::decode_special_registers(host.read_control(2, wire::kSpecialRegistersSize));
  BOOST_REQUIRE(special);
  BOOST_TEST(special->cr3 == sim->machine().cpu(0).reg(UC_X86_REG_CR3));
  BOOST_TEST(special->cr3 == sim->machine().space().cr3());
  // Written back with another page-aligned table: the CPU's CR3 follows.
  auto regs = *special;
  regs.cr3 = special->cr3 + 0x1000;
  wire::Manipulate w;
  w.api = static_cast<std::uint32_t>(wire::Api::WriteControlSpace);
  w.args = wire::MemoryTransfer{2, static_cast<std::uint32_t>(wire::kSpecialRegistersSize), 0};
  w.data = wire::encode(regs);
  auto r = host.request(w);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->return_status == wire::kStatusSuccess);
  BOOST_TEST(sim->machine().cpu(0).reg(UC_X86_REG_CR3) == special->cr3 + 0x1000);
}

BOOST_AUTO_TEST_SUITE_END()
