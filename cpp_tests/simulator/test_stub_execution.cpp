// The KD stub's execution APIs: breakpoints, stepping, hardware breakpoints,
// prints, symbol loads, bug checks, reboot.
#include <boost/test/unit_test.hpp>

#include "sim_host.hpp"

using namespace openkd;
using namespace openkd::sim;

namespace {
wire::Manipulate make(wire::Api api, wire::ManipulateArgs args, wire::Bytes data = {}) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(api);
  m.args = std::move(args);
  m.data = std::move(data);
  return m;
}
const wire::ExceptionRecord64* exception_of(const wire::StateChange& sc) {
  auto* e = std::get_if<wire::ExceptionState>(&sc.state);
  return e ? &e->record : nullptr;
}
/// Continues (as `status`) until a state change that is an exception.
std::optional<wire::StateChange> go_to_exception(test::Host& host, std::uint32_t status = wire::kDbgContinue,
                                                 std::uint64_t dr7 = 0) {
  for (int k = 0; k < 50; ++k) {
    auto sc = host.go(status, false, dr7);
    if (!sc || exception_of(*sc)) return sc;
    status = wire::kDbgContinue;
  }
  return std::nullopt;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(stub_execution)

BOOST_AUTO_TEST_CASE(software_breakpoint_hits_and_restores) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  std::uint64_t target = *m.kernel_export("DbgPrint");
  std::uint8_t original = 0;
  m.space().read(target, {&original, 1});
  auto w = host.request(make(wire::Api::WriteBreakPoint, wire::WriteBreakPointArgs{target, 0}));
  BOOST_REQUIRE(w);
  BOOST_TEST(w->return_status == wire::kStatusSuccess);
  std::uint32_t handle = std::get<wire::WriteBreakPointArgs>(w->args).break_point_handle;
  BOOST_TEST(handle != 0u);
  BOOST_TEST(host.read_virtual(target, 1)[0] == 0xCC);

  auto sc = go_to_exception(host);
  BOOST_REQUIRE(sc);
  BOOST_TEST(exception_of(*sc)->code == wire::kExceptionBreakpoint);
  BOOST_TEST(exception_of(*sc)->address == target);
  BOOST_TEST(sc->program_counter == target);
  BOOST_TEST(host.get_context().rip == target);

  auto r = host.request(make(wire::Api::RestoreBreakPoint, wire::RestoreBreakPointArgs{handle}));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->return_status == wire::kStatusSuccess);
  BOOST_TEST(host.read_virtual(target, 1)[0] == original);
  auto again = host.request(make(wire::Api::RestoreBreakPoint, wire::RestoreBreakPointArgs{handle}));
  BOOST_TEST(again->return_status == wire::kStatusUnsuccessful);

  // Single step from the breakpoint: one instruction, then STATUS_SINGLE_STEP.
  std::uint64_t before = m.instructions();
  auto step = host.go(wire::kDbgContinue, true);
  BOOST_REQUIRE(step);
  BOOST_TEST(exception_of(*step)->code == wire::kExceptionSingleStep);
  BOOST_TEST(m.instructions() == before + 1);
  BOOST_TEST(step->program_counter != target);
  BOOST_TEST((step->control.eflags & 0x100u) == 0u);  // trace flag cleared again
  auto step2 = host.go(wire::kDbgContinue, true);
  BOOST_REQUIRE(step2);
  BOOST_TEST(m.instructions() == before + 2);
}

BOOST_AUTO_TEST_CASE(hardware_execute_and_write_breakpoints) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  std::uint64_t print = *m.kernel_export("DbgPrint");
  auto ctx = host.get_context();
  ctx.dr0 = print;
  ctx.context_flags = wire::kContextDebugRegisters;
  BOOST_TEST(host.set_context(ctx) == wire::kStatusSuccess);
  // Dr7: L0, R/W0 = 00 (execute), LEN0 = 00.
  auto sc = go_to_exception(host, wire::kDbgContinue, 0x1);
  BOOST_REQUIRE(sc);
  BOOST_TEST(exception_of(*sc)->code == wire::kExceptionSingleStep);
  BOOST_TEST(sc->program_counter == print);
  BOOST_TEST((sc->control.dr6 & 0xFu) == 0x1u);
  std::uint64_t first_hit = m.instructions();
  // Continuing does not hit the same instruction again at once (RF semantics).
  auto next = go_to_exception(host, wire::kDbgContinue, 0x1);
  BOOST_REQUIRE(next);
  BOOST_TEST(next->program_counter == print);
  BOOST_TEST(m.instructions() > first_hit + 1);

  // Write watch on simdrv.sys!SimdrvPasses (8 bytes): L1, R/W1 = 01, LEN1 = 10.
  std::uint64_t passes = test::driver_export("simdrv.sys", kDriverBase, "SimdrvPasses");
  ctx = host.get_context();
  ctx.dr0 = 0;
  ctx.dr1 = passes;
  ctx.context_flags = wire::kContextDebugRegisters;
  host.set_context(ctx);
  std::uint64_t dr7 = (1u << 2) | (1u << 20) | (2u << 22);
  std::uint64_t value_before = m.space().read_u64(passes);
  auto hit = go_to_exception(host, wire::kDbgContinue, dr7);
  BOOST_REQUIRE(hit);
  BOOST_TEST(exception_of(*hit)->code == wire::kExceptionSingleStep);
  BOOST_TEST((hit->control.dr6 & 0xFu) == 0x2u);
  BOOST_TEST(m.space().read_u64(passes) != value_before);  // the write happened: a trap after it
  // Read/write watch on TriggerBug (the worker polls it): L2, R/W2 = 11, LEN2 = 11 (4 bytes).
  std::uint64_t trigger = test::driver_export("simdrv.sys", kDriverBase, "TriggerBug");
  ctx = host.get_context();
  ctx.dr1 = 0;
  ctx.dr2 = trigger;
  ctx.context_flags = wire::kContextDebugRegisters;
  host.set_context(ctx);
  auto read_hit = go_to_exception(host, wire::kDbgContinue, (1u << 4) | (3u << 24) | (3u << 26));
  BOOST_REQUIRE(read_hit);
  BOOST_TEST(exception_of(*read_hit)->code == wire::kExceptionSingleStep);
  BOOST_TEST((read_hit->control.dr6 & 0xFu) == 0x4u);
  BOOST_TEST(host.go(wire::kDbgContinue, false, 0).has_value());
}

BOOST_AUTO_TEST_CASE(prints_and_symbol_loads_reach_the_debugger) {
  test::HostOptions o;
  o.boot_prompt = true;  // the kernel asks for boot options (kdsim --boot-prompt)
  auto sim = test::make_simulator(o);
  test::Host host(*sim);
  host.attach();
  bool loaded = false, unloaded = false;
  std::uint64_t base = 0;
  for (int k = 0; k < 60 && !(loaded && unloaded); ++k) {
    auto sc = host.go();
    BOOST_REQUIRE(sc);
    auto* ls = std::get_if<wire::LoadSymbolsState>(&sc->state);
    if (!ls || ls->path.find("simdrv2.sys") == std::string::npos) continue;
    if (!ls->unload) {
      loaded = true;
      base = ls->base_of_dll;
      BOOST_TEST(ls->size_of_image > 0u);
      // The image is mapped where the state change says.
      BOOST_TEST(host.read_virtual(base, 2) == (wire::Bytes{'M', 'Z'}));
    } else if (loaded) {
      unloaded = true;
      BOOST_TEST(ls->base_of_dll == base);
    }
  }
  BOOST_TEST(loaded);
  BOOST_TEST(unloaded);
  BOOST_TEST(base == kDriverBase + kDriverSlot);
  BOOST_TEST(host.prints.find("simkrnl:") != std::string::npos);
  BOOST_TEST(host.prints.find("simdrv2: DriverEntry") != std::string::npos);
  // DbgPrompt went to the debugger (GetString) and the kernel got its answer.
  BOOST_TEST(host.prints.find("boot options: \"hello\"") != std::string::npos);
  // FILE_IO: the kernel asked for simdrv2.sys and heard STATUS_NO_SUCH_FILE from this debugger.
  BOOST_TEST(host.prints.find("not served by the debugger (status 0xc000000f)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(trigger_bug_gives_access_violation_then_bug_check) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  std::uint64_t trigger = test::driver_export("simdrv.sys", kDriverBase, "TriggerBug");
  BOOST_TEST(host.write_virtual(trigger, wire::Bytes{1, 0, 0, 0}) == wire::kStatusSuccess);
  auto av = go_to_exception(host);
  BOOST_REQUIRE(av);
  auto* rec = exception_of(*av);
  BOOST_TEST(rec->code == wire::kExceptionAccessViolation);
  BOOST_TEST(std::get<wire::ExceptionState>(av->state).first_chance == 1u);
  BOOST_TEST(rec->number_parameters == 2u);
  BOOST_TEST(rec->address == av->program_counter);
  // Not handled: the kernel gets it and bug checks.
  auto bc = go_to_exception(host, wire::kDbgExceptionNotHandled);
  BOOST_REQUIRE(bc);
  BOOST_TEST(exception_of(*bc)->code == wire::kExceptionBreakpoint);
  BOOST_TEST(bc->program_counter == *m.kernel_export("RtlpBreakWithStatusInstruction"));
  std::uint64_t data = *m.kernel_export("KiBugCheckData");
  BOOST_TEST(m.space().read_u64(data) != 0u);                   // the bug check code
  bool mentions_av = false;
  for (int k = 1; k < 5; ++k) mentions_av = mentions_av || m.space().read_u64(data + 8 * k) == 0xC0000005u;
  BOOST_TEST(mentions_av);
}

BOOST_AUTO_TEST_CASE(cause_bug_check_and_reboot) {
  auto sim = test::make_simulator(test::options(2));
  test::Host host(*sim);
  host.attach();
  host.go();  // somewhere past boot
  host.send_only(make(wire::Api::CauseBugCheck, wire::RawUnion{}));
  auto bc = host.wait_state_change();
  BOOST_REQUIRE(bc);
  Machine* m = &sim->machine();
  BOOST_TEST(bc->program_counter == *m->kernel_export("RtlpBreakWithStatusInstruction"));
  BOOST_TEST(m->space().read_u64(*m->kernel_export("KiBugCheckData")) == 0xE2u);

  host.send_only(make(wire::Api::Reboot, wire::RawUnion{}));
  host.pump(0);
  host.start_sync();  // a debugger resynchronises after a reboot
  auto boot = host.wait_state_change();
  BOOST_REQUIRE(boot);
  m = &sim->machine();
  BOOST_TEST(boot->program_counter == *m->kernel_export("KiSystemStartup"));
  BOOST_TEST(m->instructions() == 0u);
  auto v = host.request(make(wire::Api::GetVersion, wire::GetVersion64{}));
  BOOST_REQUIRE(v);
  BOOST_TEST(std::get<wire::GetVersion64>(v->args).kern_base == kKernelBase);
  BOOST_TEST(host.go().has_value());
}

BOOST_AUTO_TEST_CASE(debugger_attaches_late_and_breaks_in) {
  test::HostOptions o = test::options(1, false);
  o.on_detach = OnDetach::Run;  // the kernel runs on when the debugger leaves it stopped
  auto sim = test::make_simulator(o);
  link::TimePoint t{};
  for (int k = 0; k < 20; ++k) sim->run_for(1'000'000, t);
  std::uint64_t ran = sim->machine().instructions();
  BOOST_TEST(ran > 0u);
  test::Host host(*sim);
  host.start_sync();
  for (int k = 0; k < 5; ++k) host.pump();
  BOOST_TEST(sim->stub().attached());
  host.break_in();
  auto sc = host.wait_state_change();
  BOOST_REQUIRE(sc);
  BOOST_TEST(exception_of(*sc)->code == wire::kExceptionBreakpoint);
  BOOST_TEST(sc->program_counter == sim->machine().cpu(sc->processor).rip());
  BOOST_TEST(host.go().has_value());
  // The debugger goes away: the kernel runs on.
  sim->disconnected(t);
  std::uint64_t before = sim->machine().instructions();
  sim->run_for(1'000'000, t);
  BOOST_TEST(sim->machine().instructions() > before);
}

BOOST_AUTO_TEST_CASE(served_driver_is_what_gets_mapped) {
  auto sim = test::make_simulator(test::options(1));
  test::Host host(*sim);
  // Serve simdrv2.sys over FILE_IO with one byte of its DOS stub text changed.
  auto pe = load_pe_file(std::string(OPENKD_KERNEL_DIR) + "/simdrv2.sys");
  BOOST_REQUIRE(pe.has_value());
  wire::Bytes served = pe->file;
  std::string text(served.begin(), served.begin() + std::min<std::size_t>(served.size(), 0x200));
  auto at = text.find("DOS");
  BOOST_REQUIRE(at != std::string::npos);
  served[at] = 'Q';
  host.served_files["simdrv2.sys"] = served;
  host.attach();
  bool checked = false;
  for (int k = 0; k < 60 && !checked; ++k) {
    auto sc = host.go();
    BOOST_REQUIRE(sc);
    auto* ls = std::get_if<wire::LoadSymbolsState>(&sc->state);
    if (!ls || ls->unload || ls->path.find("simdrv2.sys") == std::string::npos) continue;
    BOOST_TEST(host.read_virtual(ls->base_of_dll + at, 3) == (wire::Bytes{'Q', 'O', 'S'}));
    checked = true;
  }
  BOOST_TEST(checked);
}

BOOST_AUTO_TEST_CASE(trigger_bug_2_is_one_hard_coded_breakpoint) {
  auto sim = test::make_simulator(test::options(1));
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  std::uint64_t trigger = test::driver_export("simdrv.sys", kDriverBase, "TriggerBug");
  host.write_virtual(trigger, wire::Bytes{2, 0, 0, 0});
  auto bp = go_to_exception(host);
  BOOST_REQUIRE(bp);
  BOOST_TEST(exception_of(*bp)->code == wire::kExceptionBreakpoint);
  std::uint8_t byte = 0;
  m.space().read(bp->program_counter, {&byte, 1});
  BOOST_TEST(byte == 0xCC);  // reported at the int 3 itself
  BOOST_TEST(bp->program_counter >= *m.kernel_export("DbgBreakPoint"));
  BOOST_TEST(bp->program_counter < *m.kernel_export("DbgBreakPoint") + 16);
  // Continuing steps over it: the kernel runs on and the driver reset TriggerBug.
  auto next = host.go();
  BOOST_REQUIRE(next);
  BOOST_TEST(next->program_counter != bp->program_counter);
  BOOST_TEST(m.space().read_u32(trigger) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
