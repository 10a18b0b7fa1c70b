// The one listener of openkd, and the one dialer: a Unix socket (KD's and
// remoting's "pipes") or TCP, accepted with Asio or, for poll() loops such as
// kdsim's, without blocking. kdsim, remote's servers and client (clicon) and
// the backends' -k dialer use it; docs/architecture.md section 1.
#pragma once
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "core/io/byte_stream.hpp"

namespace openkd::io {

namespace asio = boost::asio;
using boost::system::error_code;

using Socket = std::variant<asio::ip::tcp::socket, asio::local::stream_protocol::socket>;

/// An accepted or dialed socket and how messages name its other end
/// ("tcp 127.0.0.1:63141", "tcp [::1]:5555", "npipe pid 1234", "pipe /tmp/kd").
struct Connection {
  Socket socket;
  std::string peer;
};

/// The connection as a plain (non-TLS) ByteStream: what a debugger serving a
/// pipe or TCP port (kd as the server side) hands to the host session.
std::unique_ptr<ByteStream> make_stream(Connection c);

/// Gives up the connection's descriptor (non-blocking) to a caller that polls it itself.
int release_fd(Connection& c);

enum class Family { any, v4, v6 };

struct TcpBind {
  std::string host;  ///< an IP address or a name; empty: every address of `family`
  std::uint16_t port_lo = 0, port_hi = 0;  ///< the first free port in [lo, hi]; 0 lets the system choose
  Family family = Family::v4;              ///< for an empty host
};

class Listener {
public:
  /// A Unix socket at `path`, mode 0600. A socket file nobody answers on (left
  /// by a killed server) is replaced; a live one, or a file that is not a socket,
  /// is refused. The file is removed again by close(). `kind` names accepted
  /// peers ("npipe pid 1234").
  static std::expected<std::unique_ptr<Listener>, std::string> listen_unix(asio::any_io_executor ex,
                                                                         const std::filesystem::path& path,
                                                                         std::string kind = "pipe");
  /// TCP on the first free port of bind.port_lo..port_hi (port 0: any free one;
  /// port() tells which). `kind` names accepted peers ("tcp 127.0.0.1:63141").
  static std::expected<std::unique_ptr<Listener>, std::string> listen_tcp(asio::any_io_executor ex, const TcpBind& bind,
                                                                 std::string kind = "tcp");
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  asio::awaitable<std::expected<Connection, error_code>> accept();
  /// Accepts without blocking: asio::error::would_block when nobody waits. For
  /// loops that poll native_handle() for readability.
  std::expected<Connection, error_code> accept_now();
  int native_handle();
  /// Stops listening (pending accepts end with operation_aborted) and removes the socket file.
  void close();

  bool is_unix() const { return std::holds_alternative<asio::local::stream_protocol::acceptor>(acceptor_); }
  /// The bound TCP port (0 for a Unix socket).
  std::uint16_t port() const;
  /// Only this machine can connect: a Unix socket, or TCP bound to a loopback address.
  bool loopback_only() const;

private:
  template <class Acceptor>
  Listener(Acceptor a, std::string kind, std::filesystem::path unlink_path)
      : acceptor_(std::move(a)), kind_(std::move(kind)), unlink_path_(std::move(unlink_path)) {}
  Connection named(Socket s) const;

  std::variant<asio::ip::tcp::acceptor, asio::local::stream_protocol::acceptor> acceptor_;
  std::string kind_;
  std::filesystem::path unlink_path_;
};

/// Dials host:port within `timeout`; the peer is named "tcp host:port".
asio::awaitable<std::expected<Connection, std::string>> dial_tcp(std::string host, std::uint16_t port,
                                                                 Family family, std::chrono::milliseconds timeout);
/// Connects to a Unix socket within `timeout`; the peer is named "<kind> <path>".
asio::awaitable<std::expected<Connection, std::string>> dial_unix(std::filesystem::path path, std::string kind,
                                                                  std::chrono::milliseconds timeout);

}  // namespace openkd::io
