// The KD stub's processor APIs: contexts, control space, MSRs, I/O space, processor switch.
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
std::uint64_t u64_of(const wire::Bytes& b) {
  wire::Reader r(b);
  return r.u64();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(stub_processor)

BOOST_AUTO_TEST_CASE(get_and_set_context) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Cpu& cpu = sim->machine().cpu(0);
  auto ctx = host.get_context();
  BOOST_TEST(ctx.rip == cpu.rip());
  BOOST_TEST(ctx.rsp == cpu.reg(UC_X86_REG_RSP));
  BOOST_TEST(ctx.rcx == cpu.reg(UC_X86_REG_RCX));  // the loader block
  BOOST_TEST(ctx.seg_cs == 0x10);
  BOOST_TEST(ctx.seg_ss == 0x18);
  BOOST_TEST(ctx.context_flags == wire::kContextAll);
  ctx.rax = 0x1122334455667788ull;
  ctx.r15 = 42;
  ctx.context_flags = wire::kContextInteger;
  BOOST_TEST(host.set_context(ctx) == wire::kStatusSuccess);
  BOOST_TEST(cpu.reg(UC_X86_REG_RAX) == 0x1122334455667788ull);
  BOOST_TEST(cpu.reg(UC_X86_REG_R15) == 42u);

  // GetContextEx: a chunk of the same 1232 bytes; SetContextEx patches Rbx (0x90).
  auto full = wire::encode(sim->machine().get_context(0));
  auto ex = host.request(make(wire::Api::GetContextEx, wire::ContextExArgs{0x78, 0x80, 0}));
  BOOST_REQUIRE(ex);
  BOOST_TEST(std::get<wire::ContextExArgs>(ex->args).bytes_copied == 0x80u);
  BOOST_TEST(ex->data == wire::Bytes(full.begin() + 0x78, full.begin() + 0xF8));
  wire::Bytes rbx{0xEF, 0xBE, 0xAD, 0xDE, 0, 0, 0, 0};
  auto set = host.request(make(wire::Api::SetContextEx, wire::ContextExArgs{0x90, 8, 0}, rbx));
  BOOST_REQUIRE(set);
  BOOST_TEST(set->return_status == wire::kStatusSuccess);
  BOOST_TEST(cpu.reg(UC_X86_REG_RBX) == 0xDEADBEEFu);
}

BOOST_AUTO_TEST_CASE(control_space_and_msrs) {
  auto sim = test::make_simulator(test::options(2));
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  BOOST_TEST(u64_of(host.read_control(0, 8)) == m.kpcr(0));
  BOOST_TEST(u64_of(host.read_control(1, 8)) == m.kprcb(0));
  BOOST_TEST(u64_of(host.read_control(3, 8)) == m.current_thread(0));
  auto special = wire::decode_special_registers(host.read_control(2, wire::kSpecialRegistersSize));
  BOOST_REQUIRE(special);
  BOOST_TEST(special->cr3 == m.space().cr3());
  BOOST_TEST((special->cr0 & 0x80000001u) == 0x80000001u);  // PG | PE, as a real kernel
  BOOST_TEST((special->cr4 & 0x20u) == 0x20u);              // PAE
  BOOST_TEST(special->gdtr.base == m.kpcr(0) + 0x1000);
  BOOST_TEST(special->gdtr.limit == 0x6F);
  BOOST_TEST(special->tr == 0x40);
  BOOST_TEST(special->msr_gs_base == m.kpcr(0));
  BOOST_TEST(special->msr_lstar != 0u);
  // GDTR points at a real GDT: the 64-bit ring-0 code descriptor at 0x10.
  BOOST_TEST(m.space().read_u64(special->gdtr.base + 0x10) == 0x00209B0000000000ull);

  special->cr8 = 2;
  special->kernel_dr0 = 0x1234;
  auto w = host.request(make(wire::Api::WriteControlSpace, wire::MemoryTransfer{2, wire::kSpecialRegistersSize, 0},
                             wire::encode(*special)));
  BOOST_REQUIRE(w);
  BOOST_TEST(w->return_status == wire::kStatusSuccess);
  BOOST_TEST(m.get_special_registers(0).cr8 == 2u);
  BOOST_TEST(m.cpu(0).debug_registers().dr[0] == 0x1234u);

  auto gs = host.request(make(wire::Api::ReadMachineSpecificRegister, wire::MsrArgs{0xC0000101, 0, 0}));
  BOOST_REQUIRE(gs);
  BOOST_TEST((std::uint64_t(std::get<wire::MsrArgs>(gs->args).data_value_high) << 32 |
              std::get<wire::MsrArgs>(gs->args).data_value_low) == m.kpcr(0));
  auto wr = host.request(make(wire::Api::WriteMachineSpecificRegister, wire::MsrArgs{0xC0000102, 0x5678, 0x9}));
  BOOST_REQUIRE(wr);
  BOOST_TEST(wr->return_status == wire::kStatusSuccess);
  BOOST_TEST(*m.read_msr(0, 0xC0000102) == 0x900005678ull);
  auto bad = host.request(make(wire::Api::ReadMachineSpecificRegister, wire::MsrArgs{0x12345, 0, 0}));
  BOOST_TEST(bad->return_status == wire::kStatusUnsuccessful);
}

BOOST_AUTO_TEST_CASE(io_space) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  auto w = host.request(make(wire::Api::WriteIoSpace, wire::IoArgs{0x3FF, 1, 0xA5}));
  BOOST_REQUIRE(w);
  BOOST_TEST(w->return_status == wire::kStatusSuccess);
  auto r = host.request(make(wire::Api::ReadIoSpace, wire::IoArgs{0x3FF, 1, 0}));
  BOOST_TEST(std::get<wire::IoArgs>(r->args).data_value == 0xA5u);
  auto lsr = host.request(make(wire::Api::ReadIoSpace, wire::IoArgs{0x3FD, 1, 0}));
  BOOST_TEST((std::get<wire::IoArgs>(lsr->args).data_value & 0x20u) == 0x20u);
  host.request(make(wire::Api::WriteIoSpace, wire::IoArgs{0x3F8, 1, 'X'}));
  BOOST_TEST(sim->machine().io().uart().transmitted() == "X");
  auto ext = host.request(make(wire::Api::ReadIoSpaceExtended, wire::IoExtendedArgs{1, 1, 0, 1, 0x3FF, 0}));
  BOOST_TEST(std::get<wire::IoExtendedArgs>(ext->args).data_value == 0xA5u);
  auto bad = host.request(make(wire::Api::ReadIoSpace, wire::IoArgs{0x3FF, 3, 0}));
  BOOST_TEST(bad->return_status == wire::kStatusUnsuccessful);
}

BOOST_AUTO_TEST_CASE(switch_processor_on_four_cpus) {
  auto sim = test::make_simulator(test::options(4));
  test::Host host(*sim);
  auto first = host.attach();
  BOOST_TEST(first.number_processors == 4u);
  auto v = host.request(make(wire::Api::GetVersion, wire::GetVersion64{}));
  BOOST_TEST((std::get<wire::GetVersion64>(v->args).flags & wire::kVersionFlagMp) != 0);
  // Let the machine run a while, then break in and look at processor 2.
  auto bp = host.go();  // runs until some state change (symbols load or similar)
  BOOST_REQUIRE(bp);
  wire::Manipulate sw = make(wire::Api::SwitchProcessor, wire::RawUnion{});
  sw.processor = 2;
  host.send_only(sw);
  auto sc = host.wait_state_change();
  BOOST_REQUIRE(sc);
  BOOST_TEST(sc->processor == 2);
  BOOST_TEST(sc->number_processors == 4u);
  auto ctx = host.get_context();
  BOOST_TEST(ctx.rip == sim->machine().cpu(2).rip());
  BOOST_TEST(u64_of(host.read_control(0, 8)) == sim->machine().kpcr(2));
  // Back to the original processor: its own stop again.
  sw.processor = bp->processor;
  host.send_only(sw);
  auto back = host.wait_state_change();
  BOOST_REQUIRE(back);
  BOOST_TEST(back->processor == bp->processor);
  BOOST_TEST(back->program_counter == bp->program_counter);
  BOOST_TEST(host.go().has_value());
}

BOOST_AUTO_TEST_SUITE_END()
