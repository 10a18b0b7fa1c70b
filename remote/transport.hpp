// Opening connections for each transport: listening sockets with port ranges,
// Unix sockets for pipes, dialing (forward and clicon), and TLS handshakes.
#pragma once
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "remote/stream.hpp"
#include "remote/transport_spec.hpp"

namespace openkd::remote {

using RawSocket = std::variant<asio::ip::tcp::socket, asio::local::stream_protocol::socket>;
struct RawConnection {
  RawSocket socket;
  std::string peer;  ///< "tcp 127.0.0.1:63141", "npipe pid 1234"
};
using Connected = std::expected<std::unique_ptr<ByteStream>, std::string>;

/// A listening tcp or Unix socket. `bound` is the spec with the port actually
/// bound and the pipe name expanded.
class SocketListener {
public:
  static std::expected<std::unique_ptr<SocketListener>, std::string> open(asio::any_io_executor ex,
                                                                        const TransportSpec& spec);
  ~SocketListener();
  asio::awaitable<std::expected<RawConnection, error_code>> accept();
  void close();
  const TransportSpec& bound() const { return bound_; }
  bool loopback_only() const { return loopback_only_; }

private:
  SocketListener(asio::ip::tcp::acceptor a, TransportSpec bound);
  SocketListener(asio::local::stream_protocol::acceptor a, TransportSpec bound, std::filesystem::path p);
  std::variant<asio::ip::tcp::acceptor, asio::local::stream_protocol::acceptor> acceptor_;
  TransportSpec bound_;
  std::filesystem::path unlink_path_;
  bool loopback_only_ = false;
};

/// Dials host:port (tcp) within the timeout.
asio::awaitable<std::expected<RawConnection, std::string>> dial_tcp(std::string host, std::uint16_t port,
                                                                    bool ipv6, std::chrono::milliseconds timeout);
asio::awaitable<std::expected<RawConnection, std::string>> dial_unix(std::filesystem::path path);

/// Plain transports pass through; TLS ones complete the server handshake
/// within handshake_timeout (the connection is closed when it expires).
asio::awaitable<Connected> secure_as_server(RawConnection raw, std::shared_ptr<asio::ssl::context> tls,
                                            std::chrono::milliseconds handshake_timeout);
/// Client side: TLS handshake with certificate or pin verification; `host`
/// is checked against the certificate when not empty.
asio::awaitable<Connected> secure_as_client(RawConnection raw, const TransportSpec& spec,
                                            std::shared_ptr<asio::ssl::context> tls, std::string host);

}  // namespace openkd::remote
