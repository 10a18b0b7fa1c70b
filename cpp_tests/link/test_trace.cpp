// core/link/trace: the kdcom.json vectors and hand-made frames (bad checksum,
// junk before a packet, a retransmission, RESET, break-in, a packet cut short)
// give the log lines kdproxy prints.
#define BOOST_TEST_MODULE trace
#include <boost/test/unit_test.hpp>

#include <boost/json/src.hpp>  // header-only Boost.JSON, compiled once here
#include <fstream>
#include <map>
#include <sstream>

#include "core/link/trace.hpp"
#include "core/wire/dbgkd.hpp"

using namespace openkd;
using link::trace::Decoder;
using link::trace::Direction;
using wire::Bytes;
using wire::kdcom::PacketType;
using Clock = std::chrono::steady_clock;

namespace {

Bytes from_hex(std::string_view h) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(static_cast<std::uint8_t>(std::stoul(std::string(h.substr(i, 2)), nullptr, 16)));
  return b;
}

std::vector<std::string> texts(const std::vector<link::trace::Line>& lines) {
  std::vector<std::string> out;
  for (auto& l : lines) out.push_back(l.text);
  return out;
}

Bytes read_packet(std::uint32_t id, std::uint64_t address, std::uint32_t count) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::ReadVirtualMemory);
  m.args = wire::MemoryTransfer{address, count, 0};
  return wire::kdcom::encode({PacketType::StateManipulate, id, wire::encode(m)});
}

const Clock::time_point t0{};

}  // namespace

BOOST_AUTO_TEST_CASE(every_kdcom_vector_gives_its_line) {
  std::ifstream in(std::string(OPENKD_VECTORS_DIR) + "/kdcom.json");
  BOOST_REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = boost::json::parse(text.str());
  // What a user reads for each vector (fields from the vector's own description).
  const std::map<std::string, std::string> expected = {
      {"reset", "KD_RESET id=00000000"},
      {"ack_80800000", "KD_ACKNOWLEDGE id=80800000"},
      {"resend", "KD_RESEND id=00000000"},
      {"break_in", "break-in byte"},
      {"exception_state_change",
       "KD_STATE_CHANGE64 id=80800800 Exception 80000003 at fffff800`007fd0b0 first-chance cpu 0/4 pc "
       "fffff800`007fd0b0 thread fffff800`01027a00"},
      {"get_version_request", "KD_STATE_MANIPULATE id=80800000 GetVersion"},
      {"get_version_reply",
       "KD_STATE_MANIPULATE id=80800001 GetVersion -> STATUS_SUCCESS 15.19041 protocol 6 machine 8664 kernel "
       "fffff800`00400000 PsLoadedModuleList "},
      {"read_virtual_request", "KD_STATE_MANIPULATE id=80800001 ReadVirtualMemory fffff800`00400000 L 0x10"},
      {"read_virtual_reply",
       "KD_STATE_MANIPULATE id=80800000 ReadVirtualMemory fffff800`00400000 L 0x10 -> STATUS_SUCCESS (0x10 bytes)"},
      {"continue2", "KD_STATE_MANIPULATE id=80800000 Continue2 DBG_CONTINUE dr7 400"},
      {"print_string", "KD_DEBUG_IO id=80800001 PrintString \"hello\\n\""},
      {"create_file_request", "KD_FILE_IO id=80800000 CreateFile \"\\SystemRoot\\system32\\drivers\\"},
      {"create_file_reply", "KD_FILE_IO id=80800001 CreateFile -> STATUS_NO_SUCH_FILE handle 0 length 0"},
  };
  std::size_t seen = 0;
  for (auto& v : doc.at("packets").as_array()) {
    std::string name(v.at("name").as_string());
    std::string dir(v.at("direction").as_string());
    Decoder d(t0);
    auto lines = texts(d.push(dir == "target->debugger" ? Direction::ToDebugger : Direction::ToTarget,
                              from_hex(v.at("hex").as_string()), t0));
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE_EQUAL(lines.size(), 1u);
      auto it = expected.find(name);
      BOOST_REQUIRE(it != expected.end());
      // A prefix, where the rest (a module list address, a long path) is the vector's own.
      BOOST_TEST(lines[0].substr(0, it->second.size()) == it->second);
      ++seen;
    }
  }
  BOOST_TEST(seen == expected.size());
}

BOOST_AUTO_TEST_CASE(lines_do_not_depend_on_how_the_bytes_were_split) {
  Bytes stream = read_packet(0x80800000, 0xfffff80000400000, 0xf68);
  Bytes ack = wire::kdcom::encode_control(PacketType::Acknowledge, 0x80800000);
  stream.insert(stream.end(), ack.begin(), ack.end());
  Decoder whole(t0), bytewise(t0);
  auto a = texts(whole.push(Direction::ToTarget, stream, t0));
  std::vector<std::string> b;
  for (auto byte : stream)
    for (auto& l : bytewise.push(Direction::ToTarget, Bytes{byte}, t0)) b.push_back(l.text);
  BOOST_TEST(a == b, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(a[0] == "KD_STATE_MANIPULATE id=80800000 ReadVirtualMemory fffff800`00400000 L 0xf68");
  BOOST_TEST(a[1] == "KD_ACKNOWLEDGE id=80800000");
}

BOOST_AUTO_TEST_CASE(bad_checksum_junk_retransmission_reset_and_break_in_are_named) {
  Decoder d(t0);
  Bytes bad = read_packet(0x80800001, 0x1000, 8);
  bad[16 + 20] ^= 0x01;  // a body byte: the checksum no longer matches
  Bytes junk = {'x', 'y', 'z'};
  Bytes good = read_packet(0x80800001, 0x1000, 8);
  Bytes in;
  for (auto* part : {&junk, &bad, &good, &good}) in.insert(in.end(), part->begin(), part->end());
  Bytes reset = wire::kdcom::encode_control(PacketType::Reset, 0);
  in.insert(in.end(), reset.begin(), reset.end());
  in.push_back(wire::kdcom::kBreakIn);
  auto lines = texts(d.push(Direction::ToTarget, in, t0));
  BOOST_REQUIRE_EQUAL(lines.size(), 6u);
  BOOST_TEST(lines[0] == "garbage skipped (resync: junk starting with byte 0x78)");
  BOOST_TEST(lines[1].starts_with("bad checksum KD_STATE_MANIPULATE id=80800001 (header "));
  BOOST_TEST(lines[2] == "KD_STATE_MANIPULATE id=80800001 ReadVirtualMemory 00000000`00001000 L 0x8");
  BOOST_TEST(lines[3] == "KD_STATE_MANIPULATE id=80800001 ReadVirtualMemory 00000000`00001000 L 0x8 (retransmission)");
  BOOST_TEST(lines[4] == "KD_RESET id=00000000");
  BOOST_TEST(lines[5] == "break-in byte");
  const auto& c = d.counters();
  BOOST_TEST(c.bad_checksum == 1u);
  BOOST_TEST(c.junk_runs == 1u);
  BOOST_TEST(c.retransmissions == 1u);
  BOOST_TEST(c.resets == 1u);
  BOOST_TEST(c.break_ins == 1u);
  BOOST_TEST(c.by_api.at("ReadVirtualMemory") == 2u);
}

BOOST_AUTO_TEST_CASE(each_direction_has_its_own_parser_and_its_own_retransmissions) {
  Decoder d(t0);
  Bytes req = read_packet(0x80800000, 0x2000, 4);
  auto first = texts(d.push(Direction::ToTarget, Bytes(req.begin(), req.begin() + 10), t0));
  BOOST_TEST(first.empty());
  // The other direction's bytes in between do not disturb the half-read packet.
  auto other = texts(d.push(Direction::ToDebugger, wire::kdcom::encode_control(PacketType::Resend, 0), t0));
  BOOST_REQUIRE_EQUAL(other.size(), 1u);
  BOOST_TEST(other[0] == "KD_RESEND id=00000000");
  auto rest = texts(d.push(Direction::ToTarget, Bytes(req.begin() + 10, req.end()), t0));
  BOOST_REQUIRE_EQUAL(rest.size(), 1u);
  BOOST_TEST(rest[0] == "KD_STATE_MANIPULATE id=80800000 ReadVirtualMemory 00000000`00002000 L 0x4");
}

BOOST_AUTO_TEST_CASE(a_packet_cut_short_is_abandoned_after_a_quiet_line) {
  Decoder d(t0, std::chrono::milliseconds(500));
  Bytes req = read_packet(0x80800000, 0x3000, 4);
  BOOST_TEST(d.push(Direction::ToTarget, Bytes(req.begin(), req.begin() + 30), t0).empty());
  // 600 ms later the whole packet is sent again: the 30 bytes go, the packet is read.
  auto lines = texts(d.push(Direction::ToTarget, req, t0 + std::chrono::milliseconds(600)));
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST(lines[0] == "partial packet abandoned after a quiet line (30 bytes)");
  BOOST_TEST(lines[1] == "KD_STATE_MANIPULATE id=80800000 ReadVirtualMemory 00000000`00003000 L 0x4");
  BOOST_TEST(d.counters().abandoned_bytes == 30u);
}

BOOST_AUTO_TEST_CASE(undecodable_bodies_say_why_and_are_counted) {
  Decoder d(t0);
  Bytes body(20, 0);  // shorter than the 56-byte manipulate header
  auto lines = texts(d.push(Direction::ToTarget, wire::kdcom::encode({PacketType::StateManipulate, 0x80800000, body}), t0));
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].starts_with("KD_STATE_MANIPULATE id=80800000 undecodable: "));
  BOOST_TEST(d.counters().decode_errors == 1u);
}

BOOST_AUTO_TEST_CASE(a_kdnet_payload_is_one_packet_without_a_trailer) {
  Decoder d(t0);
  Bytes req = read_packet(0x80800000, 0x4000, 8);
  req.pop_back();  // KDNET carries packets without 0xAA
  auto lines = texts(d.push_datagram(Direction::ToTarget, req, t0));
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0] == "KD_STATE_MANIPULATE id=80800000 ReadVirtualMemory 00000000`00004000 L 0x8");
  auto pseudo = texts(d.push_datagram(Direction::ToDebugger, Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x38, 0xa8, 0xc0}, t0));
  BOOST_REQUIRE_EQUAL(pseudo.size(), 1u);
  BOOST_TEST(pseudo[0] == "KDNET pseudo packet (host 192.168.56.1)");
  BOOST_TEST(link::trace::format({std::chrono::milliseconds(1500), Direction::ToDebugger, "x"}) == "   1.500000 tgt->dbg x");
}
