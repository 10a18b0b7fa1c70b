// The KDNET endpoint (core/link/kdnet_endpoint.hpp): the handshake both ways
// (POKE/RESPONSE, and openkd's SOLICIT for target=), the pseudo packet, the
// replay window, a wrong key, a target that boots again, a lost RESPONSE, and
// the link over endpoints over a seeded lossy, duplicating, reordering channel.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <random>

#include "core/link/kdnet_endpoint.hpp"
#include "core/link/link.hpp"

using namespace openkd;
namespace kn = openkd::link::kdnet;
namespace wk = openkd::wire::kdnet;
using openkd::link::TimePoint;
using std::chrono::milliseconds;

namespace {

const kn::Address kHost{0x7F000001, 50000};    // 127.0.0.1
const kn::Address kTarget{0x7F000002, 50000};  // 127.0.0.2

wk::Key key_of(const char* text) { return *wk::parse_key(text); }

kn::RandomFill seeded(std::uint32_t seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng](std::span<std::uint8_t> out) {
    for (auto& b : out) b = static_cast<std::uint8_t>((*rng)());
  };
}

kn::EndpointConfig debugger_config(const char* key = "1.2.3.4") {
  kn::EndpointConfig c;
  c.role = kn::Role::Debugger;
  c.key = key_of(key);
  c.self = kHost;
  return c;
}
kn::EndpointConfig target_config(const char* key = "1.2.3.4", bool knows_host = true) {
  kn::EndpointConfig c;
  c.role = kn::Role::Target;
  c.key = key_of(key);
  c.self = kTarget;
  if (knows_host) c.peer = kHost;
  return c;
}

template <class T>
std::vector<T> events_of(kn::Endpoint& e) {
  std::vector<T> out;
  while (auto ev = e.take_event())
    if (auto* x = std::get_if<T>(&*ev)) out.push_back(*x);
  return out;
}

std::vector<wire::Bytes> payloads_of(kn::Endpoint& e) {
  std::vector<wire::Bytes> out;
  while (auto p = e.take_payload()) out.push_back(std::move(*p));
  return out;
}

/// Moves every queued datagram to the endpoint it is addressed to (none lost); returns how many.
/// `tap` sees (a copy of) each one.
int exchange(kn::Endpoint& a, const kn::Address& a_addr, kn::Endpoint& b, const kn::Address& b_addr, TimePoint now,
             std::vector<kn::OutDatagram>* tap = nullptr) {
  int moved = 0;
  for (bool more = true; more;) {
    more = false;
    while (auto d = a.take_datagram()) {
      if (tap) tap->push_back(*d);
      if (d->to == b_addr) b.on_datagram(d->bytes, a_addr, now);
      more = true;
      ++moved;
    }
    while (auto d = b.take_datagram()) {
      if (tap) tap->push_back(*d);
      if (d->to == a_addr) a.on_datagram(d->bytes, b_addr, now);
      more = true;
      ++moved;
    }
  }
  return moved;
}

wire::Bytes bytes(std::initializer_list<std::uint8_t> b) { return wire::Bytes(b); }

}  // namespace

BOOST_AUTO_TEST_SUITE(kdnet_endpoint)

BOOST_AUTO_TEST_CASE(replay_window_accepts_each_number_once) {
  kn::ReplayWindow w;
  BOOST_TEST(!w.accept(0));
  BOOST_TEST(w.accept(1));
  BOOST_TEST(!w.accept(1));
  BOOST_TEST(w.accept(5));
  BOOST_TEST(w.accept(3));  // late, inside the window
  BOOST_TEST(!w.accept(3));
  BOOST_TEST(w.accept(2000));
  BOOST_TEST(!w.accept(5));  // older than the window
  BOOST_TEST(w.accept(2000 - 1023));
  BOOST_TEST(!w.accept(2000 - 1024));
}

BOOST_AUTO_TEST_CASE(handshake_pseudo_packet_and_data_both_ways) {
  const TimePoint t0{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  dbg.start(t0);
  tgt.start(t0);
  std::vector<kn::OutDatagram> tap;
  exchange(dbg, kHost, tgt, kTarget, t0, &tap);
  // POKE (344-byte payload, control, key K), RESPONSE, the pseudo packet.
  BOOST_TEST_REQUIRE(tap.size() == 3u);
  auto poke = wk::decode(tap[0].bytes, wk::Keys::from_root(key_of("1.2.3.4")));
  BOOST_TEST_REQUIRE(poke.has_value());
  BOOST_TEST(poke->payload.size() == wk::kPokeSize);
  BOOST_TEST(!poke->from_debugger);
  auto response = wk::decode(tap[1].bytes, wk::Keys::from_root(key_of("1.2.3.4")));
  BOOST_TEST_REQUIRE(response.has_value());
  BOOST_TEST(response->seq == poke->seq);  // the RESPONSE carries the POKE's number
  BOOST_TEST(response->from_debugger);
  BOOST_TEST((tap[1].to == kTarget));
  BOOST_TEST(dbg.has_session());
  BOOST_TEST(tgt.has_session());
  auto pseudo = payloads_of(dbg);
  BOOST_TEST_REQUIRE(pseudo.size() == 1u);
  BOOST_TEST(*wk::parse_pseudo_packet(pseudo[0]) == kHost.ipv4);
  BOOST_TEST(events_of<kn::SessionStarted>(dbg).size() == 1u);
  BOOST_TEST(events_of<kn::SessionStarted>(tgt).size() == 1u);

  BOOST_TEST(dbg.send_data(bytes({'b'}), t0));
  BOOST_TEST(tgt.send_data(bytes({1, 2, 3}), t0));
  exchange(dbg, kHost, tgt, kTarget, t0);
  BOOST_TEST((payloads_of(tgt) == std::vector<wire::Bytes>{bytes({'b'})}));
  BOOST_TEST((payloads_of(dbg) == std::vector<wire::Bytes>{bytes({1, 2, 3})}));
}

BOOST_AUTO_TEST_CASE(keep_alive_pokes_go_on_and_are_not_answered) {
  TimePoint now{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  tgt.start(now);
  exchange(dbg, kHost, tgt, kTarget, now);
  BOOST_TEST(dbg.counters().responses_sent == 1u);
  for (int i = 0; i < 5; ++i) {
    now = *tgt.next_deadline();
    BOOST_TEST((now - TimePoint{}) == milliseconds(3000 * (i + 1)));
    tgt.on_timer(now);
    exchange(dbg, kHost, tgt, kTarget, now);
  }
  BOOST_TEST(tgt.counters().pokes_sent == 6u);
  BOOST_TEST(dbg.counters().pokes_received == 6u);
  BOOST_TEST(dbg.counters().responses_sent == 1u);  // only the first
  BOOST_TEST(dbg.counters().sessions == 1u);
}

BOOST_AUTO_TEST_CASE(duplicated_and_replayed_datagrams_are_dropped_and_counted) {
  const TimePoint t0{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  tgt.start(t0);
  std::vector<kn::OutDatagram> tap;
  exchange(dbg, kHost, tgt, kTarget, t0, &tap);
  payloads_of(dbg);
  tgt.send_data(bytes({7, 7}), t0);
  auto d = tgt.take_datagram();
  BOOST_TEST_REQUIRE(d.has_value());
  for (int i = 0; i < 3; ++i) dbg.on_datagram(d->bytes, kTarget, t0);
  BOOST_TEST(payloads_of(dbg).size() == 1u);  // once, never three times
  BOOST_TEST(dbg.counters().replays_dropped == 2u);
  // A replayed POKE is dropped (not answered again); a replayed RESPONSE is stale.
  dbg.on_datagram(tap[0].bytes, kTarget, t0);
  BOOST_TEST(dbg.counters().replays_dropped == 3u);
  BOOST_TEST(!dbg.take_datagram().has_value());
  tgt.on_datagram(tap[1].bytes, kHost, t0);
  BOOST_TEST(tgt.counters().stale_responses == 1u);
  BOOST_TEST(tgt.counters().sessions == 1u);
}

BOOST_AUTO_TEST_CASE(a_wrong_key_is_one_rate_limited_event_and_a_count) {
  TimePoint now{};
  kn::Endpoint dbg(debugger_config("1.2.3.4"), seeded(1));
  kn::Endpoint tgt(target_config("1.2.3.5"), seeded(2));
  tgt.start(now);
  exchange(dbg, kHost, tgt, kTarget, now);
  auto first = events_of<kn::AuthFailed>(dbg);
  BOOST_TEST_REQUIRE(first.size() == 1u);
  BOOST_TEST(kn::describe(first[0]) == "KDNET: authentication failed from 127.0.0.2:50000: check the key");
  for (int i = 0; i < 3; ++i) {  // POKEs at 3, 6, 9 s: counted, not reported
    now = *tgt.next_deadline();
    tgt.on_timer(now);
    exchange(dbg, kHost, tgt, kTarget, now);
  }
  BOOST_TEST(events_of<kn::AuthFailed>(dbg).empty());
  now = *tgt.next_deadline();  // 12 s: past the 10 s interval
  tgt.on_timer(now);
  exchange(dbg, kHost, tgt, kTarget, now);
  auto later = events_of<kn::AuthFailed>(dbg);
  BOOST_TEST_REQUIRE(later.size() == 1u);
  BOOST_TEST(later[0].suppressed == 3u);
  BOOST_TEST(dbg.counters().auth_failures == 5u);
  BOOST_TEST(!dbg.has_session());
  BOOST_TEST(dbg.counters().responses_sent == 0u);
}

BOOST_AUTO_TEST_CASE(authentic_but_malformed_datagrams_are_counted_events) {
  const TimePoint t0{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  auto keys = wk::Keys::from_root(key_of("1.2.3.4"));
  wk::Datagram d;
  d.channel = wk::Channel::Control;
  d.seq = 1;
  d.payload = bytes({0x01, 0x09, 0, 0});  // an unknown kind
  dbg.on_datagram(*wk::encode(d, keys), kTarget, t0);
  d.payload = bytes({0x01, 0x01});  // a POKE far too short
  dbg.on_datagram(*wk::encode(d, keys), kTarget, t0 + milliseconds(20000));
  d.from_debugger = true;  // our own kind of datagram, reflected
  d.payload = bytes({0x01, 0x02});
  dbg.on_datagram(*wk::encode(d, keys), kTarget, t0 + milliseconds(40000));
  dbg.on_datagram(bytes({'M', 'D', 'B', 'G', 4, 1, 0}), kTarget, t0 + milliseconds(60000));  // not KDNET
  auto m = events_of<kn::Malformed>(dbg);
  BOOST_TEST(m.size() == 4u);
  BOOST_TEST(dbg.counters().malformed == 3u);
  BOOST_TEST(dbg.counters().not_kdnet == 1u);
  BOOST_TEST(!dbg.has_session());
}

BOOST_AUTO_TEST_CASE(a_target_that_boots_again_is_a_new_session) {
  TimePoint now{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  std::optional<kn::Endpoint> tgt(std::in_place, target_config(), seeded(2));
  tgt->start(now);
  exchange(dbg, kHost, *tgt, kTarget, now);
  tgt->on_timer(now + milliseconds(3000));  // keep-alive POKEs: seq 2, 3
  tgt->on_timer(now + milliseconds(6000));
  exchange(dbg, kHost, *tgt, kTarget, now);
  BOOST_TEST(events_of<kn::SessionStarted>(dbg).size() == 1u);
  payloads_of(dbg);

  tgt.emplace(target_config(), seeded(3));  // booted again: its POKEs count from 1
  now += milliseconds(10000);
  tgt->start(now);
  exchange(dbg, kHost, *tgt, kTarget, now);
  auto started = events_of<kn::SessionStarted>(dbg);
  BOOST_TEST_REQUIRE(started.size() == 1u);
  BOOST_TEST(started[0].restart);
  BOOST_TEST(dbg.counters().restarts == 1u);
  tgt->send_data(bytes({9}), now);
  exchange(dbg, kHost, *tgt, kTarget, now);
  auto p = payloads_of(dbg);
  BOOST_TEST(p.size() == 2u);  // the new pseudo packet, then the data
}

BOOST_AUTO_TEST_CASE(a_lost_response_is_answered_again_and_the_key_follows_the_target) {
  TimePoint now{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  tgt.start(now);
  auto poke = tgt.take_datagram();
  dbg.on_datagram(poke->bytes, kTarget, now);
  BOOST_TEST_REQUIRE(dbg.take_datagram().has_value());  // the RESPONSE, lost
  BOOST_TEST(dbg.has_session());
  BOOST_TEST(!tgt.has_session());
  now += milliseconds(3000);
  tgt.on_timer(now);
  exchange(dbg, kHost, tgt, kTarget, now);
  BOOST_TEST(dbg.counters().responses_sent == 2u);
  BOOST_TEST(tgt.has_session());
  BOOST_TEST(dbg.counters().rekeys == 1u);
  BOOST_TEST(dbg.counters().restarts == 0u);
  BOOST_TEST(payloads_of(dbg).size() == 1u);  // the pseudo packet, under the key the target took
  dbg.send_data(bytes({'b'}), now);
  exchange(dbg, kHost, tgt, kTarget, now);
  BOOST_TEST(payloads_of(tgt).size() == 1u);
}

BOOST_AUTO_TEST_CASE(target_option_solicits_a_waiting_target) {
  TimePoint now{};
  auto dc = debugger_config();
  dc.peer = kTarget;
  kn::Endpoint dbg(dc, seeded(1));
  kn::Endpoint tgt(target_config("1.2.3.4", false), seeded(2));
  tgt.start(now);
  BOOST_TEST(!tgt.take_datagram().has_value());  // it waits
  BOOST_TEST(!tgt.next_deadline().has_value());
  dbg.start(now);
  auto solicit = dbg.take_datagram();
  BOOST_TEST_REQUIRE(solicit.has_value());
  BOOST_TEST((solicit->to == kTarget));
  // Lost: the debugger asks again after solicit_interval.
  now = *dbg.next_deadline();
  BOOST_TEST((now - TimePoint{}) == milliseconds(1000));
  dbg.on_timer(now);
  exchange(dbg, kHost, tgt, kTarget, now);
  BOOST_TEST(dbg.has_session());
  BOOST_TEST(tgt.has_session());
  BOOST_TEST(!dbg.next_deadline().has_value());  // no more SOLICITs
  BOOST_TEST(payloads_of(dbg).size() == 1u);
  BOOST_TEST((tgt.peer() == std::optional<kn::Address>(kHost)));
}

BOOST_AUTO_TEST_CASE(a_solicit_during_a_session_gets_one_poke_and_moves_nothing_until_answered) {
  TimePoint now{};
  auto dc = debugger_config();
  dc.peer = kTarget;
  kn::Endpoint dbg(dc, seeded(1));
  kn::Endpoint tgt(target_config("1.2.3.4", false), seeded(2));
  tgt.start(now);
  dbg.start(now);
  std::vector<kn::OutDatagram> tap;
  exchange(dbg, kHost, tgt, kTarget, now, &tap);
  BOOST_TEST_REQUIRE(tgt.has_session());
  payloads_of(dbg);
  events_of<kn::SessionStarted>(tgt);

  // A replay of the first SOLICIT from elsewhere is dropped; a fresh SOLICIT
  // (a debugger started again on another port) gets one POKE, while the
  // keep-alive POKEs stay with the session's debugger.
  const kn::Address elsewhere{0x7F000003, 40000};
  now += milliseconds(20000);
  tgt.on_datagram(tap.at(0).bytes, elsewhere, now);
  BOOST_TEST(tgt.counters().replays_dropped == 1u);
  auto dc2 = debugger_config();
  dc2.self = elsewhere;
  dc2.peer = kTarget;
  kn::Endpoint dbg2(dc2, seeded(3));
  dbg2.start(now);
  auto solicit = dbg2.take_datagram();
  BOOST_TEST_REQUIRE(solicit.has_value());
  tgt.on_datagram(solicit->bytes, elsewhere, now);
  tgt.on_timer(now);
  std::optional<wire::Bytes> poke_for_dbg2;
  int to_host = 0, to_elsewhere = 0;
  while (auto d = tgt.take_datagram()) {
    if (d->to == elsewhere) ++to_elsewhere, poke_for_dbg2 = d->bytes;
    if (d->to == kHost) ++to_host;
  }
  BOOST_TEST(to_elsewhere == 1);
  BOOST_TEST(to_host >= 1);
  BOOST_TEST((tgt.peer() == std::optional<kn::Address>(kHost)));
  BOOST_TEST(events_of<kn::SessionStarted>(tgt).empty());

  // Only the answer to that POKE moves the session (and the keep-alives) to it.
  // A packet of the old debugger's still waiting in the target goes with its
  // session: the new link never sees it.
  BOOST_TEST(dbg.send_data(bytes({'o', 'l', 'd'}), now));
  while (auto d = dbg.take_datagram()) tgt.on_datagram(d->bytes, kHost, now);
  dbg2.on_datagram(*poke_for_dbg2, kTarget, now);
  auto response = dbg2.take_datagram();
  BOOST_TEST_REQUIRE(response.has_value());
  tgt.on_datagram(response->bytes, elsewhere, now);
  BOOST_TEST(payloads_of(tgt).empty());
  BOOST_TEST(tgt.counters().payloads_dropped == 1u);
  auto started = events_of<kn::SessionStarted>(tgt);
  BOOST_TEST_REQUIRE(started.size() == 1u);
  BOOST_TEST(started[0].restart);
  BOOST_TEST((tgt.peer() == std::optional<kn::Address>(elsewhere)));
}

BOOST_AUTO_TEST_CASE(a_data_payload_longer_than_a_kd_packet_is_malformed_not_delivered) {
  const TimePoint t0{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  dbg.start(t0);
  tgt.start(t0);
  exchange(dbg, kHost, tgt, kTarget, t0);
  payloads_of(dbg);
  events_of<kn::Malformed>(dbg);
  // 16-byte header + 4000-byte body is the largest KD packet (PACKET_MAX_SIZE).
  BOOST_TEST(tgt.send_data(wire::Bytes(16 + 4000, 0x41), t0));
  BOOST_TEST(tgt.send_data(wire::Bytes(16 + 4001, 0x42), t0));
  exchange(dbg, kHost, tgt, kTarget, t0);
  auto got = payloads_of(dbg);
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].size() == 4016u);
  BOOST_TEST(dbg.counters().malformed == 1u);
  BOOST_TEST(events_of<kn::Malformed>(dbg).size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_link_over_endpoints_survives_loss_duplication_and_reordering) {
  // Host and target links (KDNET ids) over two endpoints; the channel loses 5%,
  // duplicates 5% and swaps neighbours 5% of datagrams (seeded). Every packet
  // arrives once and in order.
  TimePoint now{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  auto hc = link::LinkConfig::host(link::IdScheme::Kdnet);
  hc.use_datagram_timing();
  auto tc = link::LinkConfig::target(link::IdScheme::Kdnet);
  tc.use_datagram_timing();
  tc.data_counts_as_ack = false;  // both sides send on their own in this test
  link::Link host(hc), target(tc);
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  std::deque<std::pair<bool, kn::OutDatagram>> wire_q;  // (to target?, datagram)
  std::uint64_t lost = 0, duplicated = 0, swapped = 0;

  auto carry = [&] {
    for (bool more = true; more;) {
      more = false;
      for (kn::Endpoint* e : {&dbg, &tgt})
        while (auto d = e->take_datagram()) {
          more = true;
          const bool to_target = e == &dbg;
          if (u(rng) < 0.05) { ++lost; continue; }
          if (u(rng) < 0.05) { ++duplicated; wire_q.push_back({to_target, *d}); }
          if (!wire_q.empty() && u(rng) < 0.05) { ++swapped; wire_q.insert(wire_q.end() - 1, {to_target, *d}); }
          else wire_q.push_back({to_target, std::move(*d)});
        }
      while (!wire_q.empty()) {
        auto [to_target, d] = std::move(wire_q.front());
        wire_q.pop_front();
        (to_target ? tgt : dbg).on_datagram(d.bytes, to_target ? kHost : kTarget, now);
        more = true;
      }
      while (auto p = dbg.take_payload()) { host.on_receive(*p, now); more = true; }
      while (auto p = tgt.take_payload()) { target.on_receive(*p, now); more = true; }
      while (auto f = host.take_frame()) { dbg.send_data(*f, now); more = true; }
      while (auto f = target.take_frame()) { tgt.send_data(*f, now); more = true; }
    }
  };
  tgt.start(now);
  host.start_sync(now);
  std::vector<wire::Bytes> to_target, to_host, got_target, got_host;
  for (int i = 0; i < 300; ++i) {
    wire::Bytes a(100 + i % 50, std::uint8_t(i)), b(200 + i % 70, std::uint8_t(i * 7));
    to_target.push_back(a);
    to_host.push_back(b);
  }
  std::size_t next_a = 0, next_b = 0;
  for (int step = 0; step < 200000 && (got_target.size() < to_target.size() || got_host.size() < to_host.size());
       ++step) {
    if (host.synchronized() && host.pending_sends() == 0 && next_a < to_target.size())
      (void)host.send(wire::kdcom::PacketType::StateManipulate, to_target[next_a++], now);
    if (target.pending_sends() == 0 && next_b < to_host.size() && host.synchronized())
      (void)target.send(wire::kdcom::PacketType::DebugIo, to_host[next_b++], now);
    carry();
    while (auto e = host.take_event())
      if (auto* p = std::get_if<link::PacketReceived>(&*e)) got_host.push_back(p->packet.body);
    while (auto e = target.take_event())
      if (auto* p = std::get_if<link::PacketReceived>(&*e)) got_target.push_back(p->packet.body);
    now += milliseconds(10);
    host.on_timer(now);
    target.on_timer(now);
    dbg.on_timer(now);
    tgt.on_timer(now);
  }
  BOOST_TEST(lost > 0u);
  BOOST_TEST(duplicated > 0u);
  BOOST_TEST(swapped > 0u);
  BOOST_TEST((got_target == to_target), "every packet to the target, once, in order");
  BOOST_TEST((got_host == to_host), "every packet to the host, once, in order");
  BOOST_TEST(dbg.counters().replays_dropped + tgt.counters().replays_dropped > 0u);
}

BOOST_AUTO_TEST_CASE(random_datagrams_never_crash_or_deliver) {
  const TimePoint t0{};
  kn::Endpoint dbg(debugger_config(), seeded(1));
  kn::Endpoint tgt(target_config(), seeded(2));
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    wire::Bytes junk(rng() % 600);
    for (auto& b : junk) b = std::uint8_t(rng());
    if (junk.size() >= 6 && i % 2) {
      std::copy_n("MDBG", 4, junk.begin());
      junk[4] = 4;
      junk[5] = std::uint8_t(i % 3);
    }
    dbg.on_datagram(junk, kTarget, t0);
    tgt.on_datagram(junk, kHost, t0);
  }
  BOOST_TEST(!dbg.take_payload().has_value());
  BOOST_TEST(!tgt.take_payload().has_value());
  BOOST_TEST(!dbg.has_session());
}

BOOST_AUTO_TEST_SUITE_END()
