// kdnet.json, one test case per vector: keys, the POKE/RESPONSE handshake, the data
// key, every datagram both ways, every tampered datagram and invalid key rejected.
#define BOOST_TEST_MODULE kdnet
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "core/wire/kdnet.hpp"
#include "cpp_tests/kdnet/hex.hpp"
#include "cpp_tests/kdnet/raw_crypto.hpp"
#include "cpp_tests/kdnet/vectors.hpp"

namespace bdata = boost::unit_test::data;
namespace kdnet = openkd::wire::kdnet;
using namespace openkd::test;
using namespace openkd::test::kdnet_vectors;

namespace {
std::string hex_of(openkd::wire::ByteView b) { return to_hex(b); }
std::string hex_of(const kdnet::Key& k) { return to_hex(k); }
}  // namespace

BOOST_AUTO_TEST_SUITE(vectors_file)

BOOST_AUTO_TEST_CASE(every_table_is_loaded) {
  const auto& v = vectors();
  BOOST_TEST_REQUIRE(v.load_error.empty(), v.load_error);
  BOOST_TEST(v.keys.size() == 2u);
  BOOST_TEST(v.handshakes.size() == 2u);
  BOOST_TEST(v.datagrams.size() == 16u);  // per key: POKE, RESPONSE, six data-channel datagrams
  BOOST_TEST(v.negative_datagrams.size() == 5u);
  BOOST_TEST(v.invalid_keys.size() == 6u);
}

BOOST_DATA_TEST_CASE(key_string_gives_K_and_the_hmac_key, bdata::make(vectors().keys), row) {
  const auto keys = kdnet::Keys::from_string(row.key);
  BOOST_TEST_REQUIRE(keys.has_value(), (keys ? "" : keys.error().message));
  BOOST_TEST(hex_of(keys->root) == hex_of(row.root));
  BOOST_TEST(hex_of(keys->hmac) == hex_of(row.hmac));
  BOOST_TEST(!keys->data.has_value());
  for (std::size_t i = 0; i < 4; ++i) {
    std::uint64_t part = 0;
    for (std::size_t b = 0; b < 8; ++b) part |= std::uint64_t{keys->root[8 * i + b]} << (8 * b);
    BOOST_TEST(part == row.parts[i], "part " << i + 1);
  }
  // Formatting K gives a string that parses back to K (both vector keys are canonical).
  BOOST_TEST(kdnet::format_key(row.root) == row.key);
}

BOOST_DATA_TEST_CASE(handshake_payloads_build_parse_and_give_the_data_key, bdata::make(vectors().handshakes), row) {
  BOOST_TEST_REQUIRE(row.addresses.size() == 3u);
  kdnet::Poke poke;
  poke.target_random = row.target_random;
  poke.target = kdnet::PokeAddress::from_ipv4(row.addresses[0].ipv4, row.addresses[0].port);
  poke.host = kdnet::PokeAddress::from_ipv4(row.addresses[1].ipv4, row.addresses[1].port);
  BOOST_TEST(hex_of(kdnet::build_poke(poke)) == hex_of(row.poke_payload));
  const auto parsed_poke = kdnet::parse_poke(row.poke_payload);
  BOOST_TEST_REQUIRE(parsed_poke.has_value());
  BOOST_TEST((*parsed_poke == poke));
  BOOST_TEST(parsed_poke->target.ipv4().value_or(0) == row.addresses[0].ipv4);
  BOOST_TEST(parsed_poke->host.port == row.addresses[1].port);
  // The third entry is the zero one that ends the list.
  BOOST_TEST(row.addresses[2].ipv4 == 0u);
  BOOST_TEST(row.addresses[2].port == 0u);

  const kdnet::Response response{row.target_random, row.debugger_random};
  BOOST_TEST(hex_of(kdnet::build_response(response)) == hex_of(row.response_payload));
  const auto parsed_response = kdnet::parse_response(row.response_payload);
  BOOST_TEST_REQUIRE(parsed_response.has_value());
  BOOST_TEST((*parsed_response == response));

  const auto keys = kdnet::Keys::from_string(row.key);
  BOOST_TEST_REQUIRE(keys.has_value());
  BOOST_TEST(hex_of(kdnet::derive_data_key(keys->root, row.response_payload)) == hex_of(row.data_key));
  auto session = *keys;
  session.set_data_key_from_response(row.response_payload);
  BOOST_TEST_REQUIRE(session.data.has_value());
  BOOST_TEST(hex_of(*session.data) == hex_of(row.data_key));
}

BOOST_DATA_TEST_CASE(datagram_decodes_to_its_fields, bdata::make(vectors().datagrams), row) {
  const auto decoded = kdnet::decode(row.datagram, row.keys);
  BOOST_TEST_REQUIRE(decoded.has_value(), (decoded ? "" : decoded.error().message));
  BOOST_TEST(decoded->version == row.fields.version);
  BOOST_TEST((decoded->channel == row.fields.channel));
  BOOST_TEST(decoded->seq == row.fields.seq);
  BOOST_TEST(decoded->from_debugger == row.fields.from_debugger);
  BOOST_TEST(hex_of(decoded->payload) == hex_of(row.fields.payload));
  if (row.pseudo_host_ipv4) {
    const auto host = kdnet::parse_pseudo_packet(decoded->payload);
    BOOST_TEST_REQUIRE(host.has_value());
    BOOST_TEST(*host == *row.pseudo_host_ipv4);
    BOOST_TEST(hex_of(kdnet::build_pseudo_packet(*row.pseudo_host_ipv4)) == hex_of(row.fields.payload));
  }
}

BOOST_DATA_TEST_CASE(datagram_encodes_byte_exact, bdata::make(vectors().datagrams), row) {
  const auto encoded = kdnet::encode(row.fields, row.keys);
  BOOST_TEST_REQUIRE(encoded.has_value(), (encoded ? "" : encoded.error().message));
  BOOST_TEST(hex_of(*encoded) == hex_of(row.datagram));
}

BOOST_DATA_TEST_CASE(datagram_plaintext_and_tag_match_the_vector, bdata::make(vectors().datagrams), row) {
  // Opened independently of the codec: the plaintext layout (big-endian seq, byte 7
  // = direction bit | padding length, zero padding) and the tag at the end.
  const auto* enc = row.keys.encryption_key(row.fields.channel);
  BOOST_TEST_REQUIRE(enc != nullptr);
  const auto plaintext = open_raw(row.datagram, *enc);
  BOOST_TEST(hex_of(plaintext) == hex_of(row.plaintext));
  BOOST_TEST(hex_of(openkd::wire::ByteView(row.datagram).last(16)) == hex_of(row.tag));
  BOOST_TEST_REQUIRE(row.plaintext.size() >= 8u);
  BOOST_TEST((row.plaintext[7] & 0x7F) == row.padding);
  BOOST_TEST(((row.plaintext[7] & 0x80) != 0) == row.fields.from_debugger);
  BOOST_TEST(row.plaintext.size() == 8 + row.fields.payload.size() + row.padding);
}

BOOST_DATA_TEST_CASE(tampered_datagram_is_rejected, bdata::make(vectors().negative_datagrams), row) {
  const auto decoded = kdnet::decode(row.datagram, row.keys);
  BOOST_TEST(!decoded.has_value(), row.reason);
  if (!decoded) BOOST_TEST_MESSAGE(row.name << ": " << decoded.error().message);
}

BOOST_DATA_TEST_CASE(invalid_key_is_rejected, bdata::make(vectors().invalid_keys), row) {
  const auto parsed = kdnet::parse_key(row.key);
  BOOST_TEST(!parsed.has_value(), row.reason);
  if (!parsed) {
    BOOST_TEST(parsed.error().message.find('\n') == std::string::npos);
    BOOST_TEST_MESSAGE(parsed.error().message);
  }
}

BOOST_AUTO_TEST_SUITE_END()
