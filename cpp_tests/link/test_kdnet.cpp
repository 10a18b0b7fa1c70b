// Both roles with KDNET ids (docs/protocol.md section 6), one datagram payload
// per on_receive: ids count by 2, ACKs echo them, RESET keeps counting, no
// 0xAA trailer, break-in is the one-byte payload 'b'.
#include <boost/test/unit_test.hpp>

#include "cpp_tests/link/script.hpp"

using namespace openkd::test;
using namespace openkd;
using link::IdScheme;
using link::LinkConfig;
using std::chrono::milliseconds;

namespace {
Scripted target() { return Scripted(LinkConfig::target(IdScheme::Kdnet)); }
Scripted host() { return Scripted(LinkConfig::host(IdScheme::Kdnet)); }
Bytes datagram(PacketType type, std::uint32_t id, Bytes body) { return data_frame(type, id, std::move(body), false); }
}  // namespace

BOOST_AUTO_TEST_SUITE(kdnet)

BOOST_AUTO_TEST_CASE(target_ids_count_by_two_without_trailer) {
  auto t = target();
  for (std::uint32_t id : {0u, 2u, 4u, 6u}) {
    t.send(PacketType::DebugIo, body_of(30, std::uint8_t(id)));
    const std::string sent = t.frame();
    BOOST_TEST(sent == H(datagram(PacketType::DebugIo, id, body_of(30, std::uint8_t(id)))));
    BOOST_TEST(sent.size() == 2u * (16 + 30));  // header and body, no 0xAA
    t.feed(ack(id));
    BOOST_TEST(only<link::SendComplete>(t.events()).size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(host_ids_count_from_0x80000000) {
  auto h = host();
  h.feed(datagram(PacketType::StateChange64, 0, body_of(240, 1)));  // the target's first packet
  BOOST_TEST(h.frame() == H(ack(0)));
  BOOST_TEST(only<link::Synchronized>(h.events()).size() == 1u);
  for (std::uint32_t id : {0x80000000u, 0x80000002u, 0x80000004u}) {
    h.send(PacketType::StateManipulate, body_of(56, 2));
    BOOST_TEST(h.frame() == H(datagram(PacketType::StateManipulate, id, body_of(56, 2))));
    h.feed(ack(id));
  }
  BOOST_TEST(h.link.counters().acks_received == 3u);
}

BOOST_AUTO_TEST_CASE(acks_echo_the_id_and_duplicates_are_dropped) {
  auto t = target();
  struct Row {
    std::uint32_t id;
    bool delivered;
  };
  const Row rows[] = {
      {0x80000000, true}, {0x80000000, false}, {0x80000002, true},
      {0x80000000, false},  // a late copy from further back
      {0x80000006, true},   // ahead: the debugger gave up on 0x80000004
      {0x80000004, false},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("id " << std::hex << r.id) {
      t.feed(datagram(PacketType::StateManipulate, r.id, body_of(56, 3)));
      BOOST_TEST(t.frame() == H(ack(r.id)));
      BOOST_TEST(only<link::PacketReceived>(t.events()).size() == (r.delivered ? 1u : 0u));
    }
  }
}

BOOST_AUTO_TEST_CASE(reset_answers_with_the_next_id_and_ids_keep_counting) {
  auto t = target();
  t.send(PacketType::StateChange64, body_of(240, 1));
  t.feed(ack(0));
  t.feed(datagram(PacketType::StateManipulate, 0x80000000, body_of(56, 2)));
  t.send(PacketType::StateManipulate, body_of(56, 3));  // id 2, in flight
  t.frames();
  t.events();

  // The debugger resets, announcing its next id (0x80000002).
  t.feed(reset(0x80000002));
  auto frames = t.frames();
  BOOST_TEST_REQUIRE(frames.size() == 2u);
  BOOST_TEST(H(frames[0]) == H(reset(2)));  // our next id: the pending packet's
  BOOST_TEST(H(frames[1]) == H(datagram(PacketType::StateManipulate, 2, body_of(56, 3))));
  BOOST_TEST(only<link::ResetReceived>(t.events()).size() == 1u);
  BOOST_TEST(t.link.expected_id().value_or(0) == 0x80000002u);

  // A RESET announcing an id we already have changes nothing about receiving.
  t.feed(reset(0x80000000));
  t.frames();
  BOOST_TEST(t.link.expected_id().value_or(0) == 0x80000002u);
  t.feed(datagram(PacketType::StateManipulate, 0x80000000, body_of(56, 2)));
  BOOST_TEST(only<link::PacketReceived>(t.events()).empty());
}

BOOST_AUTO_TEST_CASE(host_learns_the_target_ids_from_its_reset_answer) {
  auto h = host();
  h.send(PacketType::StateManipulate, body_of(56, 1));
  h.link.start_sync(h.now);
  BOOST_TEST(h.frame() == H(reset(0x80000000)));
  h.advance(milliseconds(1000));
  BOOST_TEST(h.frame() == H(reset(0x80000000)));
  h.feed(reset(0x2a));  // a target that has been talking to someone before
  BOOST_TEST(only<link::Synchronized>(h.events()).size() == 1u);
  BOOST_TEST(h.frame() == H(datagram(PacketType::StateManipulate, 0x80000000, body_of(56, 1))));
  h.feed(datagram(PacketType::DebugIo, 0x2a, body_of(8, 1)));
  BOOST_TEST(h.frame() == H(ack(0x2a)));
  BOOST_TEST(only<link::PacketReceived>(h.events()).size() == 1u);
  h.feed(datagram(PacketType::DebugIo, 0x28, body_of(8, 1)));
  BOOST_TEST(only<link::PacketReceived>(h.events()).empty());
}

BOOST_AUTO_TEST_CASE(break_in_pseudo_packet_and_truncated_datagrams) {
  auto t = target();
  t.feed(Bytes{0x62});
  BOOST_TEST(only<link::BreakInReceived>(t.events()).size() == 1u);

  // The target's 12-byte hello (leader 0, type 0, length 0, 192.168.2.1) is
  // not a KD packet; a host ignores it.
  auto h = host();
  h.feed(Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0xa8, 0xc0});
  BOOST_TEST(h.events().empty());
  BOOST_TEST(h.frames().empty());
  BOOST_TEST(h.link.counters().pseudo_packets == 1u);

  // A datagram cut short leaves nothing behind for the next one.
  Bytes cut = datagram(PacketType::DebugIo, 0x80000000, body_of(40, 1));
  cut.resize(30);
  t.feed(cut);
  BOOST_TEST(t.link.counters().truncated_datagrams == 1u);
  t.feed(datagram(PacketType::DebugIo, 0x80000000, body_of(40, 1)));
  BOOST_TEST(t.frame() == H(ack(0x80000000)));
  BOOST_TEST(only<link::PacketReceived>(t.events()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(giving_up_skips_the_abandoned_id) {
  auto t = target();
  t.send(PacketType::DebugIo, body_of(8, 1));
  for (int i = 0; i <= 20; ++i) t.advance(milliseconds(1000));
  BOOST_TEST(only<link::PeerGone>(t.events()).size() == 1u);
  t.frames();
  t.send(PacketType::DebugIo, body_of(8, 2));
  BOOST_TEST(t.frame() == H(datagram(PacketType::DebugIo, 2, body_of(8, 2))));
}

BOOST_AUTO_TEST_SUITE_END()
