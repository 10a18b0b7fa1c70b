// One seam over every transport: a connected byte stream, type-erased so the
// session code is the same for tcp, Unix sockets, TLS and serial channels.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>

#include "remote/frame.hpp"

namespace openkd::remote {

namespace asio = boost::asio;
using boost::system::error_code;
using ReadResult = std::tuple<error_code, std::size_t>;

/// RFC 5705 keying material with openkd's label, for binding auth to a TLS session.
Bytes export_tls_keying_material(SSL* ssl);

class ByteStream {
public:
  virtual ~ByteStream() = default;
  /// Some bytes, or an error (EOF included).
  virtual asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) = 0;
  virtual asio::awaitable<error_code> write_all(asio::const_buffer buf) = 0;
  /// Closes at once; pending reads and writes finish with an error.
  virtual void close() = 0;
  /// How the session names the other end, e.g. "tcp 127.0.0.1:63141".
  virtual std::string peer() const = 0;
  /// 32 bytes exported from the TLS session (RFC 5705) for the auth binding; empty without TLS.
  virtual Bytes tls_exporter() const { return {}; }
  /// A serial line has no end-of-connection: silence is how a dead peer shows.
  virtual bool needs_keepalive_timeout() const { return false; }
};

template <class Stream>
class AsioStream final : public ByteStream {
public:
  AsioStream(Stream s, std::string peer) : s_(std::move(s)), peer_(std::move(peer)) {}

  asio::awaitable<ReadResult> read_some(asio::mutable_buffer buf) override {
    co_return co_await s_.async_read_some(buf, asio::as_tuple(asio::use_awaitable));
  }
  asio::awaitable<error_code> write_all(asio::const_buffer buf) override {
    auto [ec, n] = co_await asio::async_write(s_, buf, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }
  void close() override {
    error_code ec;
    s_.lowest_layer().shutdown(asio::socket_base::shutdown_both, ec);
    s_.lowest_layer().close(ec);
  }
  std::string peer() const override { return peer_; }
  Bytes tls_exporter() const override {
    if constexpr (requires(Stream& s) { s.native_handle(); s.next_layer(); }) {
      return export_tls_keying_material(const_cast<Stream&>(s_).native_handle());
    } else {
      return {};
    }
  }
  Stream& stream() { return s_; }

private:
  Stream s_;
  std::string peer_;
};

/// The watchdog half of a deadline race, `co_await (io() || close_at_expiry(timer, stream))`
/// (the shape of Boost.Asio's C++20 timeout examples): when the timer expires it
/// closes the stream, which ends the I/O whether or not the transport supports
/// per-operation cancellation. Both halves run inside the awaiting coroutine's
/// `||`, which returns only after both have finished, so nothing here can
/// outlive the stream or the timer (issue 9: the free-standing timer handlers
/// this replaces held raw pointers a racing close had already freed).
inline asio::awaitable<void> close_at_expiry(asio::steady_timer& timer, ByteStream& stream) {
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!ec) stream.close();
}

}  // namespace openkd::remote
