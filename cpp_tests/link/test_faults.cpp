// A host Link and a target Link over a seeded faulty channel on simulated time:
// thousands of packets each way, every one delivered once, in order and
// byte-identical, at 0, 1, 5 and 10% of each fault (drop, corrupt, duplicate,
// truncate, delay), for the KDCOM ids on a byte stream and the KDNET ids on
// datagrams. Run with --log_level=message to see the counters.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "cpp_tests/link/workload.hpp"

using namespace openkd;
using namespace openkd::test;
using link::IdScheme;
using link::LinkConfig;
namespace bdata = boost::unit_test::data;

namespace {

constexpr std::size_t kPacketsEachWay = 2000;

LinkConfig config(LinkConfig c, Traffic traffic) {
  c.retry_timeout = std::chrono::milliseconds(100);
  c.partial_packet_timeout = std::chrono::milliseconds(40);
  // Taking a data packet as the ACK is only sound when sides take turns.
  c.data_counts_as_ack = traffic == Traffic::Turns;
  return c;
}

void run_exchange(IdScheme scheme, double rate, Traffic traffic, std::uint64_t seed) {
  const Workload work = make_workload(seed, kPacketsEachWay);
  Sim sim(config(LinkConfig::host(scheme), traffic), config(LinkConfig::target(scheme), traffic),
          scheme == IdScheme::Kdcom ? Transport::Stream : Transport::Datagram, FaultRates::all(rate), seed);
  Exchange exchange(sim, work, traffic);
  sim.host.start_sync(sim.now);
  exchange.start();
  const bool finished = sim.run_until([&] { return exchange.done(); }, std::chrono::hours(4));

  BOOST_TEST(finished);
  BOOST_TEST(exchange.mismatches == 0u, exchange.first_mismatch);
  BOOST_TEST(exchange.repeats == 0u);
  BOOST_TEST(exchange.peer_gone == 0u);
  BOOST_TEST(exchange.host_got == kPacketsEachWay);
  BOOST_TEST(exchange.target_got == kPacketsEachWay);
  // Each send completes exactly once, each packet is delivered exactly once.
  BOOST_TEST(exchange.host_completed == kPacketsEachWay);
  BOOST_TEST(exchange.target_completed == kPacketsEachWay);
  BOOST_TEST(sim.host.counters().packets_received == kPacketsEachWay);
  BOOST_TEST(sim.target.counters().packets_received == kPacketsEachWay);
  if (rate == 0) {
    // A clean wire needs no retransmission beyond the target's first packet,
    // which it sends again after answering the RESET it crossed.
    BOOST_TEST(sim.host.counters().retransmissions == 0u);
    BOOST_TEST(sim.target.counters().retransmissions <= 1u);
    BOOST_TEST(sim.host.counters().framing_errors() + sim.target.counters().framing_errors() == 0u);
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::milliseconds>(sim.now - sim_epoch()).count() / 1000.0;
  BOOST_TEST_MESSAGE(scheme << " " << traffic << " faults " << rate * 100 << "% each: " << seconds
                            << " simulated s");
  BOOST_TEST_MESSAGE("  wire to target: " << format_stats(sim.to_target.stats()));
  BOOST_TEST_MESSAGE("  wire to host:   " << format_stats(sim.to_host.stats()));
  BOOST_TEST_MESSAGE("  host:   " << format_counters(sim.host.counters()));
  BOOST_TEST_MESSAGE("  target: " << format_counters(sim.target.counters()));
}

const double kRates[] = {0.0, 0.01, 0.05, 0.10};
const IdScheme kSchemes[] = {IdScheme::Kdcom, IdScheme::Kdnet};

}  // namespace

BOOST_AUTO_TEST_SUITE(faulty_wire)

// KD's own discipline: a side speaks after it heard everything the other said
// (the target takes a debugger packet as the ACK it waits for).
BOOST_DATA_TEST_CASE(turns, bdata::make(kRates) * bdata::make(kSchemes), rate, scheme) {
  run_exchange(scheme, rate, Traffic::Turns, 1000 + static_cast<std::uint64_t>(rate * 100) * 10 + (scheme == IdScheme::Kdnet));
}

// Both sides send whenever they like (no implicit ACK).
BOOST_DATA_TEST_CASE(duplex, bdata::make(kRates) * bdata::make(kSchemes), rate, scheme) {
  run_exchange(scheme, rate, Traffic::Duplex, 2000 + static_cast<std::uint64_t>(rate * 100) * 10 + (scheme == IdScheme::Kdnet));
}

BOOST_AUTO_TEST_SUITE_END()
