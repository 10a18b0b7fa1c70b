// Serial-line envelopes: channels kept apart, garbage and corrupted envelopes
// skipped without losing the ones after them.
#include <boost/test/unit_test.hpp>

#include "remote/com_line.hpp"

using namespace openkd::remote;

BOOST_AUTO_TEST_SUITE(com_envelope)

BOOST_AUTO_TEST_CASE(round_trip_and_resync) {
  Bytes payload{1, 2, 3, 0xA5, 0xA5};
  Bytes line = {0x00, 0xA5, 0x77};  // noise, including a false start
  auto a = encode_com_envelope(ComEnvelopeType::open, 3, {});
  auto b = encode_com_envelope(ComEnvelopeType::data, 3, payload);
  auto c = encode_com_envelope(ComEnvelopeType::data, 200, payload);
  auto corrupt = b;
  corrupt[6] ^= 0xFF;  // payload byte: the checksum no longer matches
  for (auto* e : {&a, &corrupt, &b, &c}) line.insert(line.end(), e->begin(), e->end());
  auto got = take_com_envelopes(line);
  BOOST_TEST_REQUIRE(got.size() == 3u);
  BOOST_TEST((got[0].type == ComEnvelopeType::open));
  BOOST_TEST(got[1].channel == 3);
  BOOST_TEST(got[1].payload == payload);
  BOOST_TEST(got[2].channel == 200);
  BOOST_TEST(line.empty());
}

BOOST_AUTO_TEST_CASE(partial_envelope_waits) {
  auto e = encode_com_envelope(ComEnvelopeType::data, 1, Bytes(100, 7));
  Bytes line(e.begin(), e.begin() + 50);
  BOOST_TEST(take_com_envelopes(line).empty());
  BOOST_TEST(line.size() == 50u);
  line.insert(line.end(), e.begin() + 50, e.end());
  BOOST_TEST(take_com_envelopes(line).size() == 1u);
}

BOOST_AUTO_TEST_CASE(oversized_length_is_noise) {
  Bytes line{0xA5, 2, 0, 0xFF, 0xFF};  // 65535 > com_max_payload: not an envelope
  auto e = encode_com_envelope(ComEnvelopeType::close, 9, {});
  line.insert(line.end(), e.begin(), e.end());
  auto got = take_com_envelopes(line);
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST((got[0].type == ComEnvelopeType::close));
}

BOOST_AUTO_TEST_SUITE_END()
