#include "remote/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

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

std::chrono::milliseconds FailureThrottle::delay_for(const std::string& peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.failures == 0) return std::chrono::milliseconds(0);
  auto delay = base_;
  for (unsigned i = 1; i < it->second.failures && delay < cap_; ++i) delay *= 2;
  return std::min(delay, cap_);
}

void FailureThrottle::record_failure(const std::string& peer, Clock::time_point now) {
  auto& e = peers_[peer];
  ++e.failures;
  e.last = now;
}

void FailureThrottle::record_success(const std::string& peer) { peers_.erase(peer); }

void FailureThrottle::expire(Clock::time_point now) {
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (now - it->second.last > std::chrono::hours(1)) it = peers_.erase(it);
    else ++it;
  }
}

}  // namespace openkd::remote
