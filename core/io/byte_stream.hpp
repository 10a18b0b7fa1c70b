// The one byte-stream seam of openkd: a connected, ordered byte stream, type
// erased so the KD host session (core/debugger), the -k transports (backends)
// and remoting (remote) run the same code over a Unix socket, TCP, TLS, a
// serial line, a pty or a remoting COM channel. docs/architecture.md section 1.
#pragma once
#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

struct ssl_st;  // OpenSSL's SSL; only a TLS stream's exporter touches it (tls_exporter.cpp)

namespace openkd::io {

namespace asio = boost::asio;
using boost::system::error_code;
using ReadResult = std::tuple<error_code, std::size_t>;

/// RFC 5705 keying material (32 bytes, openkd's label) for binding remoting's
/// authentication to a TLS session; empty when the export fails.
std::vector<std::uint8_t> export_tls_keying_material(ssl_st* ssl);

/// What a datagram transport's read_some returns (once) when its peer started
/// a new session on the same transport (a KDNET target that booted again):
/// the stream stays open and the host starts a fresh link.
enum class StreamErrc { new_session = 1 };
const boost::system::error_category& stream_category();
inline error_code make_error_code(StreamErrc e) { return {static_cast<int>(e), stream_category()}; }

/// One line for the user about the transport itself; `connection` lines are
/// shown without verbose output (a restart), the others with it.
using TransportNotice = std::function<void(std::string line, bool connection)>;

class ByteStream {
public:
  virtual ~ByteStream() = default;
  /// Some bytes (at least one), or an error; EOF comes back as asio::error::eof.
  virtual asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) = 0;
  virtual asio::awaitable<error_code> write_all(asio::const_buffer buf) = 0;
  /// Closes at once; pending reads and writes finish with an error.
  virtual void close() = 0;
  /// How messages name the other end: "pipe /tmp/x", "tcp 127.0.0.1:63141",
  /// "serial /dev/ttyS0 @115200", "npipe pid 1234".
  virtual std::string peer() const = 0;
  /// 32 bytes exported from the TLS session (RFC 5705); empty without TLS.
  virtual std::vector<std::uint8_t> tls_exporter() const { return {}; }
  /// A serial line has no end-of-connection: silence is how a dead peer shows.
  virtual bool needs_keepalive_timeout() const { return false; }
  /// A datagram transport (KDNET): one read_some returns one payload, one
  /// write_all sends one frame, so writes must not be coalesced.
  virtual bool preserves_boundaries() const { return false; }
  /// Where the transport's own notices go (authentication failures, a peer's
  /// restart); set by the runner right after opening. Plain streams have none.
  virtual void set_notice_sink(TransportNotice) {}
  /// One line of the transport's counters when it keeps any ("" otherwise).
  virtual std::string statistics() const { return {}; }
};

/// The adapter for every Asio stream: sockets, posix::stream_descriptor (serial
/// lines, ptys, socketpair ends) and asio::ssl::stream over either socket.
template <class Stream>
class AsioStream final : public ByteStream {
public:
  AsioStream(Stream s, std::string peer, bool needs_keepalive = false)
      : s_(std::move(s)), peer_(std::move(peer)), needs_keepalive_(needs_keepalive) {}

  asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) override {
    co_return co_await s_.async_read_some(buf, asio::as_tuple(asio::use_awaitable));
  }
  asio::awaitable<error_code> write_all(asio::const_buffer buf) override {
    auto [ec, n] = co_await asio::async_write(s_, buf, asio::as_tuple(asio::use_awaitable));
    (void)n;
    co_return ec;
  }
  void close() override {
    error_code ec;
    auto& lowest = s_.lowest_layer();
    if constexpr (requires { lowest.shutdown(asio::socket_base::shutdown_both, ec); })
      lowest.shutdown(asio::socket_base::shutdown_both, ec);
    lowest.close(ec);
  }
  std::string peer() const override { return peer_; }
  std::vector<std::uint8_t> tls_exporter() const override {
    if constexpr (requires(Stream& s) { s.native_handle(); s.next_layer(); }) {
      return export_tls_keying_material(const_cast<Stream&>(s_).native_handle());
    } else {
      return {};
    }
  }
  bool needs_keepalive_timeout() const override { return needs_keepalive_; }
  Stream& stream() { return s_; }

private:
  Stream s_;
  std::string peer_;
  bool needs_keepalive_;
};

/// The watchdog half of a deadline race, `co_await (io() || close_at_expiry(timer, stream))`
/// (the shape of Boost.Asio's C++20 timeout examples): when the timer expires it
/// closes the stream, which ends the I/O whether or not the transport supports
/// per-operation cancellation. Both halves run inside the awaiting coroutine's
/// `||`, which returns only after both have finished, so nothing here can
/// outlive the stream or the timer.
inline asio::awaitable<void> close_at_expiry(asio::steady_timer& timer, ByteStream& stream) {
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!ec) stream.close();
}

}  // namespace openkd::io

template <>
struct boost::system::is_error_code_enum<openkd::io::StreamErrc> : std::true_type {};
