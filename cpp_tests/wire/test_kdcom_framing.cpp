// KDCOM framing from raw bytes: each row is a wire string and the events it must
// give, whatever the split of the input.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "core/wire/kdcom.hpp"
#include "wire_test_util.hpp"

namespace kdcom = openkd::wire::kdcom;
using namespace wiretest;

namespace {

// Hand-written packets (header fields little-endian, docs/protocol.md section 1).
const Bytes kAck = unhex("69696969 0400 0000 00008080 00000000");    // ACK 0x80800000
const Bytes kReset = unhex("69696969 0600 0000 00000000 00000000");  // RESET 0
const Bytes kData = unhex("30303030 0200 0400 01008080 0a000000 01020304 aa");  // body sum 10
const Bytes kDataNoTrailer = unhex("30303030 0200 0400 01008080 0a000000 01020304");
const Bytes kEmptyBody = unhex("30303030 0300 0000 00008080 00000000 aa");
const Bytes kBodyWithB = unhex("30303030 0300 0200 00008080 c4000000 6262 aa");  // 'b' inside a body is data

const std::string kAckEvent = "packet KD_ACKNOWLEDGE id=0x80800000 body=";
const std::string kResetEvent = "packet KD_RESET id=0x00000000 body=";
const std::string kDataEvent = "packet KD_STATE_MANIPULATE id=0x80800001 body=01020304";

struct FramingCase {
  std::string name;
  Bytes input;
  std::vector<std::string> events;
  bool trailer = true;
};
std::ostream& operator<<(std::ostream& os, const FramingCase& c) { return os << c.name; }

const std::vector<FramingCase> kCases = {
    {"ack", kAck, {kAckEvent}},
    {"reset", kReset, {kResetEvent}},
    {"data packet", kData, {kDataEvent}},
    {"data packet with an empty body", kEmptyBody, {"packet KD_DEBUG_IO id=0x80800000 body="}},
    {"break-in byte inside a body is data", kBodyWithB, {"packet KD_DEBUG_IO id=0x80800000 body=6262"}},
    {"three packets back to back", concat({kAck, kData, kReset}), {kAckEvent, kDataEvent, kResetEvent}},
    {"garbage before a packet is one event", concat({text("hello"), kData}),
     {"error garbage skipped first=0x68", kDataEvent}},
    {"garbage between packets", concat({kAck, unhex("00 ff 13 37"), kData}),
     {kAckEvent, "error garbage skipped first=0x00", kDataEvent}},
    {"garbage after a packet", concat({kData, text("xyz")}), {kDataEvent, "error garbage skipped first=0x78"}},
    {"break-in splits garbage into two runs", text("xxbyy"),
     {"error garbage skipped first=0x78", "break-in", "error garbage skipped first=0x79"}},
    {"break-in between packets", concat({kAck, text("b"), kData}), {kAckEvent, "break-in", kDataEvent}},
    {"BREAKIN_PACKET bbbb is four break-ins", text("bbbb"), {"break-in", "break-in", "break-in", "break-in"}},
    {"partial data leader then control leader", concat({text("000i"), kAck}),
     {"error garbage skipped first=0x30", kAckEvent}},
    {"partial control leader then data leader", concat({text("iii"), kData}),
     {"error garbage skipped first=0x69", kDataEvent}},
    {"extra leader bytes slide the leader", concat({text("00"), kData}),
     {"error garbage skipped first=0x30", kDataEvent}},
    {"partial leader broken by garbage", concat({text("00x0"), kData}),
     {"error garbage skipped first=0x30", kDataEvent}},
    {"partial leader broken by break-in", concat({text("ii"), text("b"), kAck}),
     {"error garbage skipped first=0x69", "break-in", kAckEvent}},
    {"bad checksum, then the next packet", concat({unhex("30303030 0200 0400 01008080 0b000000 01020304 aa"), kAck}),
     {"error bad checksum expected=0x0000000b got=0x0000000a", kAckEvent}},
    {"missing trailer, then the next packet", concat({unhex("30303030 0200 0400 01008080 0a000000 01020304 00"), kAck}),
     {"error missing trailer expected=0x000000aa got=0x00000000", "error garbage skipped first=0x00", kAckEvent}},
    {"missing trailer where the next leader starts", concat({kDataNoTrailer, kData}),
     {"error missing trailer expected=0x000000aa got=0x00000030", kDataEvent}},
    {"body over 4000 bytes", concat({unhex("30303030 0200 a10f 01008080 00000000"), kAck}),
     {"error body too large expected=0x00000fa0 got=0x00000fa1", "error garbage skipped first=0x02", kAckEvent}},
    {"body of exactly 4000 bytes is accepted",
     concat({unhex("30303030 0200 a00f 01008080 00000000"), Bytes(4000, 0), unhex("aa")}),
     {"packet KD_STATE_MANIPULATE id=0x80800001 body=" + std::string(8000, '0')}},
    {"unknown type 13", concat({unhex("30303030 0d00 0000 01008080 00000000"), kAck}),
     {"error unknown packet type expected=0x00000000 got=0x0000000d", "error garbage skipped first=0x0d", kAckEvent}},
    {"type 8 (poll break-in) never travels", concat({unhex("30303030 0800 0000 01008080 00000000"), kAck}),
     {"error unknown packet type expected=0x00000000 got=0x00000008", "error garbage skipped first=0x08", kAckEvent}},
    {"type 0 is unused", concat({unhex("69696969 0000 0000 00000000 00000000"), kAck}),
     {"error unknown packet type expected=0x00000000 got=0x00000000", "error garbage skipped first=0x00", kAckEvent}},
    {"control leader with a data type", concat({unhex("69696969 0200 0000 00000000 00000000"), kAck}),
     {"error bad control packet expected=0x00000000 got=0x00000000", "error garbage skipped first=0x02", kAckEvent}},
    {"control packet with a body", concat({unhex("69696969 0400 0400 00000000 00000000"), kAck}),
     {"error bad control packet expected=0x00000000 got=0x00000004", "error garbage skipped first=0x04", kAckEvent}},
    {"control type under the data leader", concat({unhex("30303030 0400 0000 00000000 00000000"), kAck}),
     {"error bad control packet expected=0x00000000 got=0x00000004", "error garbage skipped first=0x04", kAckEvent}},
    // A truncated control leader swallows the start of the next packet as its header;
    // the parser must find that packet's leader inside the refused header.
    {"refused header hides the next packet's leader", concat({text("iiii"), kData}),
     {"error unknown packet type expected=0x00000000 got=0x00003030", kDataEvent}},
    // Re-read header bytes never count as break-ins (0x62 in a checksum must not stop a target).
    {"0x62 inside a refused header is not a break-in", concat({unhex("69696969 6200 0000 00000000 62000000"), kAck}),
     {"error unknown packet type expected=0x00000000 got=0x00000062", "error garbage skipped first=0x62", kAckEvent}},
    {"KDNET: data packet without trailer", kDataNoTrailer, {kDataEvent}, false},
    {"KDNET: trailer byte is garbage", kData, {kDataEvent, "error garbage skipped first=0xaa"}, false},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(kdcom_framing)

BOOST_DATA_TEST_CASE(whole_input, boost::unit_test::data::make(kCases), c) {
  std::vector<std::string> got = parse_all(c.input, c.trailer);
  BOOST_TEST(got == c.events, boost::test_tools::per_element());
}

// The same events whatever the split: every two-piece split and byte by byte.
BOOST_DATA_TEST_CASE(every_split, boost::unit_test::data::make(kCases), c) {
  for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
    std::vector<std::string> got = parse_split(c.input, {cut}, c.trailer);
    BOOST_TEST_INFO("split at " << cut);
    BOOST_TEST(got == c.events, boost::test_tools::per_element());
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < c.input.size(); ++i) every_byte.push_back(i);
  BOOST_TEST(parse_split(c.input, every_byte, c.trailer) == c.events, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(counters_count_what_was_seen) {
  const Bytes input = concat({text("xy"), kAck, text("b"), unhex("30303030 0200 0400 01008080 0b000000 01020304 aa"),
                              unhex("30303030 0200 0400 01008080 0a000000 01020304 00"),
                              unhex("30303030 0200 a10f 01008080 00000000"), unhex("30303030 0d00 0000 01008080 00000000"),
                              unhex("69696969 0200 0000 00000000 00000000"), kData});
  kdcom::Parser parser([](const kdcom::FrameEvent&) {});
  parser.push(input);
  const kdcom::ParserCounters& n = parser.counters();
  BOOST_TEST(n.packets == 2u);
  BOOST_TEST(n.break_ins == 1u);
  // "xy", the 0x00 in the trailer position, and the 12 re-read bytes of each refused header.
  BOOST_TEST(n.garbage_bytes == 2u + 1u + 3u * 12u);
  BOOST_TEST(n.bad_checksum == 1u);
  BOOST_TEST(n.missing_trailer == 1u);
  BOOST_TEST(n.too_large == 1u);
  BOOST_TEST(n.unknown_type == 1u);
  BOOST_TEST(n.bad_control == 1u);
}

BOOST_AUTO_TEST_CASE(bad_checksum_reports_the_header_for_a_resend) {
  std::vector<kdcom::FrameEvent> events;
  kdcom::Parser parser([&](const kdcom::FrameEvent& e) { events.push_back(e); });
  parser.push(unhex("30303030 0700 0400 00088080 0b000000 01020304 aa"));
  BOOST_TEST_REQUIRE(events.size() == 1u);
  BOOST_TEST((events[0].kind == kdcom::FrameEvent::Kind::Error));
  BOOST_TEST((events[0].error == kdcom::FrameError::BadChecksum));
  BOOST_TEST((events[0].packet.type == kdcom::PacketType::StateChange64));
  BOOST_TEST(events[0].packet.id == 0x80800800u);
}

BOOST_AUTO_TEST_CASE(partial_packet_waits_for_more_input) {
  std::vector<std::string> events;
  kdcom::Parser parser([&](const kdcom::FrameEvent& e) { events.push_back(describe(e)); });
  parser.push(ByteView(kData).first(kData.size() - 1));
  BOOST_TEST(events.empty());
  parser.push(ByteView(kData).last(1));
  BOOST_TEST(events == std::vector<std::string>{kDataEvent}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reset_forgets_a_partial_packet) {
  std::vector<std::string> events;
  kdcom::Parser parser([&](const kdcom::FrameEvent& e) { events.push_back(describe(e)); });
  parser.push(ByteView(kData).first(10));
  parser.reset();
  parser.push(kAck);
  BOOST_TEST(events == std::vector<std::string>{kAckEvent}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(writer_produces_the_hand_written_bytes) {
  BOOST_TEST(kdcom::encode_control(kdcom::PacketType::Acknowledge, 0x80800000) == kAck);
  BOOST_TEST(kdcom::encode({kdcom::PacketType::Reset, 0, {}}) == kReset);
  BOOST_TEST(kdcom::encode({kdcom::PacketType::StateManipulate, 0x80800001, {1, 2, 3, 4}}) == kData);
  BOOST_TEST(kdcom::encode({kdcom::PacketType::StateManipulate, 0x80800001, {1, 2, 3, 4}}, false) == kDataNoTrailer);
  BOOST_TEST(kdcom::checksum(unhex("ff ff ff ff")) == 0x3fcu);
}

// Every packet type through the writer and back through the parser.
BOOST_AUTO_TEST_CASE(every_packet_type_round_trips) {
  using kdcom::PacketType;
  for (PacketType type : {PacketType::StateChange32, PacketType::StateManipulate, PacketType::DebugIo,
                          PacketType::Acknowledge, PacketType::Resend, PacketType::Reset, PacketType::StateChange64,
                          PacketType::TraceIo, PacketType::ControlRequest, PacketType::FileIo}) {
    for (bool trailer : {true, false}) {
      kdcom::Packet p{type, 0x80800001, {}};
      if (!kdcom::is_control(type)) p.body = {0xde, 0xad, 0xbe, 0xef, 0x62, 0x30};
      std::vector<kdcom::FrameEvent> events;
      kdcom::Parser parser([&](const kdcom::FrameEvent& e) { events.push_back(e); }, trailer);
      parser.push(kdcom::encode(p, trailer));
      BOOST_TEST_INFO(to_string(type) << " trailer=" << trailer);
      BOOST_TEST_REQUIRE(events.size() == 1u);
      BOOST_TEST((events[0].packet == p));
    }
  }
}

BOOST_AUTO_TEST_CASE(header_decodes_every_field) {
  auto h = kdcom::decode_header(unhex("30303030 0b00 8c00 01008080 ac100000"));
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(h->leader == kdcom::kDataLeader);
  BOOST_TEST(h->type == 11);
  BOOST_TEST(h->byte_count == 0x8c);
  BOOST_TEST(h->id == 0x80800001u);
  BOOST_TEST(h->checksum == 0x10acu);
  BOOST_TEST(!kdcom::decode_header(unhex("30303030 0b00 8c00 01008080 ac1000")).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
