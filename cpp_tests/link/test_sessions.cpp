// Whole sessions between a host Link and a target Link on simulated time:
// RESETs in the middle of traffic, a debugger that goes away (and comes
// back), and the break-in byte reaching the target.
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "cpp_tests/link/script.hpp"
#include "cpp_tests/link/workload.hpp"

using namespace openkd;
using namespace openkd::test;
using link::IdScheme;
using link::LinkConfig;
using std::chrono::milliseconds;
namespace bdata = boost::unit_test::data;

namespace {

LinkConfig fast(LinkConfig c) {
  c.retry_timeout = milliseconds(100);
  c.partial_packet_timeout = milliseconds(40);
  return c;
}

Transport transport_of(IdScheme scheme) {
  return scheme == IdScheme::Kdcom ? Transport::Stream : Transport::Datagram;
}

template <class E>
std::size_t count_events(std::vector<std::pair<link::Role, link::LinkEvent>>& log, link::Role side) {
  std::size_t n = 0;
  for (auto& [who, e] : log) n += who == side && std::holds_alternative<E>(e);
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sessions)

// The debugger resets every 1.7 s while packets flow both ways. KDNET ids
// survive a RESET: still exactly once. KDCOM ids restart, so the packet
// pending at a RESET may arrive a second time, right after itself (the
// receiver cannot tell a re-send from a new packet); nothing is lost.
BOOST_DATA_TEST_CASE(resets_mid_session,
                     bdata::make({IdScheme::Kdcom, IdScheme::Kdnet}) * bdata::make({0.0, 0.05}) *
                         bdata::make({Traffic::Turns, Traffic::Duplex}),
                     scheme, rate, traffic) {
  constexpr std::size_t kPackets = 600;
  const std::uint64_t seed = 77 + (scheme == IdScheme::Kdnet) * 2 + (rate > 0) + (traffic == Traffic::Duplex) * 4;
  const Workload work = make_workload(seed, kPackets, 4);
  auto target_config = fast(LinkConfig::target(scheme));
  target_config.data_counts_as_ack = traffic == Traffic::Turns;
  Sim sim(fast(LinkConfig::host(scheme)), target_config, transport_of(scheme), FaultRates::all(rate), seed);
  Exchange exchange(sim, work, traffic, /*allow_repeats=*/scheme == IdScheme::Kdcom);
  sim.host.start_sync(sim.now);
  exchange.start();

  std::size_t syncs = 1;
  const TimePoint limit = sim.now + std::chrono::hours(1);
  while (!exchange.done() && sim.now < limit) {
    // On a clean wire the session is short: reset more often.
    sim.run_for(milliseconds(rate == 0 ? 37 : 1700));
    if (exchange.done()) break;
    sim.host.start_sync(sim.now);
    ++syncs;
  }
  BOOST_TEST(exchange.done());
  BOOST_TEST(syncs > 10u);
  BOOST_TEST(exchange.mismatches == 0u, exchange.first_mismatch);
  BOOST_TEST(exchange.peer_gone == 0u);
  BOOST_TEST(exchange.host_completed == kPackets);
  BOOST_TEST(exchange.target_completed == kPackets);
  if (scheme == IdScheme::Kdnet) {
    BOOST_TEST(exchange.repeats == 0u);
  } else {
    BOOST_TEST(exchange.repeats <= 2 * syncs);  // at most the pending packet each way, per RESET
  }
  if (rate == 0) BOOST_TEST(sim.target.counters().resets_received == syncs);
  BOOST_TEST_MESSAGE(scheme << " " << traffic << " " << rate * 100 << "%: " << syncs << " resets, "
                            << exchange.repeats << " repeated deliveries; target: "
                            << format_counters(sim.target.counters()));
}

BOOST_DATA_TEST_CASE(the_debugger_goes_away_and_comes_back, bdata::make({IdScheme::Kdcom, IdScheme::Kdnet}), scheme) {
  Sim sim(fast(LinkConfig::host(scheme)), fast(LinkConfig::target(scheme)), transport_of(scheme), {}, 5);
  std::vector<std::pair<link::Role, link::LinkEvent>> log;
  sim.on_event = [&](link::Role side, const link::LinkEvent& e) { log.emplace_back(side, e); };
  sim.host.start_sync(sim.now);
  (void)sim.target.send(PacketType::StateChange64, body_of(240, 1), sim.now);
  sim.run_for(milliseconds(500));
  BOOST_TEST(count_events<link::PacketReceived>(log, link::Role::Host) == 1u);

  // Unplugged: the target tries 1 + 20 times, 100 ms apart, then gives up.
  sim.to_host.cut = sim.to_target.cut = true;
  const TimePoint sent_at = sim.now;
  const auto retransmitted_before = sim.target.counters().retransmissions;
  (void)sim.target.send(PacketType::DebugIo, body_of(30, 2), sim.now);
  (void)sim.target.send(PacketType::DebugIo, body_of(30, 3), sim.now);
  sim.run_for(milliseconds(2099));
  BOOST_TEST(count_events<link::PeerGone>(log, link::Role::Target) == 0u);
  sim.run_for(milliseconds(1));
  BOOST_TEST(count_events<link::PeerGone>(log, link::Role::Target) == 1u);
  BOOST_TEST((sim.now - sent_at == milliseconds(2100)));
  BOOST_TEST(sim.target.counters().retransmissions - retransmitted_before == 20u);
  BOOST_TEST(sim.target.pending_sends() == 0u);  // both dropped
  BOOST_TEST(sim.to_host.stats().dropped == 21u);

  // Plugged back in: the debugger resets, and the target's next packet arrives.
  sim.to_host.cut = sim.to_target.cut = false;
  sim.host.start_sync(sim.now);
  sim.run_for(milliseconds(100));
  (void)sim.target.send(PacketType::DebugIo, body_of(30, 4), sim.now);
  sim.run_for(milliseconds(500));
  BOOST_TEST(count_events<link::PacketReceived>(log, link::Role::Host) == 2u);
  BOOST_TEST(sim.target.pending_sends() == 0u);
}

BOOST_AUTO_TEST_CASE(a_debugger_with_a_retry_limit_gives_up_too) {
  auto host_config = fast(LinkConfig::host(IdScheme::Kdcom));
  host_config.max_retries = 5;
  Sim sim(host_config, fast(LinkConfig::target(IdScheme::Kdcom)), Transport::Stream, {}, 6);
  std::vector<std::pair<link::Role, link::LinkEvent>> log;
  sim.on_event = [&](link::Role side, const link::LinkEvent& e) { log.emplace_back(side, e); };
  sim.host.start_sync(sim.now);
  sim.run_for(milliseconds(100));
  BOOST_TEST(sim.host.synchronized());
  sim.to_target.cut = true;
  (void)sim.host.send(PacketType::StateManipulate, body_of(56, 1), sim.now);
  sim.run_for(milliseconds(1000));
  BOOST_TEST(count_events<link::PeerGone>(log, link::Role::Host) == 1u);
  BOOST_TEST(sim.host.counters().retransmissions == 5u);
  BOOST_TEST(!sim.host.synchronized());  // a new session starts with start_sync
}

BOOST_DATA_TEST_CASE(break_in_reaches_the_target, bdata::make({IdScheme::Kdcom, IdScheme::Kdnet}), scheme) {
  Sim sim(fast(LinkConfig::host(scheme)), fast(LinkConfig::target(scheme)), transport_of(scheme), {}, 7);
  std::vector<std::pair<link::Role, link::LinkEvent>> log;
  sim.on_event = [&](link::Role side, const link::LinkEvent& e) {
    log.emplace_back(side, e);
    // The stub answers a break-in with a breakpoint state change.
    if (side == link::Role::Target && std::holds_alternative<link::BreakInReceived>(e))
      (void)sim.target.send(PacketType::StateChange64, body_of(240, 9), sim.now);
  };
  sim.host.start_sync(sim.now);
  sim.run_for(milliseconds(100));
  // While the target prints (it is running), the debugger breaks in.
  for (int i = 0; i < 5; ++i) (void)sim.target.send(PacketType::DebugIo, body_of(40, std::uint8_t(i)), sim.now);
  sim.run_for(milliseconds(1));
  sim.host.send_break_in();
  sim.run_for(milliseconds(500));
  BOOST_TEST(count_events<link::BreakInReceived>(log, link::Role::Target) == 1u);
  BOOST_TEST(count_events<link::BreakInReceived>(log, link::Role::Host) == 0u);
  BOOST_TEST(count_events<link::PacketReceived>(log, link::Role::Host) == 6u);
  BOOST_TEST(sim.target.counters().break_ins_received == 1u);
  BOOST_TEST(sim.host.counters().framing_errors() + sim.target.counters().framing_errors() == 0u);
  // The state change comes last, after the prints queued before it.
  std::vector<PacketType> types;
  for (auto& [side, e] : log)
    if (auto* got = std::get_if<link::PacketReceived>(&e); got && side == link::Role::Host) types.push_back(got->packet.type);
  BOOST_TEST_REQUIRE(!types.empty());
  BOOST_TEST((types.back() == PacketType::StateChange64));
}

BOOST_AUTO_TEST_SUITE_END()
