// Many more seeds than the fixed ones, for hunting rare interleavings:
// OPENKD_LINK_SOAK=N runs N seeds of every scheme, traffic and fault rate, with
// and without RESETs in the middle (off by default: ctest stays quick).
//
// Known limit (300 seeds = 9600 runs, at bb6c4c6): about 9 runs fail, all
// KDCOM with a RESET every 1.3 s at 20% of every fault. KDCOM RESETs and
// their answers carry no id and an ACK of 0x80800000 fits any SYNC packet,
// so with several RESETs outstanding (answers lost) a debugger can take one
// target restart for another and lose a packet. Nothing fails at 10% or
// below, nor over KDNET.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <sstream>

#include "cpp_tests/link/workload.hpp"

using namespace openkd;
using namespace openkd::test;
using link::IdScheme;
using link::LinkConfig;

namespace {

int soak_seeds() {
  const char* n = std::getenv("OPENKD_LINK_SOAK");
  return n ? std::atoi(n) : 0;
}

/// OPENKD_LINK_SOAK_ONLY="kdcom turns 0.1 1 5" (scheme, traffic, rate, resets,
/// seed) runs that one case, e.g. with OPENKD_LINK_TRACE to see its wire.
bool selected(IdScheme scheme, Traffic traffic, double rate, bool resets, int seed) {
  const char* only = std::getenv("OPENKD_LINK_SOAK_ONLY");
  if (!only) return true;
  std::ostringstream key;
  key << scheme << " " << traffic << " " << rate << " " << resets << " " << seed;
  return key.str() == only;
}

LinkConfig fast(LinkConfig c, Traffic traffic) {
  c.retry_timeout = std::chrono::milliseconds(100);
  c.partial_packet_timeout = std::chrono::milliseconds(40);
  c.data_counts_as_ack = traffic == Traffic::Turns;
  // Correctness, not the give-up policy: at 20% of every fault, 21 failed
  // round trips in a row are likely enough somewhere in a run.
  c.max_retries = 1000;
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(soak)

BOOST_AUTO_TEST_CASE(many_seeds) {
  const int seeds = soak_seeds();
  if (seeds == 0) return;
  constexpr std::size_t kPackets = 300;
  std::size_t runs = 0;
  for (int seed = 1; seed <= seeds; ++seed)
    for (IdScheme scheme : {IdScheme::Kdcom, IdScheme::Kdnet})
      for (Traffic traffic : {Traffic::Turns, Traffic::Duplex})
        for (double rate : {0.01, 0.05, 0.10, 0.20})
          for (bool resets : {false, true}) {
            if (!selected(scheme, traffic, rate, resets, seed)) continue;
            BOOST_TEST_CONTEXT(scheme << " " << traffic << " rate " << rate << " resets " << resets << " seed " << seed) {
              const Workload work = make_workload(seed, kPackets, 4);
              Sim sim(fast(LinkConfig::host(scheme), traffic), fast(LinkConfig::target(scheme), traffic),
                      scheme == IdScheme::Kdcom ? Transport::Stream : Transport::Datagram, FaultRates::all(rate),
                      static_cast<std::uint64_t>(seed) * 7919);
              const bool repeats_allowed = resets && scheme == IdScheme::Kdcom;
              Exchange ex(sim, work, traffic, repeats_allowed);
              sim.host.start_sync(sim.now);
              ex.start();
              std::size_t syncs = 1;
              const TimePoint limit = sim.now + std::chrono::hours(2);
              while (!ex.done() && sim.now < limit) {
                if (!resets) {
                  sim.run_until([&] { return ex.done(); }, std::chrono::hours(2));
                  break;
                }
                sim.run_for(std::chrono::milliseconds(1300));
                if (ex.done()) break;
                sim.host.start_sync(sim.now);
                ++syncs;
              }
              ++runs;
              BOOST_TEST(ex.done(), "host got " << ex.host_got << ", target got " << ex.target_got << ", host pending "
                                                 << sim.host.pending_sends() << ", target pending "
                                                 << sim.target.pending_sends() << ", " << syncs << " resets");
              BOOST_TEST(ex.mismatches == 0u, ex.first_mismatch);
              BOOST_TEST(ex.peer_gone == 0u);
              BOOST_TEST(ex.repeats <= (repeats_allowed ? 2 * syncs : 0u));
            }
          }
  BOOST_TEST_MESSAGE(runs << " soak runs");
}

BOOST_AUTO_TEST_SUITE_END()
