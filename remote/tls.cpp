#include "remote/tls.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

namespace openkd::remote {
namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

void set_versions(SSL_CTX* ctx, TlsVersion v) {
  // TLS 1.2 is the floor whatever proto= says: older versions are refused at parse time.
  int min = v == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  int max = v == TlsVersion::tls1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, max);
}

}  // namespace

std::expected<std::shared_ptr<asio::ssl::context>, std::string> make_server_tls_context(
    const TransportSpec& spec) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  set_versions(ctx->native_handle(), spec.proto);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx->native_handle(), spec.cert.c_str()) != 1)
    return std::unexpected(fmt::format("cannot load the certificate from '{}' ({}={}): {}", spec.cert,
                                       spec.cert_key, spec.cert, openssl_error()));
  if (SSL_CTX_use_PrivateKey_file(ctx->native_handle(), spec.cert.c_str(), SSL_FILETYPE_PEM) != 1)
    return std::unexpected(fmt::format("cannot load the private key from '{}' (the PEM file must hold the certificate and its key): {}",
                                       spec.cert, openssl_error()));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return std::unexpected(fmt::format("the key in '{}' does not match its certificate", spec.cert));
  return ctx;
}

std::string normalize_pin(std::string_view pin) {
  std::string out;
  for (char c : pin) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out.size() == 64 ? out : std::string{};
}

std::expected<std::shared_ptr<asio::ssl::context>, std::string> make_client_tls_context(
    const TransportSpec& spec) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  set_versions(ctx->native_handle(), spec.proto);
  ERR_clear_error();
  std::string_view cert = spec.cert;
  if (cert.size() >= 7 && (cert.substr(0, 7) == "sha256:" || cert.substr(0, 7) == "SHA256:")) {
    if (normalize_pin(cert.substr(7)).empty())
      return std::unexpected(fmt::format("bad fingerprint '{}': expected sha256: and 64 hex digits", cert));
  } else if (!cert.empty()) {
    if (SSL_CTX_load_verify_locations(ctx->native_handle(), spec.cert.c_str(), nullptr) != 1)
      return std::unexpected(fmt::format("cannot load the trusted certificate '{}': {}", spec.cert, openssl_error()));
  } else {
    SSL_CTX_set_default_verify_paths(ctx->native_handle());
  }
  return ctx;
}

std::string certificate_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1) return "sha256:?";
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02X}", md[i]);
  return out;
}

bool tls_verify(bool preverified, asio::ssl::verify_context& vctx, const TransportSpec& spec,
                const std::string& host, TlsVerifyState& state) {
  X509_STORE_CTX* sctx = vctx.native_handle();
  int depth = X509_STORE_CTX_get_error_depth(sctx);
  X509* cert = X509_STORE_CTX_get_current_cert(sctx);
  std::string_view pin = spec.cert;
  if (pin.size() >= 7 && (pin.substr(0, 7) == "sha256:" || pin.substr(0, 7) == "SHA256:")) {
    // Pinning trusts exactly one leaf certificate, whatever its chain says.
    if (depth > 0) return true;
    std::string got = certificate_fingerprint(cert);
    std::string want = "sha256:" + normalize_pin(pin.substr(7));
    if (got == want) return true;
    state.failure = fmt::format("the server's certificate {} does not match the pinned {}", got, want);
    return false;
  }
  if (!preverified) {
    int err = X509_STORE_CTX_get_error(sctx);
    state.failure = fmt::format("cannot verify the server's certificate: {}",
                                X509_verify_cert_error_string(err));
    return false;
  }
  if (depth == 0 && !host.empty()) {
    if (!asio::ssl::host_name_verification(host)(preverified, vctx)) {
      state.failure = fmt::format("the server's certificate is not valid for '{}'", host);
      return false;
    }
  }
  return true;
}

}  // namespace openkd::remote
