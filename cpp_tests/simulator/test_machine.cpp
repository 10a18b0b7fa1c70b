// The machine without a debugger: boot, page tables, loader, I/O ports.
#include <boost/test/unit_test.hpp>

#include "sim_host.hpp"

using namespace openkd;
using namespace openkd::sim;

namespace {
// An independent 4-level walk through physical memory, as a debugger does it.
std::optional<std::uint64_t> walk(PhysicalMemory& pm, std::uint64_t cr3, std::uint64_t va) {
  std::uint64_t table = cr3;
  for (int level = 3; level >= 0; --level) {
    std::uint64_t e = pm.read_u64(table + 8 * ((va >> (12 + 9 * level)) & 0x1FF));
    if (!(e & 1)) return std::nullopt;
    table = e & 0x000FFFFFFFFFF000ull;
  }
  return table | (va & 0xFFF);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(machine)

BOOST_AUTO_TEST_CASE(boots_and_runs_without_a_debugger) {
  auto sim = test::make_simulator(test::options(1, false));
  auto start = link::TimePoint{};
  for (int k = 0; k < 100 && sim->machine().console().find("boot complete") == std::string::npos; ++k)
    sim->run_for(1'000'000, start);
  BOOST_TEST(sim->failure().empty());
  BOOST_TEST(sim->machine().console().find("boot complete") != std::string::npos);
  auto tick = sim->machine().kernel_export("KeTickCount");
  BOOST_REQUIRE(tick);
  BOOST_TEST(sim->machine().space().read_u64(*tick) == sim->machine().ticks());
  BOOST_TEST(sim->machine().ticks() > 0u);
}

BOOST_AUTO_TEST_CASE(page_tables_translate_every_mapped_page) {
  auto sim = test::make_simulator(test::options(2));
  Machine& m = sim->machine();
  for (const Region& r : m.space().regions()) {
    for (std::uint64_t off = 0; off < r.size; off += 0x1000) {
      auto pa = walk(m.physical(), m.space().cr3(), r.va + off);
      BOOST_REQUIRE(pa.has_value());
      BOOST_TEST(*pa == r.pa + off);
    }
  }
  // Physical and virtual views share bytes: the kernel's MZ header.
  std::uint8_t v[2]{}, p[2]{};
  m.space().read(kKernelBase, v);
  m.physical().read(*walk(m.physical(), m.space().cr3(), kKernelBase), p);
  BOOST_TEST(v[0] == 'M');
  BOOST_TEST(p[0] == v[0]);
  BOOST_TEST(p[1] == v[1]);
  BOOST_TEST(!walk(m.physical(), m.space().cr3(), 0).has_value());
}

BOOST_AUTO_TEST_CASE(driver_is_relocated_and_imports_resolved) {
  auto sim = test::make_simulator({});
  Machine& m = sim->machine();
  auto pe = load_pe_file(std::string(OPENKD_KERNEL_DIR) + "/simdrv.sys");
  BOOST_REQUIRE(pe.has_value());
  BOOST_TEST(pe->image_base != kDriverBase);  // so the loader had to relocate it
  BOOST_REQUIRE(!pe->imports.empty());
  for (const auto& imp : pe->imports) {
    auto want = m.kernel_export(imp.name);
    BOOST_REQUIRE(want.has_value());
    BOOST_TEST(m.space().read_u64(kDriverBase + imp.iat_rva) == *want);
  }
}

BOOST_AUTO_TEST_CASE(io_ports_uart_and_pit) {
  IoBus io;
  io.write(0x3FF, 1, 0x5A);
  BOOST_TEST(io.read(0x3FF, 1) == 0x5Au);       // scratch register
  BOOST_TEST((io.read(0x3FD, 1) & 0x60) == 0x60u);  // LSR: THR empty, transmitter empty
  io.write(0x3F8, 1, 'k');
  io.write(0x3F8, 1, 'd');
  BOOST_TEST(io.uart().transmitted() == "kd");
  io.write(0x43, 1, 0x34);  // channel 0, lobyte/hibyte, mode 2
  io.write(0x40, 1, 0x00);
  io.write(0x40, 1, 0x10);  // reload 0x1000
  io.pit().tick(0x10);
  io.write(0x43, 1, 0x00);  // latch channel 0
  std::uint32_t lo = io.read(0x40, 1), hi = io.read(0x40, 1);
  BOOST_TEST(((hi << 8) | lo) == 0x0FF0u);
  BOOST_TEST(io.read(0x1234, 2) == 0xFFFFu);  // nothing there
}

BOOST_AUTO_TEST_CASE(fault_spec_parses_and_rejects) {
  auto ok = parse_faults("drop=0.1,corrupt=0.05,dup=0,truncate=0.2,delay=5,seed=7");
  BOOST_REQUIRE(ok.has_value());
  BOOST_TEST(ok->drop == 0.1);
  BOOST_TEST(ok->delay.count() == 5);
  BOOST_TEST(ok->seed == 7u);
  BOOST_TEST(!parse_faults("drop=2").has_value());
  BOOST_TEST(!parse_faults("bogus=1").has_value());
  BOOST_TEST(!parse_faults("delay=x").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(link_pacing)

BOOST_AUTO_TEST_CASE(baud_paces_output_like_a_serial_line) {
  SimulatorConfig c;
  c.machine.kernel_dir = OPENKD_KERNEL_DIR;
  c.break_on_boot = true;
  c.baud = 1000;  // 100 bytes a second
  auto sim = Simulator::create(c);
  BOOST_REQUIRE(sim.has_value());
  link::TimePoint t0{};
  (*sim)->feed(wire::kdcom::encode_control(wire::kdcom::PacketType::Reset, 0), t0);
  (*sim)->run_for(1000, t0);
  BOOST_TEST((*sim)->take_output(t0).size() == 0u);  // nothing has crossed the line yet
  // The RESET answer (16 bytes) takes 160 ms; the state change (16 + 240 + 1 bytes) 2.57 s more.
  BOOST_TEST((*sim)->take_output(t0 + std::chrono::milliseconds(200)).size() == 16u);
  BOOST_TEST((*sim)->take_output(t0 + std::chrono::milliseconds(2000)).size() == 0u);
  BOOST_TEST((*sim)->take_output(t0 + std::chrono::milliseconds(2800)).size() == 257u);
}

BOOST_AUTO_TEST_SUITE_END()
