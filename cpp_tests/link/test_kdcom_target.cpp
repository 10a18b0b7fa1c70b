// The target role over KDCOM, scripted from raw bytes: the test plays the
// debugger and checks every id against docs/protocol.md section 1.
#include <boost/test/unit_test.hpp>

#include "cpp_tests/link/script.hpp"

using namespace openkd::test;
using namespace openkd;
using link::LinkConfig;
using link::IdScheme;

namespace {
Scripted target(bool data_counts_as_ack = true) {
  auto c = LinkConfig::target(IdScheme::Kdcom);
  c.data_counts_as_ack = data_counts_as_ack;
  return Scripted(c);
}
const Bytes kState = body_of(240, 1);
const Bytes kReply = body_of(56, 2);
}  // namespace

BOOST_AUTO_TEST_SUITE(kdcom_target)

BOOST_AUTO_TEST_CASE(first_packet_carries_sync_and_its_ack_does_not) {
  auto t = target();
  t.send(PacketType::StateChange64, kState);
  BOOST_TEST(t.frame() == H(data_frame(PacketType::StateChange64, 0x80800800, kState)));

  // An ACK carrying SYNC is not the ACK the target waits for.
  t.feed(ack(0x80800800));
  BOOST_TEST(only<link::SendComplete>(t.events()).empty());
  BOOST_TEST(t.link.counters().stale_acks == 1u);

  t.feed(ack(0x80800000));
  auto done = only<link::SendComplete>(t.events());
  BOOST_TEST_REQUIRE(done.size() == 1u);
  BOOST_TEST(done[0].id == 0x80800800u);
  // Bit 0 flips and SYNC is gone.
  BOOST_TEST(t.link.send_id() == 0x80800001u);
}

BOOST_AUTO_TEST_CASE(send_ids_alternate_after_each_ack) {
  auto t = target();
  const std::uint32_t expected_ids[] = {0x80800800, 0x80800001, 0x80800000, 0x80800001, 0x80800000};
  for (std::uint32_t id : expected_ids) {
    t.send(PacketType::StateManipulate, kReply);
    BOOST_TEST(t.frame() == H(data_frame(PacketType::StateManipulate, id, kReply)));
    t.feed(ack(id & ~0x800u));
    BOOST_TEST(only<link::SendComplete>(t.events()).size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(queued_packets_go_one_at_a_time) {
  auto t = target();
  t.send(PacketType::DebugIo, body_of(10, 1));
  t.send(PacketType::DebugIo, body_of(10, 2));
  BOOST_TEST(t.frames().size() == 1u);  // the second waits for the first ACK
  BOOST_TEST(t.link.pending_sends() == 2u);
  t.feed(ack(0x80800000));
  BOOST_TEST(t.frame() == H(data_frame(PacketType::DebugIo, 0x80800001, body_of(10, 2))));
}

struct ReceiveRow {
  std::uint32_t id;
  bool delivered;
};

BOOST_AUTO_TEST_CASE(every_good_packet_is_acked_with_its_id_and_duplicates_dropped) {
  auto t = target();
  const ReceiveRow rows[] = {
      {0x80800000, true},   // the expected first id
      {0x80800000, false},  // our ACK was lost: ACK again, drop
      {0x80800001, true},   // bit 0 flipped
      {0x80800001, false},
      {0x80800001, false},
      {0x80800000, true},
  };
  std::uint8_t n = 0;
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT("id " << std::hex << row.id) {
      const Bytes body = body_of(56, n++);
      t.feed(data_frame(PacketType::StateManipulate, row.id, body));
      BOOST_TEST(t.frame() == H(ack(row.id)));
      auto got = only<link::PacketReceived>(t.events());
      BOOST_TEST(got.size() == (row.delivered ? 1u : 0u));
      if (row.delivered && !got.empty()) BOOST_TEST(got[0].packet.body == body);
    }
  }
  BOOST_TEST(t.link.counters().duplicates_dropped == 3u);
  BOOST_TEST(t.link.counters().packets_received == 3u);
}

BOOST_AUTO_TEST_CASE(a_packet_in_pieces_is_delivered_once) {
  auto t = target();
  const Bytes frame = data_frame(PacketType::StateManipulate, 0x80800000, body_of(300, 9));
  for (std::uint8_t b : frame) t.feed(Bytes{b});
  BOOST_TEST(t.frame() == H(ack(0x80800000)));
  BOOST_TEST(only<link::PacketReceived>(t.events()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(damaged_packets_are_answered_with_resend) {
  struct Row {
    const char* what;
    Bytes frame;
    std::uint64_t link::LinkCounters::*counter;
  };
  Bytes bad_sum = data_frame(PacketType::StateManipulate, 0x80800000, body_of(56, 3));
  bad_sum[20] ^= 0x01;
  Bytes bad_trailer = data_frame(PacketType::StateManipulate, 0x80800000, body_of(56, 3));
  bad_trailer.back() = 0x55;
  // ByteCount 4001: one over PACKET_MAX_SIZE.
  Bytes too_large = data_frame(PacketType::StateManipulate, 0x80800000, {});
  too_large[6] = 0xA1, too_large[7] = 0x0F;
  const Row rows[] = {
      {"bad checksum", bad_sum, &link::LinkCounters::bad_checksums},
      {"missing trailer", bad_trailer, &link::LinkCounters::missing_trailers},
      {"body too large", too_large, &link::LinkCounters::bodies_too_large},
  };
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT(row.what) {
      auto t = target();
      t.feed(row.frame);
      auto frames = t.frames();
      BOOST_TEST_REQUIRE(!frames.empty());
      BOOST_TEST(H(frames[0]) == H(resend()));
      auto events = t.events();
      BOOST_TEST(only<link::PacketReceived>(events).empty());
      BOOST_TEST(only<link::FramingError>(events).size() >= 1u);
      BOOST_TEST((t.link.counters().*(row.counter)) == 1u);
      BOOST_TEST(t.link.expected_id().value_or(0) == 0x80800000u);
    }
  }
}

BOOST_AUTO_TEST_CASE(resend_from_the_debugger_repeats_the_pending_packet) {
  auto t = target();
  t.send(PacketType::StateChange64, kState);
  const std::string first = t.frame();
  t.feed(resend());
  BOOST_TEST(t.frame() == first);
  auto re = only<link::Retransmitted>(t.events());
  BOOST_TEST_REQUIRE(re.size() == 1u);
  BOOST_TEST(re[0].requested);
  // Nothing pending: a RESEND has nothing to repeat.
  t.feed(ack(0x80800000));
  t.events();
  t.feed(resend());
  BOOST_TEST(t.frames().empty());
}

BOOST_AUTO_TEST_CASE(reset_restarts_both_ids_and_resends_the_pending_packet) {
  auto t = target();
  // One packet each way first, so both ids have moved.
  t.send(PacketType::StateChange64, kState);
  t.frames();
  t.feed(ack(0x80800000));
  t.feed(data_frame(PacketType::StateManipulate, 0x80800000, kReply));
  t.frames();
  t.send(PacketType::StateManipulate, kReply);
  BOOST_TEST(t.frame() == H(data_frame(PacketType::StateManipulate, 0x80800001, kReply)));
  BOOST_TEST(t.link.expected_id().value_or(0) == 0x80800001u);
  t.events();

  t.feed(reset());
  auto frames = t.frames();
  BOOST_TEST_REQUIRE(frames.size() == 2u);
  BOOST_TEST(H(frames[0]) == H(reset()));  // the answer: the same 16 bytes
  BOOST_TEST(H(frames[1]) == H(data_frame(PacketType::StateManipulate, 0x80800800, kReply)));
  BOOST_TEST(only<link::ResetReceived>(t.events()).size() == 1u);
  BOOST_TEST(t.link.expected_id().value_or(0) == 0x80800000u);

  t.feed(ack(0x80800000));
  BOOST_TEST(only<link::SendComplete>(t.events()).size() == 1u);
  t.feed(data_frame(PacketType::StateManipulate, 0x80800000, kReply));
  BOOST_TEST(t.frame() == H(ack(0x80800000)));
  BOOST_TEST(only<link::PacketReceived>(t.events()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_new_data_packet_while_waiting_counts_as_the_ack) {
  // ReactOS kddll: the debugger only speaks after it heard us, so its packet
  // acknowledges ours; the packet itself is refused with RESEND.
  auto t = target();
  t.send(PacketType::StateChange64, kState);
  t.frames();
  const Bytes request = data_frame(PacketType::StateManipulate, 0x80800000, kReply);
  t.feed(request);
  BOOST_TEST(t.frame() == H(resend()));
  auto events = t.events();
  BOOST_TEST(only<link::SendComplete>(events).size() == 1u);
  BOOST_TEST(only<link::PacketReceived>(events).empty());
  BOOST_TEST(t.link.counters().implicit_acks == 1u);

  t.feed(request);  // the debugger sends it again
  BOOST_TEST(t.frame() == H(ack(0x80800000)));
  BOOST_TEST(only<link::PacketReceived>(t.events()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_duplicate_while_waiting_is_acked_not_taken_as_ack) {
  auto t = target();
  const Bytes request = data_frame(PacketType::StateManipulate, 0x80800000, kReply);
  t.feed(request);
  t.frames();
  t.events();
  t.send(PacketType::StateManipulate, kReply);
  t.frames();
  t.feed(request);  // our ACK of it was lost
  BOOST_TEST(t.frame() == H(ack(0x80800000)));
  auto events = t.events();
  BOOST_TEST(only<link::SendComplete>(events).empty());
  BOOST_TEST(only<link::PacketReceived>(events).empty());
}

BOOST_AUTO_TEST_CASE(without_implicit_ack_data_while_waiting_is_delivered) {
  auto t = target(false);
  t.send(PacketType::StateChange64, kState);
  t.frames();
  t.feed(data_frame(PacketType::StateManipulate, 0x80800000, kReply));
  BOOST_TEST(t.frame() == H(ack(0x80800000)));
  auto events = t.events();
  BOOST_TEST(only<link::PacketReceived>(events).size() == 1u);
  BOOST_TEST(only<link::SendComplete>(events).empty());
  BOOST_TEST(t.link.pending_sends() == 1u);
}

BOOST_AUTO_TEST_CASE(twenty_retries_then_the_debugger_is_gone) {
  auto t = target();
  t.send(PacketType::StateChange64, kState);
  const std::string first = t.frame();
  BOOST_TEST((*t.link.next_deadline() == t.now + std::chrono::milliseconds(1000)));
  for (int retry = 1; retry <= 20; ++retry) {
    t.advance(std::chrono::milliseconds(999));
    BOOST_TEST(t.frames().empty());
    t.advance(std::chrono::milliseconds(1));
    BOOST_TEST(t.frame() == first);
  }
  t.advance(std::chrono::milliseconds(1000));
  BOOST_TEST(t.frames().empty());
  auto gone = only<link::PeerGone>(t.events());
  BOOST_TEST_REQUIRE(gone.size() == 1u);
  BOOST_TEST(gone[0].dropped == 1u);
  BOOST_TEST(t.link.counters().retransmissions == 20u);
  BOOST_TEST(t.link.counters().timeouts == 21u);
  BOOST_TEST(!t.link.next_deadline());
  // The next packet starts over with SYNC, so a debugger that did get the
  // abandoned one cannot mistake it for a duplicate.
  t.send(PacketType::DebugIo, body_of(8, 1));
  BOOST_TEST(t.frame() == H(data_frame(PacketType::DebugIo, 0x80800800, body_of(8, 1))));
}

BOOST_AUTO_TEST_CASE(a_quiet_line_ends_a_partial_packet) {
  auto t = target();
  // A damaged ByteCount (0x0f38 instead of 0x0038) would make the parser
  // take the next 3800 bytes as this packet's body.
  Bytes damaged = data_frame(PacketType::StateManipulate, 0x80800000, kReply);
  damaged[7] = 0x0f;
  t.feed(damaged);
  t.advance(std::chrono::milliseconds(499));
  t.feed(Bytes(10, 0x55));  // line noise: still one packet in the making
  t.advance(std::chrono::milliseconds(500));
  BOOST_TEST(t.frames().empty());
  // The debugger's retransmission after the quiet gap is read as a packet.
  t.feed(data_frame(PacketType::StateManipulate, 0x80800000, kReply));
  BOOST_TEST(t.frame() == H(ack(0x80800000)));
  BOOST_TEST(only<link::PacketReceived>(t.events()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(break_in_byte_between_packets) {
  auto t = target();
  Bytes stream = data_frame(PacketType::StateManipulate, 0x80800000, kReply);
  stream.push_back(0x62);
  const Bytes second = data_frame(PacketType::StateManipulate, 0x80800001, kReply);
  stream.insert(stream.end(), second.begin(), second.end());
  t.feed(stream);
  auto events = t.events();
  BOOST_TEST(only<link::PacketReceived>(events).size() == 2u);
  BOOST_TEST(only<link::BreakInReceived>(events).size() == 1u);
  BOOST_TEST(t.link.counters().break_ins_received == 1u);
}

BOOST_AUTO_TEST_CASE(send_refuses_control_types_and_oversized_bodies) {
  auto t = target();
  BOOST_TEST((t.link.send(PacketType::Acknowledge, {}, t.now).error() == link::SendError::NotADataType));
  BOOST_TEST((t.link.send(PacketType::PollBreakin, {}, t.now).error() == link::SendError::NotADataType));
  BOOST_TEST((t.link.send(PacketType::StateManipulate, Bytes(4001), t.now).error() == link::SendError::BodyTooLarge));
  BOOST_TEST(t.link.send(PacketType::StateManipulate, Bytes(4000), t.now).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
