// The session of cpp_tests/vectors/kdcom.json replayed through a host Link and a
// target Link: every frame either side writes must be the vector's bytes
// exactly, so every id follows the file's notes (state change 0x80800800 ACKed
// as 0x80800000, then each side flipping bit 0 per acknowledged packet).
#include <boost/test/unit_test.hpp>

#include <boost/json/src.hpp>  // header-only Boost.JSON, compiled once here
#include <fstream>
#include <map>
#include <sstream>

#include "cpp_tests/link/script.hpp"

using namespace openkd::test;
using namespace openkd;
using link::IdScheme;
using link::LinkConfig;

namespace {

struct Vector {
  Bytes frame;  // the whole packet as on the wire
  Bytes body;
  PacketType type{};
  std::uint32_t id = 0;
};

std::optional<Bytes> unhex(std::string_view text) {
  auto nibble = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  if (text.size() % 2) return std::nullopt;
  Bytes out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

std::map<std::string, Vector> load_vectors() {
  std::ifstream in(std::string(OPENKD_VECTORS_DIR) + "/kdcom.json");
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, Vector> out;
  boost::system::error_code ec;
  const auto doc = boost::json::parse(text.str(), ec);
  if (ec) return out;
  for (const auto& item : doc.at("packets").as_array()) {
    const auto& o = item.as_object();
    Vector v;
    v.frame = unhex(std::string(o.at("hex").as_string())).value_or(Bytes{});
    if (auto* body = o.if_contains("body_hex")) v.body = unhex(std::string(body->as_string())).value_or(Bytes{});
    if (auto* header = o.if_contains("header")) {
      const auto& h = header->as_object();
      v.type = static_cast<PacketType>(std::stoul(std::string(h.at("PacketType").as_string()), nullptr, 16));
      v.id = static_cast<std::uint32_t>(std::stoul(std::string(h.at("PacketId").as_string()), nullptr, 16));
    }
    out[std::string(o.at("name").as_string())] = std::move(v);
  }
  return out;
}

const std::map<std::string, Vector>& vectors() {
  static const auto v = load_vectors();
  return v;
}

const Vector& vec(const std::string& name) {
  static const Vector none;
  auto it = vectors().find(name);
  BOOST_TEST_REQUIRE((it != vectors().end()), "no vector " << name);
  return it == vectors().end() ? none : it->second;
}

/// The pair of links, and the wire between them carried by hand.
struct Session {
  Scripted host{LinkConfig::host(IdScheme::Kdcom)};
  Scripted target{LinkConfig::target(IdScheme::Kdcom)};

  /// `from` writes exactly the named vector; the other side reads it and
  /// answers with exactly the `answer` vector (an ACK), which goes back.
  void exchange(Scripted& from, Scripted& to, const std::string& name, const std::string& answer) {
    BOOST_TEST_CONTEXT(name) {
      const Vector& v = vec(name);
      const std::string sent = from.frame();
      BOOST_TEST(sent == H(v.frame));
      to.feed(v.frame);
      if (!answer.empty()) {
        const std::string reply = to.frame();
        BOOST_TEST(reply == H(vec(answer).frame));
        from.feed(vec(answer).frame);
      }
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(kdcom_vectors)

BOOST_AUTO_TEST_CASE(the_file_loads) {
  BOOST_TEST(vectors().size() >= 13u);
  for (const char* name : {"reset", "ack_80800000", "resend", "break_in", "exception_state_change",
                           "get_version_request", "get_version_reply", "read_virtual_request",
                           "read_virtual_reply", "continue2", "print_string", "create_file_request",
                           "create_file_reply"})
    BOOST_TEST(vectors().count(name) == 1u, name);
}

BOOST_AUTO_TEST_CASE(control_vectors) {
  BOOST_TEST(H(reset()) == H(vec("reset").frame));
  BOOST_TEST(H(ack(0x80800000)) == H(vec("ack_80800000").frame));
  BOOST_TEST(H(resend()) == H(vec("resend").frame));
}

BOOST_AUTO_TEST_CASE(one_session_byte_for_byte) {
  Session s;
  auto& host = s.host;
  auto& target = s.target;

  // The debugger resets; the target answers with the same 16 bytes.
  host.link.start_sync(host.now);
  s.exchange(host, target, "reset", "reset");
  BOOST_TEST(host.link.synchronized());

  // The target reports a breakpoint: id 0x80800800, ACKed as 0x80800000.
  auto send = [](Scripted& side, const std::string& name) {
    const Vector& v = vec(name);
    side.send(v.type, v.body);
  };
  send(target, "exception_state_change");
  s.exchange(target, host, "exception_state_change", "ack_80800000");

  // Request and reply pairs; each side flips bit 0 per acknowledged packet.
  struct Step {
    bool from_host;
    const char* name;
  };
  const Step steps[] = {
      {true, "get_version_request"},    // host 0x80800000
      {false, "get_version_reply"},     // target 0x80800001
      {true, "read_virtual_request"},   // host 0x80800001
      {false, "read_virtual_reply"},    // target 0x80800000
      {true, "continue2"},              // host 0x80800000 (no reply: the target runs)
      {false, "print_string"},          // target 0x80800001
      {false, "create_file_request"},   // target 0x80800000
      {true, "create_file_reply"},      // host 0x80800001
  };
  for (const auto& step : steps) {
    Scripted& from = step.from_host ? host : target;
    Scripted& to = step.from_host ? target : host;
    const Vector& v = vec(step.name);
    send(from, step.name);
    // The ACK carries the packet's id (never SYNC after the first).
    const Bytes ack_bytes = ack(v.id);
    BOOST_TEST_CONTEXT(step.name) {
      const std::string sent = from.frame();
      BOOST_TEST(sent == H(v.frame));
      to.feed(v.frame);
      BOOST_TEST(to.frame() == H(ack_bytes));
      from.feed(ack_bytes);
      auto done = only<link::SendComplete>(from.events());
      BOOST_TEST_REQUIRE(done.size() == 1u);
      BOOST_TEST(done[0].id == v.id);
      auto got = only<link::PacketReceived>(to.events());
      BOOST_TEST_REQUIRE(got.size() == 1u);
      BOOST_TEST(H(got[0].packet.body) == H(v.body));
      BOOST_TEST((got[0].packet.type == v.type));
    }
  }
  BOOST_TEST(host.link.counters().retransmissions == 0u);
  BOOST_TEST(target.link.counters().retransmissions == 0u);
  BOOST_TEST(host.link.counters().packets_received == 5u);
  BOOST_TEST(target.link.counters().packets_received == 4u);
}

BOOST_AUTO_TEST_CASE(break_in_vector_reaches_the_target) {
  Scripted target{LinkConfig::target(IdScheme::Kdcom)};
  target.feed(vec("break_in").frame);
  BOOST_TEST(only<link::BreakInReceived>(target.events()).size() == 1u);
  Scripted host{LinkConfig::host(IdScheme::Kdcom)};
  host.link.send_break_in();
  BOOST_TEST(host.frame() == H(vec("break_in").frame));
}

BOOST_AUTO_TEST_SUITE_END()
