// Password authentication without sending the password: challenge-response.
//
// The server sends a fresh random nonce; the client answers
//   HMAC-SHA256(key = password, nonce || binding)
// where binding names the protocol, the transport, the client's identity and,
// on TLS, 32 bytes exported from the TLS session (RFC 5705), so an answer
// cannot be replayed on another connection nor relayed through another TLS
// session. The server compares in constant time and slows repeated failures.
#pragma once
#include <array>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "remote/frame.hpp"

namespace openkd::remote {

using Nonce = std::array<std::uint8_t, nonce_size>;
using Mac = std::array<std::uint8_t, mac_size>;

/// A nonce from the OpenSSL CSPRNG.
Nonce make_nonce();

/// What the MAC covers besides the nonce (see above).
Bytes auth_binding(std::string_view transport_kind, std::string_view client_identity,
                   ByteView tls_exporter);

Mac compute_auth_mac(std::string_view password, ByteView nonce, ByteView binding);

/// Constant-time check of a client's answer (CRYPTO_memcmp).
bool verify_auth_mac(std::string_view password, ByteView nonce, ByteView binding, ByteView mac);

/// Per-peer slowdown of password guessing: after the n-th consecutive failure
/// from one peer, its next attempt waits base * 2^(n-1), capped. Time is an
/// input so tests need no clock.
class FailureThrottle {
public:
  using Clock = std::chrono::steady_clock;
  explicit FailureThrottle(std::chrono::milliseconds base = std::chrono::milliseconds(250),
                           std::chrono::milliseconds cap = std::chrono::seconds(8))
      : base_(base), cap_(cap) {}

  /// How long to wait before answering this peer's next attempt.
  std::chrono::milliseconds delay_for(const std::string& peer) const;
  void record_failure(const std::string& peer, Clock::time_point now);
  void record_success(const std::string& peer);
  /// Drops peers whose last failure is older than an hour, bounding memory.
  void expire(Clock::time_point now);

private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point last{};
  };
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  std::map<std::string, Entry> peers_;
};

}  // namespace openkd::remote
