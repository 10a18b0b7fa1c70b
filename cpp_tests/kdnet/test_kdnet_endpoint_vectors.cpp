// The KDNET endpoint (core/link/kdnet_endpoint) against kdnet.json, byte for
// byte: given the vectors' random bytes and addresses, a target endpoint's
// POKE, a debugger endpoint's RESPONSE to it, the target's pseudo packet and
// each side's first KD datagrams are exactly the captured datagrams.
#include <boost/test/unit_test.hpp>

#include "core/link/kdnet_endpoint.hpp"
#include "cpp_tests/kdnet/hex.hpp"
#include "cpp_tests/kdnet/vectors.hpp"

using namespace openkd;
namespace kn = openkd::link::kdnet;
using openkd::test::to_hex;
using namespace openkd::test::kdnet_vectors;

namespace {

const DatagramRow& row(const std::string& key, const std::string& name) {
  for (const auto& d : vectors().datagrams)
    if (d.key == key && d.name == name) return d;
  BOOST_FAIL("no vector " << name << " for key " << key);
  throw;  // unreachable
}

kn::RandomFill gives(const kdnet::Random& r) {
  return [r](std::span<std::uint8_t> out) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = r[i % r.size()];
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kdnet_endpoint_vectors)

BOOST_AUTO_TEST_CASE(endpoints_reproduce_the_captured_handshake_and_first_datagrams) {
  BOOST_TEST_REQUIRE(vectors().load_error.empty(), vectors().load_error);
  BOOST_TEST_REQUIRE(!vectors().handshakes.empty());
  for (const auto& h : vectors().handshakes) {
    BOOST_TEST_CONTEXT(h) {
      BOOST_TEST_REQUIRE(h.addresses.size() >= 2u);
      const kn::Address target{h.addresses[0].ipv4, h.addresses[0].port};
      const kn::Address host{h.addresses[1].ipv4, h.addresses[1].port};
      const auto root = kdnet::parse_key(h.key).value();
      kn::EndpointConfig tc;
      tc.role = kn::Role::Target;
      tc.key = root;
      tc.self = target;
      tc.peer = host;
      kn::EndpointConfig dc;
      dc.role = kn::Role::Debugger;
      dc.key = root;
      dc.self = host;
      kn::Endpoint tgt(tc, gives(h.target_random));
      kn::Endpoint dbg(dc, gives(h.debugger_random));
      link::TimePoint t0{};

      // The captured POKE may be a later one (the target had been POKEing): its
      // sequence number says which; the earlier ones go unanswered.
      tgt.start(t0);
      for (std::uint64_t n = 1; n < row(h.key, "poke").fields.seq; ++n) {
        BOOST_TEST_REQUIRE(tgt.take_datagram().has_value());
        t0 = *tgt.next_deadline();
        tgt.on_timer(t0);
      }
      auto poke = tgt.take_datagram();
      BOOST_TEST_REQUIRE(poke.has_value());
      BOOST_TEST(to_hex(poke->bytes) == to_hex(row(h.key, "poke").datagram));
      BOOST_TEST((poke->to == host));

      dbg.on_datagram(poke->bytes, target, t0);
      auto response = dbg.take_datagram();
      BOOST_TEST_REQUIRE(response.has_value());
      BOOST_TEST(to_hex(response->bytes) == to_hex(row(h.key, "response").datagram));

      tgt.on_datagram(response->bytes, host, t0);
      auto pseudo = tgt.take_datagram();
      BOOST_TEST_REQUIRE(pseudo.has_value());
      BOOST_TEST(to_hex(pseudo->bytes) == to_hex(row(h.key, "pseudo_packet").datagram));

      // Each side's next data datagrams, from the captured payloads.
      const auto& state_change = row(h.key, "exception_state_change");
      tgt.send_data(state_change.fields.payload, t0);
      BOOST_TEST(to_hex(tgt.take_datagram()->bytes) == to_hex(state_change.datagram));
      const auto& ack = row(h.key, "ack_state_change");
      dbg.send_data(ack.fields.payload, t0);
      BOOST_TEST(to_hex(dbg.take_datagram()->bytes) == to_hex(ack.datagram));
      const auto& request = row(h.key, "get_version_request");
      dbg.send_data(request.fields.payload, t0);
      BOOST_TEST(to_hex(dbg.take_datagram()->bytes) == to_hex(request.datagram));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
