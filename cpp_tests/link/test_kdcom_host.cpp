// The host (debugger) role over KDCOM, scripted from raw bytes: the test plays
// the target's stub.
#include <boost/test/unit_test.hpp>

#include "cpp_tests/link/script.hpp"

using namespace openkd::test;
using namespace openkd;
using link::IdScheme;
using link::LinkConfig;
using std::chrono::milliseconds;

namespace {
Scripted host(int max_resets = 0) {
  auto c = LinkConfig::host(IdScheme::Kdcom);
  c.max_resets = max_resets;
  return Scripted(c);
}
const Bytes kState = body_of(240, 1);
const Bytes kRequest = body_of(56, 2);

/// A host synchronised by the target's RESET answer.
Scripted synced_host() {
  auto h = host();
  h.link.start_sync(h.now);
  h.frames();
  h.feed(reset());
  h.events();
  return h;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(kdcom_host)

BOOST_AUTO_TEST_CASE(nothing_is_sent_before_sync) {
  auto h = host();
  h.send(PacketType::StateManipulate, kRequest);
  h.advance(milliseconds(5000));
  BOOST_TEST(h.frames().empty());
  BOOST_TEST(!h.link.next_deadline());
  BOOST_TEST(h.link.pending_sends() == 1u);
  BOOST_TEST(!h.link.synchronized());
}

BOOST_AUTO_TEST_CASE(resets_once_a_second_until_answered_then_sends) {
  auto h = host();
  h.send(PacketType::StateManipulate, kRequest);
  h.link.start_sync(h.now);
  BOOST_TEST(h.frame() == H(reset()));
  h.advance(milliseconds(999));
  BOOST_TEST(h.frames().empty());
  h.advance(milliseconds(1));  // the answer was lost: RESET again
  BOOST_TEST(h.frame() == H(reset()));
  h.advance(milliseconds(1000));
  BOOST_TEST(h.frame() == H(reset()));
  BOOST_TEST(h.link.counters().resets_sent == 3u);

  h.feed(reset());
  auto sync = only<link::Synchronized>(h.events());
  BOOST_TEST_REQUIRE(sync.size() == 1u);
  BOOST_TEST((sync[0].by == link::Synchronized::By::ResetAnswer));
  BOOST_TEST(h.frame() == H(data_frame(PacketType::StateManipulate, 0x80800000, kRequest)));
  h.advance(milliseconds(5000));  // no more RESETs, only the data's retries
  for (const auto& f : h.frames()) BOOST_TEST(H(f) != H(reset()));
}

BOOST_AUTO_TEST_CASE(acks_a_sync_packet_without_sync_and_drops_its_duplicate) {
  auto h = host();
  h.link.start_sync(h.now);
  h.frames();
  // A target that ignores RESET (it was running) breaks in with SYNC: that
  // synchronises as well.
  h.feed(data_frame(PacketType::StateChange64, 0x80800800, kState));
  BOOST_TEST(h.frame() == H(ack(0x80800000)));
  auto events = h.events();
  BOOST_TEST(only<link::PacketReceived>(events).size() == 1u);
  auto sync = only<link::Synchronized>(events);
  BOOST_TEST_REQUIRE(sync.size() == 1u);
  BOOST_TEST((sync[0].by == link::Synchronized::By::SyncPacket));
  BOOST_TEST(h.link.expected_id().value_or(0) == 0x80800001u);

  // Our ACK was lost: the same SYNC packet again is ACKed and dropped.
  h.feed(data_frame(PacketType::StateChange64, 0x80800800, kState));
  BOOST_TEST(h.frame() == H(ack(0x80800000)));
  BOOST_TEST(only<link::PacketReceived>(h.events()).empty());
  BOOST_TEST(h.link.counters().duplicates_dropped == 1u);
  // No more RESETs once synchronised.
  h.advance(milliseconds(3000));
  BOOST_TEST(h.frames().empty());
}

BOOST_AUTO_TEST_CASE(receive_ids_follow_the_target) {
  struct Row {
    std::uint32_t id, acked_as;
    bool delivered;
  };
  const Row rows[] = {
      {0x80800800, 0x80800000, true},   // the target's first packet after boot
      {0x80800001, 0x80800001, true},
      {0x80800001, 0x80800001, false},  // duplicate
      {0x80800000, 0x80800000, true},
      {0x80800800, 0x80800000, true},   // the target restarted its ids (a reboot)
      {0x80800001, 0x80800001, true},
  };
  auto h = host();
  std::uint8_t n = 0;
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("id " << std::hex << r.id) {
      h.feed(data_frame(PacketType::DebugIo, r.id, body_of(20, n++)));
      BOOST_TEST(h.frame() == H(ack(r.acked_as)));
      BOOST_TEST(only<link::PacketReceived>(h.events()).size() == (r.delivered ? 1u : 0u));
    }
  }
}

BOOST_AUTO_TEST_CASE(send_ids_flip_after_each_ack) {
  auto h = synced_host();
  for (std::uint32_t id : {0x80800000u, 0x80800001u, 0x80800000u, 0x80800001u}) {
    h.send(PacketType::StateManipulate, kRequest);
    BOOST_TEST(h.frame() == H(data_frame(PacketType::StateManipulate, id, kRequest)));
    h.feed(ack(id ^ 1));  // the other id is not ours
    BOOST_TEST(only<link::SendComplete>(h.events()).empty());
    h.feed(ack(id));
    BOOST_TEST(only<link::SendComplete>(h.events()).size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(resend_from_the_target_repeats_the_pending_packet) {
  auto h = synced_host();
  h.send(PacketType::StateManipulate, kRequest);
  const std::string sent = h.frame();
  h.feed(resend());
  BOOST_TEST(h.frame() == sent);
  BOOST_TEST(h.link.counters().resends_received == 1u);
}

BOOST_AUTO_TEST_CASE(retransmits_on_timeout_until_acked) {
  auto h = synced_host();
  h.send(PacketType::StateManipulate, kRequest);
  const std::string sent = h.frame();
  for (int i = 0; i < 50; ++i) {
    h.advance(milliseconds(1000));
    BOOST_TEST(h.frame() == sent);
  }
  BOOST_TEST(only<link::PeerGone>(h.events()).empty());  // a debugger keeps trying
  h.feed(ack(0x80800000));
  BOOST_TEST(only<link::SendComplete>(h.events()).size() == 1u);
  h.advance(milliseconds(5000));
  BOOST_TEST(h.frames().empty());
}

BOOST_AUTO_TEST_CASE(limited_resets_give_up) {
  auto h = host(3);
  h.send(PacketType::StateManipulate, kRequest);
  h.link.start_sync(h.now);
  h.advance(milliseconds(1000));
  h.advance(milliseconds(1000));
  BOOST_TEST(h.frames().size() == 3u);
  h.advance(milliseconds(1000));
  BOOST_TEST(h.frames().empty());
  auto gone = only<link::PeerGone>(h.events());
  BOOST_TEST_REQUIRE(gone.size() == 1u);
  BOOST_TEST(gone[0].dropped == 1u);
  BOOST_TEST(!h.link.next_deadline());
}

BOOST_AUTO_TEST_CASE(resets_zero_keeps_resetting) {
  auto h = host(0);
  h.link.start_sync(h.now);
  for (int i = 0; i < 300; ++i) h.advance(milliseconds(1000));
  BOOST_TEST(h.frames().size() == 301u);
  BOOST_TEST(only<link::PeerGone>(h.events()).empty());
}

BOOST_AUTO_TEST_CASE(while_resetting_older_target_packets_are_left_unacked) {
  auto h = synced_host();
  h.feed(data_frame(PacketType::DebugIo, 0x80800800, body_of(9, 1)));
  h.frames();
  h.events();
  h.link.start_sync(h.now);
  BOOST_TEST(h.frame() == H(reset()));
  // Sent before the target saw our RESET; it sends it again after answering.
  h.feed(data_frame(PacketType::DebugIo, 0x80800001, body_of(9, 2)));
  BOOST_TEST(h.frames().empty());
  BOOST_TEST(only<link::PacketReceived>(h.events()).empty());
  BOOST_TEST(h.link.counters().ignored_packets == 1u);
  // Still retrying a retry period later: our RESET was lost, send one now.
  h.now += milliseconds(1000);
  h.feed(data_frame(PacketType::DebugIo, 0x80800001, body_of(9, 2)));
  BOOST_TEST(h.frame() == H(reset()));
  BOOST_TEST(only<link::PacketReceived>(h.events()).empty());

  h.feed(reset());
  h.feed(data_frame(PacketType::DebugIo, 0x80800800, body_of(9, 2)));
  BOOST_TEST(h.frame() == H(ack(0x80800000)));
  auto got = only<link::PacketReceived>(h.events());
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(H(got[0].packet.body) == H(body_of(9, 2)));
}

BOOST_AUTO_TEST_CASE(a_sync_packet_does_not_end_a_mid_session_reset) {
  // Once synchronised, our send ids have moved on: only the target's RESET
  // answer says it restarted its receive side too.
  auto h = synced_host();
  h.link.start_sync(h.now);
  h.frames();
  h.feed(data_frame(PacketType::StateChange64, 0x80800800, kState));
  BOOST_TEST(h.frames().empty());  // no ACK: it could finish a copy we never see
  BOOST_TEST(only<link::PacketReceived>(h.events()).empty());
  BOOST_TEST(!h.link.synchronized());
  h.now += milliseconds(1000);
  h.feed(data_frame(PacketType::StateChange64, 0x80800800, kState));
  BOOST_TEST(h.frame() == H(reset()));  // it keeps retrying: it missed our RESET
}

BOOST_AUTO_TEST_CASE(after_the_reset_answer_the_next_target_packet_starts_the_sequence) {
  auto h = synced_host();
  h.link.start_sync(h.now);
  h.frames();
  h.feed(reset());
  BOOST_TEST(!h.link.expected_id().has_value());
  // The target's re-sent SYNC packet was finished by an ACK we sent before
  // the RESET, so its next packet is 0x80800001.
  const std::uint32_t ids[] = {0x80800001, 0x80800001, 0x80800000};
  const bool delivered[] = {true, false, true};
  for (int i = 0; i < 3; ++i) {
    h.feed(data_frame(PacketType::DebugIo, ids[i], body_of(12, std::uint8_t(i))));
    BOOST_TEST(h.frame() == H(ack(ids[i])));
    BOOST_TEST(only<link::PacketReceived>(h.events()).size() == (delivered[i] ? 1u : 0u));
  }
}

BOOST_AUTO_TEST_CASE(a_pending_send_waits_out_the_reset_and_restarts_its_id) {
  auto h = synced_host();
  h.send(PacketType::StateManipulate, kRequest);
  h.feed(ack(0x80800000));
  h.send(PacketType::StateManipulate, kRequest);
  BOOST_TEST(h.frames().size() == 2u);  // 0x80800000, then 0x80800001 in flight
  h.link.start_sync(h.now);
  BOOST_TEST(h.frame() == H(reset()));
  h.advance(milliseconds(1000));
  BOOST_TEST(h.frame() == H(reset()));  // no data retries while resetting
  h.feed(reset());
  BOOST_TEST(h.frame() == H(data_frame(PacketType::StateManipulate, 0x80800000, kRequest)));
  h.feed(reset());  // a late answer to the second RESET changes nothing
  BOOST_TEST(h.frames().empty());
  BOOST_TEST(h.link.send_id() == 0x80800000u);
}

BOOST_AUTO_TEST_CASE(break_in_is_one_byte_outside_any_packet) {
  auto h = host();
  h.link.send_break_in();
  BOOST_TEST(h.frame() == "62");
  BOOST_TEST(h.link.counters().break_ins_sent == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
