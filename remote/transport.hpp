// Opening connections for each transport: listening sockets with port ranges,
// Unix sockets for pipes (both through core/io/listener.hpp), and TLS handshakes.
#pragma once
#include <expected>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/ssl.hpp>

#include "core/io/byte_stream.hpp"
#include "core/io/listener.hpp"
#include "remote/frame.hpp"
#include "remote/transport_spec.hpp"

namespace openkd::remote {

namespace asio = boost::asio;
using boost::system::error_code;

using Connected = std::expected<std::unique_ptr<io::ByteStream>, std::string>;

/// A server's listening tcp or Unix socket (io::Listener) with remoting's names:
/// `bound` is the spec with the port actually bound and the pipe name expanded.
class SocketListener {
public:
  static std::expected<std::unique_ptr<SocketListener>, std::string> open(asio::any_io_executor ex,
                                                                        const TransportSpec& spec);
  asio::awaitable<std::expected<io::Connection, error_code>> accept() { return listener_->accept(); }
  void close() { listener_->close(); }
  const TransportSpec& bound() const { return bound_; }
  bool loopback_only() const { return listener_->loopback_only(); }

private:
  SocketListener(std::unique_ptr<io::Listener> l, TransportSpec bound)
      : listener_(std::move(l)), bound_(std::move(bound)) {}
  std::unique_ptr<io::Listener> listener_;
  TransportSpec bound_;
};

/// Plain transports pass through; TLS ones complete the server handshake
/// within handshake_timeout (the connection is closed when it expires).
asio::awaitable<Connected> secure_as_server(io::Connection raw, std::shared_ptr<asio::ssl::context> tls,
                                            std::chrono::milliseconds handshake_timeout);
/// Client side: TLS handshake with certificate or pin verification; `host`
/// is checked against the certificate when not empty.
asio::awaitable<Connected> secure_as_client(io::Connection raw, const TransportSpec& spec,
                                            std::shared_ptr<asio::ssl::context> tls, std::string host);

}  // namespace openkd::remote
