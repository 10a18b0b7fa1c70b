// Challenge-response: the right password passes, a wrong one fails, an answer
// replayed against a new challenge or another binding fails; failures slow down.
#include <boost/test/unit_test.hpp>

#include "remote/auth.hpp"

using namespace openkd::remote;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(auth)

namespace {
ByteView view(const std::string& s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
}

BOOST_AUTO_TEST_CASE(right_wrong_and_replayed) {
  Nonce nonce = make_nonce();
  Bytes binding = auth_binding("tcp", "HOST\\user", {});
  Mac mac = compute_auth_mac("Secret", nonce, binding);
  BOOST_TEST(verify_auth_mac("Secret", nonce, binding, mac));
  BOOST_TEST(!verify_auth_mac("secret", nonce, binding, mac));  // case-sensitive
  BOOST_TEST(!verify_auth_mac("Secret2", nonce, binding, mac));
  BOOST_TEST(!verify_auth_mac("", nonce, binding, mac));

  // Replayed on a new connection: the server's nonce is fresh.
  Nonce next = make_nonce();
  BOOST_TEST((next != nonce));
  BOOST_TEST(!verify_auth_mac("Secret", next, binding, mac));
  // Relayed under another identity, transport or TLS session.
  BOOST_TEST(!verify_auth_mac("Secret", nonce, auth_binding("tcp", "HOST\\mallory", {}), mac));
  BOOST_TEST(!verify_auth_mac("Secret", nonce, auth_binding("npipe", "HOST\\user", {}), mac));
  std::string exporter(32, 'x');
  BOOST_TEST(!verify_auth_mac("Secret", nonce, auth_binding("tcp", "HOST\\user", view(exporter)), mac));
  // Malformed answers.
  BOOST_TEST(!verify_auth_mac("Secret", nonce, binding, ByteView(mac.data(), 31)));
  Mac flipped = mac;
  flipped[31] ^= 1;
  BOOST_TEST(!verify_auth_mac("Secret", nonce, binding, flipped));
}

BOOST_AUTO_TEST_CASE(known_answer) {
  // HMAC-SHA256(key "k", 32 zero bytes || binding) is deterministic: the same
  // inputs on client and server must give the same MAC on every platform.
  Nonce zero{};
  Bytes binding = auth_binding("tcp", "A\\b", {});
  Mac a = compute_auth_mac("k", zero, binding);
  Mac b = compute_auth_mac("k", zero, binding);
  BOOST_TEST((a == b));
  // The binding spells lengths, so ("tc","p...") cannot collide with ("tcp",".."):
  BOOST_TEST((auth_binding("tc", "pA\\b", {}) != binding));
}

BOOST_AUTO_TEST_CASE(failures_slow_down_per_peer) {
  FailureThrottle t(250ms, 8s);
  auto now = FailureThrottle::Clock::now();
  BOOST_TEST(t.delay_for("tcp 10.0.0.1").count() == 0);
  const long expected[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};
  for (long want : expected) {
    t.record_failure("tcp 10.0.0.1", now);
    BOOST_TEST(t.delay_for("tcp 10.0.0.1").count() == want);
  }
  BOOST_TEST(t.delay_for("tcp 10.0.0.2").count() == 0);  // other peers unaffected
  t.record_success("tcp 10.0.0.1");
  BOOST_TEST(t.delay_for("tcp 10.0.0.1").count() == 0);
  t.record_failure("tcp 10.0.0.3", now);
  t.expire(now + 2h);
  BOOST_TEST(t.delay_for("tcp 10.0.0.3").count() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
