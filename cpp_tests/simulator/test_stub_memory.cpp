// The KD stub's memory APIs, checked against the machine's own state.
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
}  // namespace

BOOST_AUTO_TEST_SUITE(stub_memory)

BOOST_AUTO_TEST_CASE(break_on_boot_reports_the_first_instruction_and_version) {
  auto sim = test::make_simulator(test::options(1));
  test::Host host(*sim);
  auto sc = host.attach();
  auto entry = sim->machine().kernel_export("KiSystemStartup");
  BOOST_TEST(sc.program_counter == *entry);
  BOOST_TEST(sc.number_processors == 1u);
  auto* ex = std::get_if<wire::ExceptionState>(&sc.state);
  BOOST_REQUIRE(ex);
  BOOST_TEST(ex->record.code == wire::kExceptionBreakpoint);
  BOOST_TEST(sim->machine().instructions() == 0u);

  auto r = host.request(make(wire::Api::GetVersion, wire::GetVersion64{}));
  BOOST_REQUIRE(r);
  auto& v = std::get<wire::GetVersion64>(r->args);
  BOOST_TEST(v.major_version == 0x0F);
  BOOST_TEST(v.minor_version == 19041);
  BOOST_TEST(v.protocol_version == 6);
  BOOST_TEST(v.kd_secondary_version == 2);
  BOOST_TEST(v.flags == (wire::kVersionFlagPtr64 | wire::kVersionFlagData));
  BOOST_TEST(v.machine_type == 0x8664);
  BOOST_TEST(v.max_packet_type == 12);
  BOOST_TEST(v.max_state_change == 3);
  BOOST_TEST(v.max_manipulate == 0x31);
  BOOST_TEST(v.kern_base == kKernelBase);
  BOOST_TEST(v.ps_loaded_module_list == *sim->machine().kernel_export("PsLoadedModuleList"));
  BOOST_TEST(v.debugger_data_list == *sim->machine().kernel_export("KdpDebuggerDataListHead"));
}

BOOST_AUTO_TEST_CASE(virtual_and_physical_reads_match_the_machine) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  auto bytes = host.read_virtual(kKernelBase, 4000);
  BOOST_TEST(bytes.size() == wire::kMaxReadChunk);  // capped at 3944
  wire::Bytes mine(bytes.size());
  m.space().read(kKernelBase, mine);
  BOOST_TEST(bytes == mine);
  // The same bytes through the page tables.
  auto pa = m.space().translate(kKernelBase);
  BOOST_REQUIRE(pa);
  BOOST_TEST(host.read_physical(*pa, 256) == wire::Bytes(mine.begin(), mine.begin() + 256));
  // A read that runs into an unmapped page: the bytes before it, STATUS_UNSUCCESSFUL.
  std::uint32_t status = 0;
  auto partial = host.read_virtual(kKernelBase + m.kernel_size() - 16, 64, &status);
  BOOST_TEST(partial.size() == 16u);
  BOOST_TEST(status == wire::kStatusUnsuccessful);
  host.read_virtual(0x1000, 8, &status);
  BOOST_TEST(status == wire::kStatusUnsuccessful);
}

BOOST_AUTO_TEST_CASE(writes_land_in_both_views) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  wire::Bytes data{1, 2, 3, 4, 5};
  BOOST_TEST(host.write_virtual(kPoolBase + 0x800000, data) == wire::kStatusSuccess);
  wire::Bytes back(5);
  m.physical().read(*m.space().translate(kPoolBase + 0x800000), back);
  BOOST_TEST(back == data);
  auto pa = *m.space().translate(kPoolBase + 0x900000);
  auto w = host.request(make(wire::Api::WritePhysicalMemory, wire::MemoryTransfer{pa, 3, 0}, {9, 8, 7}));
  BOOST_REQUIRE(w);
  BOOST_TEST(w->return_status == wire::kStatusSuccess);
  BOOST_TEST(host.read_virtual(kPoolBase + 0x900000, 3) == (wire::Bytes{9, 8, 7}));
}

BOOST_AUTO_TEST_CASE(search_fill_and_query) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  auto kdbg = *m.kernel_export("KdDebuggerDataBlock");
  // OwnerTag "KDBG" sits at KDDEBUGGER_DATA64 + 0x10.
  auto s = host.request(make(wire::Api::SearchMemory, wire::SearchMemoryArgs{kKernelBase, m.kernel_size(), 4},
                             {'K', 'D', 'B', 'G'}));
  BOOST_REQUIRE(s);
  BOOST_TEST(s->return_status == wire::kStatusSuccess);
  BOOST_TEST(std::get<wire::SearchMemoryArgs>(s->args).search_address == kdbg + 0x10);
  auto miss = host.request(make(wire::Api::SearchMemory, wire::SearchMemoryArgs{kPoolBase + 0x2000000, 0x10000, 3},
                                {0xDE, 0xAD, 0x99}));
  BOOST_REQUIRE(miss);
  BOOST_TEST(miss->return_status != wire::kStatusSuccess);

  auto f = host.request(make(wire::Api::FillMemory, wire::FillMemoryArgs{kPoolBase + 0x1000000, 10, 1, 3}, {0xAB, 0xCD, 0xEF}));
  BOOST_REQUIRE(f);
  BOOST_TEST(f->return_status == wire::kStatusSuccess);
  BOOST_TEST(std::get<wire::FillMemoryArgs>(f->args).length == 10u);
  wire::Bytes filled(11);
  m.space().read(kPoolBase + 0x1000000, filled);
  BOOST_TEST(filled == (wire::Bytes{0xAB, 0xCD, 0xEF, 0xAB, 0xCD, 0xEF, 0xAB, 0xCD, 0xEF, 0xAB, 0x00}));
  auto pa = *m.space().translate(kPoolBase + 0x1100000);
  auto fp = host.request(make(wire::Api::FillMemory, wire::FillMemoryArgs{pa, 4, 2, 1}, {0x77}));
  BOOST_REQUIRE(fp);
  BOOST_TEST(host.read_virtual(kPoolBase + 0x1100000, 4) == (wire::Bytes{0x77, 0x77, 0x77, 0x77}));

  auto q = host.request(make(wire::Api::QueryMemory, wire::QueryMemoryArgs{kKernelBase + 0x1000, 0, 0, 0}));
  BOOST_REQUIRE(q);
  BOOST_TEST(q->return_status == wire::kStatusSuccess);
  BOOST_TEST(std::get<wire::QueryMemoryArgs>(q->args).address_space == 2u);
  BOOST_TEST(std::get<wire::QueryMemoryArgs>(q->args).flags == 7u);
  auto qp = host.request(make(wire::Api::QueryMemory, wire::QueryMemoryArgs{kPoolBase, 0, 0, 0}));
  BOOST_TEST(std::get<wire::QueryMemoryArgs>(qp->args).flags == 3u);  // pool: no execute
  auto qn = host.request(make(wire::Api::QueryMemory, wire::QueryMemoryArgs{0x10000, 0, 0, 0}));
  BOOST_TEST(qn->return_status == wire::kStatusUnsuccessful);
}

BOOST_AUTO_TEST_CASE(unknown_and_unsupported_apis_get_an_error_reply) {
  auto sim = test::make_simulator({});
  test::Host host(*sim);
  host.attach();
  wire::Manipulate unknown;
  unknown.api = 0x31FF;
  auto r = host.request(unknown);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->api == 0x31FFu);
  BOOST_TEST(r->return_status == wire::kStatusUnsuccessful);
  auto ni = host.request(make(wire::Api::GetBusData, wire::BusDataArgs{}));
  BOOST_REQUIRE(ni);
  BOOST_TEST(ni->return_status == wire::kStatusNotImplemented);
  BOOST_TEST(sim->stub().counters().unknown_apis == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stub_robustness)

BOOST_AUTO_TEST_CASE(garbage_and_malformed_requests_do_not_hurt) {
  auto sim = test::make_simulator(test::options(1));
  test::Host host(*sim);
  host.attach();
  // Line noise between packets (no 'b' in it: that would be a break-in).
  std::uint64_t x = 12345;
  wire::Bytes noise(5000);
  for (auto& b : noise) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<std::uint8_t>(x >> 56);
    if (b == 'b') b = 'c';
  }
  sim->feed(noise, {});
  // A manipulate packet too short for its header, and one whose data disagrees with its length field.
  host.send_raw(wire::kdcom::PacketType::StateManipulate, wire::Bytes(20, 0x31));
  wire::Manipulate bad;
  bad.api = static_cast<std::uint32_t>(wire::Api::WriteVirtualMemory);
  bad.args = wire::MemoryTransfer{kPoolBase, 100, 0};
  bad.data = wire::Bytes(3, 0);
  host.send_raw(wire::kdcom::PacketType::StateManipulate, wire::encode(bad));
  for (int k = 0; k < 10; ++k) host.pump(0);
  BOOST_TEST(sim->stub().counters().malformed >= 1u);
  wire::Manipulate v;
  v.api = static_cast<std::uint32_t>(wire::Api::GetVersion);
  v.args = wire::GetVersion64{};
  auto r = host.request(v);
  BOOST_REQUIRE(r);
  BOOST_TEST(std::get<wire::GetVersion64>(r->args).kern_base == kKernelBase);
}

BOOST_AUTO_TEST_SUITE_END()
