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

BOOST_AUTO_TEST_CASE(guess_budget_per_source_and_per_server) {
  GuessLimits limits{3, 1000ms, 5, 1000ms};
  GuessBudget b(limits);
  auto now = GuessBudget::Clock::now();
  // One source: its burst, then refused with the wait until its next token.
  for (int i = 0; i < 3; ++i) BOOST_TEST(b.try_spend("10.0.0.1", now).allowed);
  auto refused = b.try_spend("10.0.0.1", now);
  BOOST_TEST(!refused.allowed);
  BOOST_TEST(!refused.server_exhausted);
  BOOST_TEST(refused.retry_after.count() > 900);
  BOOST_TEST(refused.retry_after.count() <= 1001);
  // Another source still has its own budget, until the server's runs out (5 in all).
  BOOST_TEST(b.try_spend("10.0.0.2", now).allowed);
  BOOST_TEST(b.try_spend("10.0.0.3", now).allowed);
  auto server_empty = b.try_spend("10.0.0.4", now);
  BOOST_TEST(!server_empty.allowed);
  BOOST_TEST(server_empty.server_exhausted);
  // Refill: one token per second.
  BOOST_TEST(b.try_spend("10.0.0.1", now + 1001ms).allowed);
  BOOST_TEST(!b.try_spend("10.0.0.1", now + 1001ms).allowed);
}

BOOST_AUTO_TEST_CASE(guess_budget_refund_and_known_good) {
  GuessLimits limits{1, 10s, 1, 10s};
  GuessBudget b(limits);
  auto now = GuessBudget::Clock::now();
  BOOST_TEST(b.peek("someone", now).allowed);
  BOOST_TEST(b.tracked_sources() == 0u);  // looking costs no memory; only failures do
  auto s = b.try_spend("good", now);
  BOOST_TEST(s.allowed);
  b.refund("good", s, now);  // right password: costs nothing, and "good" is known
  BOOST_TEST(b.try_spend("bad", now).allowed);  // spends the server's only token
  BOOST_TEST(!b.try_spend("other", now).allowed);
  BOOST_TEST(b.try_spend("good", now).allowed);  // known-good sources skip the server bucket
  b.expire(now + 2h);
  BOOST_TEST(b.tracked_sources() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
