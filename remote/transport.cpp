#include "remote/transport.hpp"

#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include "remote/host_info.hpp"
#include "remote/tls.hpp"

namespace openkd::remote {

using asio::ip::tcp;
using local_socket = asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

std::expected<std::unique_ptr<SocketListener>, std::string> SocketListener::open(asio::any_io_executor ex,
                                                                               const TransportSpec& spec) {
  TransportSpec bound = spec;
  std::string kind(kind_name(spec.kind));
  if (spec.is_pipe()) {
    bound.pipe = expand_pipe_codes(spec.pipe, ::getpid(), ::gettid());
    auto l = io::Listener::listen_unix(ex, pipe_path(bound.pipe), kind);
    if (!l) return std::unexpected(fmt::format("pipe '{}': {}", bound.pipe, l.error()));
    return std::unique_ptr<SocketListener>(new SocketListener(std::move(*l), bound));
  }
  io::TcpBind bind{spec.server, static_cast<std::uint16_t>(spec.port_lo), static_cast<std::uint16_t>(spec.port_hi),
                   spec.ipv6 ? io::Family::v6 : io::Family::v4};
  auto l = io::Listener::listen_tcp(ex, bind, kind);
  if (!l) {
    if (spec.port_lo == spec.port_hi && l.error().find("is not available") != std::string::npos)
      return std::unexpected(l.error() + "; pick another or give a range port=LOW:HIGH");
    return std::unexpected(l.error());
  }
  bound.port_lo = (*l)->port();
  return std::unique_ptr<SocketListener>(new SocketListener(std::move(*l), bound));
}

namespace {

template <class Socket>
asio::awaitable<Connected> tls_server(Socket s, std::string peer, std::shared_ptr<asio::ssl::context> tls,
                                      std::chrono::milliseconds timeout) {
  using Ssl = asio::ssl::stream<Socket>;
  auto stream = std::make_unique<io::AsioStream<Ssl>>(Ssl(std::move(s), *tls), std::move(peer));
  // The deadline is raced in this coroutine; on expiry the watchdog closes the
  // socket, which ends the handshake whatever cancellation it supports.
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto r = co_await (stream->stream().async_handshake(asio::ssl::stream_base::server,
                                                      asio::as_tuple(asio::use_awaitable)) ||
                     io::close_at_expiry(timer, *stream));
  if (r.index() == 1) co_return std::unexpected(std::string("TLS handshake timed out"));
  auto [ec] = std::get<0>(r);
  if (ec) co_return std::unexpected(fmt::format("TLS handshake failed: {}", ec.message()));
  co_return std::unique_ptr<io::ByteStream>(std::move(stream));
}

template <class Socket>
asio::awaitable<Connected> tls_client(Socket s, std::string peer, const TransportSpec& spec,
                                      std::shared_ptr<asio::ssl::context> tls, std::string host) {
  using Ssl = asio::ssl::stream<Socket>;
  auto stream = std::make_unique<io::AsioStream<Ssl>>(Ssl(std::move(s), *tls), std::move(peer));
  auto state = std::make_shared<TlsVerifyState>();
  set_client_verification(stream->stream(), spec, host, state);
  auto [ec] = co_await stream->stream().async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    if (!state->failure.empty()) co_return std::unexpected(state->failure + "; refusing to connect");
    co_return std::unexpected(fmt::format("TLS handshake failed: {}", ec.message()));
  }
  co_return std::unique_ptr<io::ByteStream>(std::move(stream));
}

}  // namespace

asio::awaitable<Connected> secure_as_server(io::Connection raw, std::shared_ptr<asio::ssl::context> tls,
                                            std::chrono::milliseconds handshake_timeout) {
  if (!tls) co_return io::make_stream(std::move(raw));
  if (auto* t = std::get_if<tcp::socket>(&raw.socket))
    co_return co_await tls_server(std::move(*t), std::move(raw.peer), tls, handshake_timeout);
  co_return co_await tls_server(std::move(std::get<local_socket::socket>(raw.socket)), std::move(raw.peer), tls,
                                handshake_timeout);
}

asio::awaitable<Connected> secure_as_client(io::Connection raw, const TransportSpec& spec,
                                            std::shared_ptr<asio::ssl::context> tls, std::string host) {
  if (!tls) co_return io::make_stream(std::move(raw));
  if (auto* t = std::get_if<tcp::socket>(&raw.socket))
    co_return co_await tls_client(std::move(*t), std::move(raw.peer), spec, tls, host);
  co_return co_await tls_client(std::move(std::get<local_socket::socket>(raw.socket)), std::move(raw.peer), spec, tls,
                                host);
}

}  // namespace openkd::remote
