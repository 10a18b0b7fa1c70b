// The remoting frame codec from raw bytes: every message round-trips, and
// malformed input is refused with an error, never a crash or a partial message.
#include <boost/test/unit_test.hpp>

#include <random>

#include "remote/frame.hpp"

using namespace openkd::remote;

BOOST_AUTO_TEST_SUITE(frame)

namespace {

std::vector<Message> samples() {
  ServerHello sh;
  sh.auth_required = true;
  for (std::size_t i = 0; i < sh.nonce.size(); ++i) sh.nonce[i] = static_cast<std::uint8_t>(i * 7);
  AuthResponse ar;
  ar.mac.fill(0xEE);
  return {ClientHello{protocol_version, "HOST\\user"},
          sh,
          ar,
          Welcome{"HOST\\user (tcp 127.0.0.1:1)", "0: kd> "},
          Rejected{"password rejected by server"},
          Command{"dt nt!_EPROCESS"},
          Output{std::string(5000, 'o')},
          CommandEcho{true, "X issued: r"},
          Prompt{"1: kd> "},
          BreakRequest{},
          Bye{ByeReason::session_ended, "q"},
          ProtocolError{"bad"},
          Keepalive{},
          CommandDone{}};
}

Bytes raw_frame(std::uint32_t length, std::uint8_t type, Bytes payload) {
  Bytes out;
  openkd::wire::Writer w(out);
  w.u32(length).u8(type).bytes(payload);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_every_message) {
  for (const auto& m : samples()) {
    BOOST_TEST_CONTEXT("type " << static_cast<int>(frame_type(m))) {
      Bytes wire = encode_frame(m);
      FrameDecoder d;
      d.push(wire);
      auto got = d.next();
      BOOST_TEST_REQUIRE(got.has_value());
      BOOST_TEST_REQUIRE(got->has_value());
      BOOST_TEST(encode_frame(**got) == wire);
      BOOST_TEST(d.buffered() == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(byte_at_a_time_and_back_to_back) {
  Bytes stream;
  for (const auto& m : samples()) {
    Bytes f = encode_frame(m);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameDecoder d;
  std::size_t decoded = 0;
  for (auto b : stream) {
    d.push(ByteView(&b, 1));
    while (true) {
      auto got = d.next();
      BOOST_TEST_REQUIRE(got.has_value());
      if (!*got) break;
      ++decoded;
    }
  }
  BOOST_TEST(decoded == samples().size());
}

BOOST_AUTO_TEST_CASE(known_bytes) {
  // length 5 (type + 4-byte string size + 0 bytes), type 6 (command), empty line
  Bytes wire = encode_frame(Command{""});
  BOOST_TEST(wire == (Bytes{5, 0, 0, 0, 6, 0, 0, 0, 0}));
  Bytes hello = encode_frame(ClientHello{1, "a"});
  BOOST_TEST(hello == (Bytes{12, 0, 0, 0, 1, 'O', 'K', 'D', 'R', 1, 0, 1, 0, 0, 0, 'a'}));
}

struct Malformed {
  const char* name;
  Bytes wire;
  const char* must_mention;
};

BOOST_AUTO_TEST_CASE(malformed_input_is_refused) {
  const Malformed table[] = {
      {"zero length", raw_frame(0, 6, {}), "frame length 0"},
      {"huge length", raw_frame(0x7fffffff, 6, {}), "outside"},
      {"unknown type", raw_frame(1, 99, {}), "unknown frame type"},
      {"type 0", raw_frame(1, 0, {}), "unknown frame type"},
      {"string longer than frame", raw_frame(5, 6, {0xff, 0xff, 0xff, 0x7f}), "truncated"},
      {"string size past end", raw_frame(7, 6, {3, 0, 0, 0, 'a', 'b'}), "truncated"},
      {"trailing bytes", raw_frame(6, 13, {1, 2, 3, 4, 5}), "trailing"},
      {"short auth response", raw_frame(5, 3, {1, 2, 3, 4}), "truncated"},
      {"bad hello magic", raw_frame(11, 1, {'G', 'E', 'T', ' ', 1, 0, 0, 0, 0, 0}), "bad magic"},
      {"bool not 0/1", raw_frame(6, 8, {2, 0, 0, 0, 0}), "not 0 or 1"},
      {"bye reason unknown", raw_frame(6, 11, {9, 0, 0, 0, 0}), "unknown reason"},
      {"server hello truncated nonce", raw_frame(4, 2, {1, 0, 1}), "truncated"},
  };
  for (const auto& row : table) {
    BOOST_TEST_CONTEXT(row.name) {
      FrameDecoder d;
      d.push(row.wire);
      auto got = d.next();
      BOOST_TEST_REQUIRE(!got.has_value());
      BOOST_TEST(got.error().message.find(row.must_mention) != std::string::npos, got.error().message);
      // Sticky: the connection is dropped, nothing after the bad frame is trusted.
      d.push(encode_frame(Keepalive{}));
      BOOST_TEST(!d.next().has_value());
      BOOST_TEST(d.failed());
    }
  }
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    Bytes junk(rng() % 64);
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (junk.size() >= 4) junk[1] = junk[2] = junk[3] = 0;  // plausible lengths reach the payload decoders
    FrameDecoder d;
    d.push(junk);
    for (int i = 0; i < 8; ++i) {
      auto got = d.next();
      if (!got || !*got) break;
    }
  }
  // Mutations of valid frames.
  for (const auto& m : samples()) {
    Bytes wire = encode_frame(m);
    for (std::size_t i = 0; i < wire.size(); ++i) {
      Bytes bad = wire;
      bad[i] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      FrameDecoder d;
      d.push(bad);
      (void)d.next();
      Bytes cut(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(i));
      FrameDecoder d2;
      d2.push(cut);
      auto got = d2.next();
      BOOST_TEST((got.has_value() && !got->has_value()));  // a prefix only ever asks for more
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
