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
#include <optional>
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

/// How many wrong passwords the server checks (issue 9). Token buckets: each
/// source address may spend `per_source_burst` failures, refilled at one per
/// `per_source_refill`; the server holds one bucket more, shared by every source.
struct GuessLimits {
  unsigned per_source_burst = 5;
  std::chrono::milliseconds per_source_refill{6'000};  // 10 a minute from one source
  unsigned server_burst = 30;
  std::chrono::milliseconds server_refill{1'000};      // 60 a minute from all sources
};

/// Password-guessing budgets. An answer to a challenge is checked only after
/// try_spend() took a token from its source's bucket and the server's; a
/// correct answer gets it back (refund). Spending happens in one call, before
/// the MAC is compared, so any number of concurrent connections from one source
/// cannot all be checked against the same remaining budget (the flaw of the
/// delay read at accept time this replaces). Sources that logged in during the
/// last hour do not draw on the server's bucket: someone else's distributed
/// guessing does not lock out a user who has already proven the password.
/// Memory stays bounded: an entry exists only while its bucket is not full
/// (at most burst * refill after its last failure), and new entries need
/// server tokens. Time is an input, so tests need no clock.
class GuessBudget {
public:
  using Clock = std::chrono::steady_clock;
  explicit GuessBudget(GuessLimits limits = {}) : limits_(limits) {}

  struct Spend {
    bool allowed = false;
    bool from_server = false;  ///< a server token was taken too
    /// When refused: how long until a token is back.
    std::chrono::milliseconds retry_after{0};
    /// When refused: the server's bucket (not the source's) was empty.
    bool server_exhausted = false;
  };
  /// Would try_spend succeed now? (Checks without spending; used to refuse early.)
  Spend peek(const std::string& source, Clock::time_point now);
  /// Takes one token from the source and (unless exempt) the server, or none.
  Spend try_spend(const std::string& source, Clock::time_point now);
  /// The answer was right: gives the tokens back and marks the source known-good.
  void refund(const std::string& source, const Spend& spent, Clock::time_point now);
  /// Forgets full buckets and known-good marks older than an hour.
  void expire(Clock::time_point now);
  std::size_t tracked_sources() const { return sources_.size(); }

private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated{};
  };
  void refill(Bucket& b, unsigned burst, std::chrono::milliseconds period, Clock::time_point now) const;
  std::chrono::milliseconds until_token(const Bucket& b, std::chrono::milliseconds period) const;
  Bucket& source_bucket(const std::string& source, Clock::time_point now);
  bool exempt(const std::string& source, Clock::time_point now) const;

  GuessLimits limits_;
  std::map<std::string, Bucket> sources_;
  std::optional<Bucket> server_;
  std::map<std::string, Clock::time_point> known_good_;
};

}  // namespace openkd::remote
