#include <openssl/ssl.h>

#include "core/io/byte_stream.hpp"

namespace openkd::io {

std::vector<std::uint8_t> export_tls_keying_material(ssl_st* ssl) {
  static constexpr char label[] = "EXPORTER-openkd-remote-auth";
  std::vector<std::uint8_t> out(32);
  if (!ssl || SSL_export_keying_material(ssl, out.data(), out.size(), label, sizeof label - 1, nullptr, 0, 0) != 1)
    return {};
  return out;
}

}  // namespace openkd::io
