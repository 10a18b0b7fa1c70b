#include "remote/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>

namespace openkd::remote {

Nonce make_nonce() {
  Nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) {
    // Without randomness a challenge is worthless; refusing to run is the only safe answer.
    std::abort();
  }
  return n;
}

Bytes auth_binding(std::string_view transport_kind, std::string_view client_identity,
                   ByteView tls_exporter) {
  Bytes out;
  wire::Writer w(out);
  auto put = [&](std::string_view s) {
    w.u32(static_cast<std::uint32_t>(s.size()));
    w.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  };
  put("openkd-remote-auth-v1");
  put(transport_kind);
  put(client_identity);
  w.u32(static_cast<std::uint32_t>(tls_exporter.size())).bytes(tls_exporter);
  return out;
}

Mac compute_auth_mac(std::string_view password, ByteView nonce, ByteView binding) {
  Bytes data(nonce.begin(), nonce.end());
  data.insert(data.end(), binding.begin(), binding.end());
  Mac mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), password.data(), static_cast<int>(password.size()), data.data(), data.size(),
       mac.data(), &len);
  return mac;
}

bool verify_auth_mac(std::string_view password, ByteView nonce, ByteView binding, ByteView mac) {
  if (mac.size() != mac_size) return false;
  Mac expected = compute_auth_mac(password, nonce, binding);
  return CRYPTO_memcmp(expected.data(), mac.data(), mac_size) == 0;
}

void GuessBudget::refill(Bucket& b, unsigned burst, std::chrono::milliseconds period, Clock::time_point now) const {
  if (now > b.updated) {
    double gained = std::chrono::duration<double, std::milli>(now - b.updated).count() /
                    static_cast<double>(std::max<long long>(period.count(), 1));
    b.tokens = std::min(static_cast<double>(burst), b.tokens + gained);
  }
  b.updated = now;
}

std::chrono::milliseconds GuessBudget::until_token(const Bucket& b, std::chrono::milliseconds period) const {
  double missing = std::max(0.0, 1.0 - b.tokens);
  return std::chrono::milliseconds(static_cast<long long>(missing * static_cast<double>(period.count())) + 1);
}

GuessBudget::Bucket& GuessBudget::source_bucket(const std::string& source, Clock::time_point now) {
  auto [it, fresh] = sources_.try_emplace(source);
  if (fresh) it->second = Bucket{static_cast<double>(limits_.per_source_burst), now};
  refill(it->second, limits_.per_source_burst, limits_.per_source_refill, now);
  return it->second;
}

bool GuessBudget::exempt(const std::string& source, Clock::time_point now) const {
  auto it = known_good_.find(source);
  return it != known_good_.end() && now - it->second < std::chrono::hours(1);
}

GuessBudget::Spend GuessBudget::peek(const std::string& source, Clock::time_point now) {
  Spend s;
  // A source without an entry has a full bucket; only spending creates one.
  if (auto it = sources_.find(source); it != sources_.end()) {
    refill(it->second, limits_.per_source_burst, limits_.per_source_refill, now);
    if (it->second.tokens < 1.0) {
      s.retry_after = until_token(it->second, limits_.per_source_refill);
      return s;
    }
  } else if (limits_.per_source_burst == 0) {
    s.retry_after = limits_.per_source_refill;
    return s;
  }
  if (!exempt(source, now)) {
    if (!server_) server_ = Bucket{static_cast<double>(limits_.server_burst), now};
    refill(*server_, limits_.server_burst, limits_.server_refill, now);
    if (server_->tokens < 1.0) {
      s.server_exhausted = true;
      s.retry_after = until_token(*server_, limits_.server_refill);
      return s;
    }
    s.from_server = true;
  }
  s.allowed = true;
  return s;
}

GuessBudget::Spend GuessBudget::try_spend(const std::string& source, Clock::time_point now) {
  Spend s = peek(source, now);
  if (!s.allowed) return s;
  source_bucket(source, now).tokens -= 1.0;
  if (s.from_server) server_->tokens -= 1.0;
  return s;
}

void GuessBudget::refund(const std::string& source, const Spend& spent, Clock::time_point now) {
  if (!spent.allowed) return;
  if (auto it = sources_.find(source); it != sources_.end())
    it->second.tokens = std::min(static_cast<double>(limits_.per_source_burst), it->second.tokens + 1.0);
  if (spent.from_server && server_)
    server_->tokens = std::min(static_cast<double>(limits_.server_burst), server_->tokens + 1.0);
  known_good_[source] = now;
}

void GuessBudget::expire(Clock::time_point now) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    refill(it->second, limits_.per_source_burst, limits_.per_source_refill, now);
    if (it->second.tokens >= static_cast<double>(limits_.per_source_burst)) it = sources_.erase(it);
    else ++it;
  }
  for (auto it = known_good_.begin(); it != known_good_.end();) {
    if (now - it->second >= std::chrono::hours(1)) it = known_good_.erase(it);
    else ++it;
  }
}

}  // namespace openkd::remote
