// The datagram codec beyond the vectors: round trips at every payload length,
// every single-byte change rejected, malformed and crafted datagrams.
#include <boost/test/unit_test.hpp>

#include <random>

#include "core/wire/kdnet.hpp"
#include "cpp_tests/kdnet/hex.hpp"
#include "cpp_tests/kdnet/raw_crypto.hpp"

namespace kdnet = openkd::wire::kdnet;
using openkd::wire::Bytes;
using openkd::test::open_raw;
using openkd::test::seal_raw;
using openkd::test::to_hex;

namespace {

kdnet::Keys session_keys() {
  auto keys = kdnet::Keys::from_string("1.2.3.4").value();
  keys.set_data_key_from_response(kdnet::build_response({}));
  return keys;
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + 7 * i + (i >> 8));
  return b;
}

kdnet::Datagram sample(std::size_t payload_len, kdnet::Channel channel = kdnet::Channel::Data) {
  return kdnet::Datagram{kdnet::kVersion, channel, 0x123456789ABCDull, true, pattern(payload_len, 0x42)};
}

std::size_t sealed_size(std::size_t payload_len) {
  return kdnet::kHeaderSize + (8 + payload_len + 15) / 16 * 16 + kdnet::kTagSize;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(datagram_codec)

BOOST_AUTO_TEST_CASE(round_trips_every_payload_length_0_to_1500) {
  const auto keys = session_keys();
  for (auto channel : {kdnet::Channel::Data, kdnet::Channel::Control}) {
    for (bool from_debugger : {false, true}) {
      for (std::size_t len = 0; len <= 1500; ++len) {
        const kdnet::Datagram d{kdnet::kVersion, channel, len * 3 + 1, from_debugger,
                                pattern(len, static_cast<std::uint8_t>(len))};
        const auto wire = kdnet::encode(d, keys);
        BOOST_TEST_REQUIRE(wire.has_value());
        BOOST_TEST_REQUIRE(wire->size() == sealed_size(len), "payload length " << len);
        const auto back = kdnet::decode(*wire, keys);
        BOOST_TEST_REQUIRE(back.has_value(), "payload length " << len << ": " << back.error().message);
        BOOST_TEST_REQUIRE((*back == d), "payload length " << len);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(changing_any_single_byte_is_rejected) {
  const auto keys = session_keys();
  // Lengths with no padding, some padding, and the smallest datagram.
  for (std::size_t len : {0u, 8u, 13u, 100u, 344u}) {
    const auto wire = kdnet::encode(sample(len), keys).value();
    for (std::size_t i = 0; i < wire.size(); ++i) {
      for (std::uint8_t mask : {0x01, 0x80, 0xFF}) {
        auto tampered = wire;
        tampered[i] ^= mask;
        const auto decoded = kdnet::decode(tampered, keys);
        BOOST_TEST_REQUIRE(!decoded.has_value(), "payload " << len << ", byte " << i << " ^ " << int(mask));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(every_truncation_and_extension_is_rejected) {
  const auto keys = session_keys();
  const auto wire = kdnet::encode(sample(40), keys).value();
  for (std::size_t n = 0; n < wire.size(); ++n)
    BOOST_TEST_REQUIRE(!kdnet::decode(openkd::wire::ByteView(wire).first(n), keys).has_value(), "first " << n);
  for (std::size_t extra : {1u, 15u, 16u, 32u}) {
    auto longer = wire;
    longer.insert(longer.end() - kdnet::kTagSize, extra, 0);
    BOOST_TEST(!kdnet::decode(longer, keys).has_value(), extra << " extra bytes");
  }
}

BOOST_AUTO_TEST_CASE(malformed_headers_name_the_problem) {
  const auto keys = session_keys();
  auto wire = kdnet::encode(sample(10), keys).value();
  struct Case {
    const char* name;
    Bytes datagram;
    const char* message_part;
  };
  auto with = [&](std::size_t at, std::uint8_t value) { auto w = wire; w[at] = value; return w; };
  const Case cases[] = {
      {"empty", {}, "shorter than its 6-byte header"},
      {"header only", Bytes(wire.begin(), wire.begin() + 6), "below the minimum"},
      {"magic", with(0, 'X'), "magic"},
      {"channel 2", with(5, 2), "unknown channel 2"},
      {"ciphertext not whole blocks", Bytes(wire.begin(), wire.end() - 1), "not a multiple of 16"},
      {"tag", with(wire.size() - 1, wire.back() ^ 1), "tag mismatch"},
  };
  for (const auto& c : cases) {
    const auto decoded = kdnet::decode(c.datagram, keys);
    BOOST_TEST_REQUIRE(!decoded.has_value(), c.name);
    BOOST_TEST(decoded.error().message.find(c.message_part) != std::string::npos,
               c.name << ": " << decoded.error().message);
    BOOST_TEST(decoded.error().message.find('\n') == std::string::npos);
  }
  const auto header = kdnet::peek_header(wire);
  BOOST_TEST_REQUIRE(header.has_value());
  BOOST_TEST(header->version == kdnet::kVersion);
  BOOST_TEST(header->channel == 0u);
}

BOOST_AUTO_TEST_CASE(wrong_keys_are_rejected) {
  const auto keys = session_keys();
  const auto data = kdnet::encode(sample(64), keys).value();
  const auto control = kdnet::encode(sample(64, kdnet::Channel::Control), keys).value();

  auto other = kdnet::Keys::from_string("1.2.3.5").value();
  other.data = keys.data;  // same data key, other HMAC key
  BOOST_TEST(!kdnet::decode(data, other).has_value());
  BOOST_TEST(!kdnet::decode(control, other).has_value());

  auto other_data = keys;
  other_data.data->front() ^= 1;
  BOOST_TEST(!kdnet::decode(data, other_data).has_value());
  BOOST_TEST(kdnet::decode(control, other_data).has_value());  // control uses K only

  auto no_data_key = kdnet::Keys::from_root(keys.root);
  BOOST_TEST(kdnet::decode(control, no_data_key).has_value());
  const auto before_handshake = kdnet::decode(data, no_data_key);
  BOOST_TEST_REQUIRE(!before_handshake.has_value());
  BOOST_TEST(before_handshake.error().message.find("data key") != std::string::npos);
  BOOST_TEST(!kdnet::encode(sample(1), no_data_key).has_value());
}

BOOST_AUTO_TEST_CASE(sequence_number_is_56_bit_big_endian) {
  const auto keys = session_keys();
  auto d = sample(0);
  d.seq = kdnet::kMaxSeq;
  const auto wire = kdnet::encode(d, keys);
  BOOST_TEST_REQUIRE(wire.has_value());
  BOOST_TEST(kdnet::decode(*wire, keys).value().seq == kdnet::kMaxSeq);

  d.seq = 0x0102030405060708 & kdnet::kMaxSeq;
  const auto plaintext = open_raw(kdnet::encode(d, keys).value(), *keys.data);
  BOOST_TEST(to_hex(plaintext).substr(0, 16) == "0203040506070888");  // direction bit | padding 8

  d.seq = kdnet::kMaxSeq + 1;
  const auto too_big = kdnet::encode(d, keys);
  BOOST_TEST_REQUIRE(!too_big.has_value());
  BOOST_TEST(too_big.error().message.find("56 bits") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(version_byte_is_carried_and_authenticated) {
  const auto keys = session_keys();
  auto d = sample(20);
  d.version = 2;  // older WinDbg traffic
  const auto wire = kdnet::encode(d, keys).value();
  BOOST_TEST(wire[4] == 2u);
  BOOST_TEST(kdnet::decode(wire, keys).value().version == 2u);
}

BOOST_AUTO_TEST_CASE(authenticated_padding_length_must_fit_the_plaintext) {
  const auto keys = session_keys();
  const auto& enc = *keys.data;
  Bytes plaintext(32, 0);
  plaintext[6] = 1;  // seq 1
  struct Case {
    const char* name;
    std::uint8_t byte7;
    std::size_t plaintext_len;
    bool accepted;
    std::size_t payload_len;
  };
  const Case cases[] = {
      {"padding 8 of 16 bytes: empty payload", 0x08, 16, true, 0},
      {"padding 0 of 16 bytes: 8-byte payload", 0x00, 16, true, 8},
      {"padding 15 of 32 bytes", 0x0F, 32, true, 9},
      {"padding 9 with 8 bytes after the header", 0x09, 16, false, 0},
      {"padding 16 is a whole block", 0x10, 32, false, 0},
      {"padding 127", 0x7F, 32, false, 0},
  };
  for (const auto& c : cases) {
    Bytes p(plaintext.begin(), plaintext.begin() + static_cast<std::ptrdiff_t>(c.plaintext_len));
    p[7] = c.byte7;
    const auto decoded = kdnet::decode(seal_raw(4, 0, p, enc, keys.hmac), keys);
    BOOST_TEST(decoded.has_value() == c.accepted, c.name);
    if (decoded) BOOST_TEST(decoded->payload.size() == c.payload_len, c.name);
    else BOOST_TEST(decoded.error().message.find("padding") != std::string::npos, c.name);
  }
}

BOOST_AUTO_TEST_CASE(non_zero_padding_bytes_are_tolerated) {
  // Authenticated padding that a sender did not zero hides nothing we read.
  const auto keys = session_keys();
  Bytes p(16, 0xEE);
  for (std::size_t i = 0; i < 6; ++i) p[i] = 0;
  p[6] = 5;
  p[7] = 0x80 | 4;  // debugger -> target, 4 bytes of padding: payload is bytes 8..11
  const auto decoded = kdnet::decode(seal_raw(4, 1, p, keys.root, keys.hmac), keys);
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->seq == 5u);
  BOOST_TEST(decoded->from_debugger);
  BOOST_TEST((decoded->channel == kdnet::Channel::Control));
  BOOST_TEST(to_hex(decoded->payload) == "eeeeeeee");
}

BOOST_AUTO_TEST_CASE(encoding_is_deterministic_and_matches_an_independent_seal) {
  // IV = tag makes encryption a function of key and plaintext: the codec's output
  // equals seal_raw over the plaintext it should have built.
  const auto keys = session_keys();
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) {
    const std::size_t len = rng() % 300;
    const kdnet::Datagram d{kdnet::kVersion, kdnet::Channel::Data, rng() & 0xFFFFFF, (rng() & 1) != 0,
                            pattern(len, static_cast<std::uint8_t>(rng()))};
    const std::size_t padding = (16 - (8 + len) % 16) % 16;
    Bytes p = {0, 0, 0, 0, static_cast<std::uint8_t>(d.seq >> 16), static_cast<std::uint8_t>(d.seq >> 8),
               static_cast<std::uint8_t>(d.seq), static_cast<std::uint8_t>((d.from_debugger ? 0x80 : 0) | padding)};
    p.insert(p.end(), d.payload.begin(), d.payload.end());
    p.resize(p.size() + padding, 0);
    BOOST_TEST_REQUIRE(to_hex(kdnet::encode(d, keys).value()) == to_hex(seal_raw(4, 0, p, *keys.data, keys.hmac)));
  }
}

BOOST_AUTO_TEST_SUITE_END()
