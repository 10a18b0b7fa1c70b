// Key strings, POKE/RESPONSE payloads and the data channel's pseudo packet.
#include <boost/test/unit_test.hpp>

#include <random>

#include "core/wire/kdnet.hpp"
#include "cpp_tests/kdnet/hex.hpp"
#include "cpp_tests/kdnet/raw_crypto.hpp"

namespace kdnet = openkd::wire::kdnet;
using openkd::wire::Bytes;
using openkd::test::open_raw;
using openkd::test::to_hex;

namespace {
std::uint64_t part(const kdnet::Key& k, std::size_t i) {
  std::uint64_t v = 0;
  for (std::size_t b = 0; b < 8; ++b) v |= std::uint64_t{k[8 * i + b]} << (8 * b);
  return v;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(key_strings)

BOOST_AUTO_TEST_CASE(valid_keys_give_their_parts) {
  struct Case {
    const char* text;
    std::array<std::uint64_t, 4> parts;
  };
  const Case cases[] = {
      {"0.0.0.0", {0, 0, 0, 0}},
      {"1.2.3.4", {1, 2, 3, 4}},
      {"z.10.zz.100", {35, 36, 36 * 36 - 1, 36 * 36}},
      {"A.b.C.d", {10, 11, 12, 13}},  // upper case reads as lower case
      {"0001.02.3.4", {1, 2, 3, 4}},  // leading zeros
      {"3w5e11264sgsf.0.0.0", {UINT64_MAX, 0, 0, 0}},
      {"mf9g063v08f.a.b.c", {0x0123456789ABCDEF, 10, 11, 12}},
  };
  for (const auto& c : cases) {
    const auto key = kdnet::parse_key(c.text);
    BOOST_TEST_REQUIRE(key.has_value(), c.text << ": " << key.error().message);
    for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(part(*key, i) == c.parts[i], c.text << " part " << i + 1);
  }
}

BOOST_AUTO_TEST_CASE(invalid_keys_get_a_one_line_reason) {
  struct Case {
    std::string text;
    const char* message_part;
  };
  const Case cases[] = {
      {"1.2.3.4!", "'!' at position 8"},
      {"1.2.3.-4", "'-' at position 7"},
      {" 1.2.3.4", "' ' at position 1"},
      {"1.2.3.4\n", "0x0a at position 8"},
      {std::string("1.2\0.3.4", 8), "0x00 at position 4"},
      {"1,2,3,4", "',' at position 2"},
      {"", "found 1"},
      {"1.2.3", "found 3"},
      {"1.2.3.4.5", "found 5"},
      {"1..3.4", "part 2 is empty"},
      {".2.3.4", "part 1 is empty"},
      {"1.2.3.", "part 4 is empty"},
      {"1.2.3.3w5e11264sgsg", "part 4 \"3w5e11264sgsg\" is above 2^64-1"},
      {"zzzzzzzzzzzzz.2.3.4", "part 1"},
      {"1.00000000000000000000000000000000000000000000000000000000000000000000000000000000g.3.4", ""},
  };
  for (const auto& c : cases) {
    const auto key = kdnet::parse_key(c.text);
    if (std::string_view(c.message_part).empty()) {  // leading zeros never overflow
      BOOST_TEST(key.has_value(), c.text);
      continue;
    }
    BOOST_TEST_REQUIRE(!key.has_value(), c.text);
    BOOST_TEST(key.error().message.find(c.message_part) != std::string::npos, key.error().message);
    BOOST_TEST(key.error().message.find('\n') == std::string::npos, key.error().message);
  }
}

BOOST_AUTO_TEST_CASE(format_key_round_trips_random_keys) {
  std::mt19937_64 rng(36);
  for (int i = 0; i < 200; ++i) {
    kdnet::Key k;
    for (auto& b : k) b = static_cast<std::uint8_t>(rng());
    const auto text = kdnet::format_key(k);
    const auto back = kdnet::parse_key(text);
    BOOST_TEST_REQUIRE(back.has_value(), text);
    BOOST_TEST_REQUIRE((*back == k), text);
  }
  BOOST_TEST(kdnet::format_key(kdnet::Key{}) == "0.0.0.0");
}

BOOST_AUTO_TEST_CASE(hmac_key_inverts_every_byte) {
  const auto keys = kdnet::Keys::from_string("1.2.3.4").value();
  BOOST_TEST(to_hex(keys.hmac) == "fefffffffffffffffdfffffffffffffffcfffffffffffffffbffffffffffffff");
  BOOST_TEST((kdnet::hmac_key_of(keys.hmac) == keys.root));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(handshake)

kdnet::Random counting(std::uint8_t first) {
  kdnet::Random r;
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<std::uint8_t>(first + i);
  return r;
}

BOOST_AUTO_TEST_CASE(poke_layout) {
  const kdnet::Poke poke{counting(0x10), kdnet::PokeAddress::from_ipv4(0xC0A83814, 50000),
                         kdnet::PokeAddress::from_ipv4(0xC0A83801, 50001)};
  const auto payload = kdnet::build_poke(poke);
  BOOST_TEST_REQUIRE(payload.size() == kdnet::kPokeSize);
  const auto hex = to_hex(payload);
  BOOST_TEST(hex.substr(0, 4) == "0101");
  BOOST_TEST(hex.substr(68, 36) == "00000000000000000000ffffc0a83814c350");  // ::ffff:192.168.56.20, port 50000 BE
  BOOST_TEST(hex.substr(104, 36) == "00000000000000000000ffffc0a83801c351");
  BOOST_TEST(hex.substr(140, 36) == "00000000000000000000ffff000000000000");  // ::ffff:0.0.0.0 port 0 ends the list
  BOOST_TEST(std::all_of(payload.begin() + 88, payload.end(), [](auto b) { return b == 0; }));
  BOOST_TEST((kdnet::parse_poke(payload).value() == poke));
}

BOOST_AUTO_TEST_CASE(poke_parse_rejects_what_is_not_a_poke) {
  const auto payload = kdnet::build_poke({});
  BOOST_TEST(!kdnet::parse_poke(Bytes(payload.begin(), payload.begin() + 69)).has_value());
  BOOST_TEST(kdnet::parse_poke(Bytes(payload.begin(), payload.begin() + 70)).has_value());  // later entries optional
  auto response_kind = payload;
  response_kind[1] = 0x02;
  BOOST_TEST(!kdnet::parse_poke(response_kind).has_value());
  BOOST_TEST(!kdnet::parse_poke(kdnet::build_response({})).has_value());
}

BOOST_AUTO_TEST_CASE(ipv6_entries_are_kept_and_not_read_as_ipv4) {
  auto payload = kdnet::build_poke({});
  payload[34] = 0xFE;  // target entry: fe80::...
  payload[35] = 0x80;
  payload[49] = 0x01;
  const auto poke = kdnet::parse_poke(payload).value();
  BOOST_TEST(!poke.target.ipv4().has_value());
  BOOST_TEST(poke.target.address[0] == 0xFEu);
  BOOST_TEST(kdnet::PokeAddress::from_ipv4(0x7F000001, 1).ipv4().value() == 0x7F000001u);
}

BOOST_AUTO_TEST_CASE(response_layout_and_parse) {
  const kdnet::Response response{counting(0x10), counting(0xA0)};
  const auto payload = kdnet::build_response(response);
  BOOST_TEST_REQUIRE(payload.size() == kdnet::kResponseSize);
  BOOST_TEST(to_hex(payload).substr(0, 6) == "010210");
  BOOST_TEST(payload[2 + 32] == 0xA0u);
  BOOST_TEST(std::all_of(payload.begin() + 66, payload.end(), [](auto b) { return b == 0; }));
  BOOST_TEST((kdnet::parse_response(payload).value() == response));

  BOOST_TEST(!kdnet::parse_response(Bytes(payload.begin(), payload.end() - 1)).has_value());
  auto longer = payload;
  longer.push_back(0);
  BOOST_TEST(!kdnet::parse_response(longer).has_value());
  auto poke_kind = payload;
  poke_kind[1] = 0x01;
  BOOST_TEST(!kdnet::parse_response(poke_kind).has_value());
}

BOOST_AUTO_TEST_CASE(plaintext_byte_7_of_poke_and_response) {
  // 8 + 344 = 352 = 22 blocks: POKE padding 0, target -> debugger: 0x00.
  // 8 + 322 = 330 = 20 blocks + 10: RESPONSE padding 6, debugger -> target: 0x80 | 6 = 0x86.
  const auto keys = kdnet::Keys::from_string("1.2.3.4").value();
  const kdnet::Datagram poke{kdnet::kVersion, kdnet::Channel::Control, 1, false, kdnet::build_poke({})};
  const kdnet::Datagram response{kdnet::kVersion, kdnet::Channel::Control, 1, true, kdnet::build_response({})};
  BOOST_TEST(open_raw(kdnet::encode(poke, keys).value(), keys.root)[7] == 0x00u);
  BOOST_TEST(open_raw(kdnet::encode(response, keys).value(), keys.root)[7] == 0x86u);
}

BOOST_AUTO_TEST_CASE(pseudo_packet_layout_and_parse) {
  const auto payload = kdnet::build_pseudo_packet(0xC0A80201);  // 192.168.2.1
  BOOST_TEST(to_hex(payload) == "00000000000000000102a8c0");
  BOOST_TEST(kdnet::parse_pseudo_packet(payload).value() == 0xC0A80201u);
  BOOST_TEST(!kdnet::parse_pseudo_packet(Bytes(payload.begin(), payload.end() - 1)).has_value());
  for (std::size_t i = 0; i < 8; ++i) {
    auto not_pseudo = payload;
    not_pseudo[i] = 0x30;
    BOOST_TEST(!kdnet::parse_pseudo_packet(not_pseudo).has_value(), "byte " << i);
  }
}

BOOST_AUTO_TEST_SUITE_END()
