// Two runs with the same seed and the same debugger requests agree exactly:
// state changes, RIPs and instruction counts, with and without link faults.
#include <boost/test/unit_test.hpp>

#include "sim_host.hpp"

using namespace openkd;
using namespace openkd::sim;

namespace {
std::vector<StateChangeRecord> scenario(unsigned cpus, std::uint64_t seed, const FaultConfig& faults) {
  auto sim = test::make_simulator(test::options(cpus, true, seed, faults));
  test::Host host(*sim);
  host.attach();
  Machine& m = sim->machine();
  wire::Manipulate bp;
  bp.api = static_cast<std::uint32_t>(wire::Api::WriteBreakPoint);
  bp.args = wire::WriteBreakPointArgs{*m.kernel_export("PsCreateSystemThread"), 0};
  host.request(bp);
  for (int k = 0; k < 6; ++k) {
    auto sc = host.go();
    if (!sc) break;
    host.go(wire::kDbgContinue, true);  // and one single step
  }
  if (faults.any()) {
    auto hits = [](const FaultCounters& c) { return c.dropped + c.corrupted + c.duplicated + c.truncated; };
    BOOST_TEST(hits(sim->incoming_faults()) > 0u);
    BOOST_TEST(hits(sim->outgoing_faults()) > 0u);
  }
  return sim->stub().history();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(determinism)

BOOST_AUTO_TEST_CASE(same_seed_same_run_one_and_four_cpus) {
  for (unsigned cpus : {1u, 4u}) {
    auto a = scenario(cpus, 42, {});
    auto b = scenario(cpus, 42, {});
    BOOST_TEST(a.size() >= 10u);
    BOOST_TEST((a == b), "runs differ on " << cpus << " CPUs");
    BOOST_TEST(a.back().instructions > 0u);
  }
}

BOOST_AUTO_TEST_CASE(same_fault_seed_same_run) {
  auto faults = parse_faults("drop=0.05,corrupt=0.05,dup=0.05,truncate=0.05,seed=9");
  BOOST_REQUIRE(faults);
  for (unsigned cpus : {1u, 4u}) {
    auto a = scenario(cpus, 7, *faults);
    auto b = scenario(cpus, 7, *faults);
    BOOST_TEST(a.size() >= 10u);
    BOOST_TEST((a == b), "faulty runs differ on " << cpus << " CPUs");
    // Faults only cost retransmissions while the machine is stopped: the
    // kernel's own run is the same as without them.
    auto clean = scenario(cpus, 7, {});
    BOOST_TEST((a == clean), "faults changed the run on " << cpus << " CPUs");
  }
}

BOOST_AUTO_TEST_SUITE_END()
