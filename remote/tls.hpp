// TLS contexts for ssl and spipe: TLS 1.2+ only, server certificates from PEM,
// clients verifying against a PEM trust anchor, the system store, or a pinned
// SHA-256 fingerprint.
#pragma once
#include <expected>
#include <memory>
#include <string>

#include <boost/asio/ssl.hpp>

#include "core/io/byte_stream.hpp"
#include "remote/frame.hpp"
#include "remote/transport_spec.hpp"

namespace openkd::remote {

namespace asio = boost::asio;
using boost::system::error_code;

std::expected<std::shared_ptr<asio::ssl::context>, std::string> make_server_tls_context(
    const TransportSpec& spec);

/// Why verification failed, filled in by the verify callback so the client can say so.
struct TlsVerifyState {
  std::string failure;
};

/// host is checked against the certificate unless empty (Unix sockets have no host name).
std::expected<std::shared_ptr<asio::ssl::context>, std::string> make_client_tls_context(
    const TransportSpec& spec);
/// Installs the verify callback on one connection.
template <class SslStream>
void set_client_verification(SslStream& s, const TransportSpec& spec, const std::string& host,
                             std::shared_ptr<TlsVerifyState> state);

/// "sha256:AB12..." of a DER certificate.
std::string certificate_fingerprint(X509* cert);
/// Normalises a pin (colons removed, upper case); empty when malformed.
std::string normalize_pin(std::string_view pin);

bool tls_verify(bool preverified, asio::ssl::verify_context& ctx, const TransportSpec& spec,
                const std::string& host, TlsVerifyState& state);

template <class SslStream>
void set_client_verification(SslStream& s, const TransportSpec& spec, const std::string& host,
                             std::shared_ptr<TlsVerifyState> state) {
  s.set_verify_mode(asio::ssl::verify_peer);
  s.set_verify_callback([spec, host, state](bool pre, asio::ssl::verify_context& ctx) {
    return tls_verify(pre, ctx, spec, host, *state);
  });
  if (!host.empty()) SSL_set_tlsext_host_name(s.native_handle(), host.c_str());
}

}  // namespace openkd::remote
