#include "remote/transport.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include "remote/host_info.hpp"
#include "remote/tls.hpp"

namespace openkd::remote {

using asio::ip::tcp;
using local_socket = asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

namespace {

std::string tcp_peer(std::string_view kind, const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return fmt::format("{} ?", kind);
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  if (addr.is_v6()) return fmt::format("{} [{}]:{}", kind, addr.to_string(), ep.port());
  return fmt::format("{} {}:{}", kind, addr.to_string(), ep.port());
}

std::string unix_peer(std::string_view kind, local_socket::socket& s) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    return fmt::format("{} pid {}", kind, cred.pid);
  return std::string(kind);
}

}  // namespace

SocketListener::SocketListener(tcp::acceptor a, TransportSpec bound)
    : acceptor_(std::move(a)), bound_(std::move(bound)) {
  error_code ec;
  auto ep = std::get<tcp::acceptor>(acceptor_).local_endpoint(ec);
  loopback_only_ = !ec && ep.address().is_loopback();
}

SocketListener::SocketListener(local_socket::acceptor a, TransportSpec bound, std::filesystem::path p)
    : acceptor_(std::move(a)), bound_(std::move(bound)), unlink_path_(std::move(p)), loopback_only_(true) {}

SocketListener::~SocketListener() { close(); }

void SocketListener::close() {
  std::visit([](auto& a) { error_code ec; a.close(ec); }, acceptor_);
  if (!unlink_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(unlink_path_, ec);
    unlink_path_.clear();
  }
}

std::expected<std::unique_ptr<SocketListener>, std::string> SocketListener::open(asio::any_io_executor ex,
                                                                               const TransportSpec& spec) {
  TransportSpec bound = spec;
  if (spec.is_pipe()) {
    bound.pipe = expand_pipe_codes(spec.pipe, ::getpid(), ::gettid());
    auto path = pipe_path(bound.pipe);
    if (path.native().size() >= sizeof(sockaddr_un{}.sun_path))
      return std::unexpected(fmt::format("pipe path '{}' is too long for a Unix socket", path.string()));
    std::error_code fec;
    auto status = std::filesystem::symlink_status(path, fec);
    if (std::filesystem::exists(status) && status.type() != std::filesystem::file_type::socket)
      return std::unexpected(fmt::format("pipe path '{}' exists and is not a socket; refusing to replace it", path.string()));
    if (std::filesystem::exists(status)) {
      // A socket file outlives a killed server; if nobody answers on it, it is stale.
      local_socket::socket probe(ex);
      error_code ec;
      probe.connect(local_socket::endpoint(path.string()), ec);
      if (!ec) return std::unexpected(fmt::format("pipe '{}' is in use by another server ({})", bound.pipe, path.string()));
      std::filesystem::remove(path, fec);
    }
    local_socket::acceptor acc(ex);
    error_code ec;
    acc.open(local_socket(), ec);
    if (!ec) acc.bind(local_socket::endpoint(path.string()), ec);
    if (!ec) ::chmod(path.c_str(), 0600);  // the session is the user's own
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return std::unexpected(fmt::format("cannot listen on pipe '{}' ({}): {}", bound.pipe, path.string(), ec.message()));
    return std::unique_ptr<SocketListener>(new SocketListener(std::move(acc), bound, path));
  }

  asio::ip::address addr = spec.ipv6 ? asio::ip::address(asio::ip::address_v6::any())
                                     : asio::ip::address(asio::ip::address_v4::any());
  if (!spec.server.empty()) {
    error_code ec;
    addr = asio::ip::make_address(spec.server, ec);
    if (ec) return std::unexpected(fmt::format("bad bind address '{}': expected an IP address", spec.server));
  }
  std::string last_error;
  for (std::uint32_t port = spec.port_lo; port <= spec.port_hi; ++port) {
    tcp::acceptor acc(ex);
    tcp::endpoint ep(addr, static_cast<std::uint16_t>(port));
    error_code ec;
    acc.open(ep.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      last_error = ec.message();
      if (ec == asio::error::address_in_use || ec == asio::error::access_denied) continue;
      return std::unexpected(fmt::format("cannot listen on port {}: {}", port, ec.message()));
    }
    bound.port_lo = acc.local_endpoint().port();
    return std::unique_ptr<SocketListener>(new SocketListener(std::move(acc), bound));
  }
  if (spec.port_lo == spec.port_hi)
    return std::unexpected(fmt::format("port {} is not available ({}); pick another or give a range port=LOW:HIGH",
                                       spec.port_lo, last_error));
  return std::unexpected(fmt::format("no free port in {}:{} (every one is in use)", spec.port_lo, spec.port_hi));
}

asio::awaitable<std::expected<RawConnection, error_code>> SocketListener::accept() {
  if (auto* a = std::get_if<tcp::acceptor>(&acceptor_)) {
    auto [ec, s] = co_await a->async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::unexpected(ec);
    s.set_option(tcp::no_delay(true), ec);
    std::string peer = tcp_peer(kind_name(bound_.kind), s);
    co_return RawConnection{std::move(s), std::move(peer)};
  }
  auto& a = std::get<local_socket::acceptor>(acceptor_);
  auto [ec, s] = co_await a.async_accept(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::unexpected(ec);
  std::string peer = unix_peer(kind_name(bound_.kind), s);
  co_return RawConnection{std::move(s), std::move(peer)};
}

asio::awaitable<std::expected<RawConnection, std::string>> dial_tcp(std::string host, std::uint16_t port,
                                                                    bool ipv6, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(ipv6 ? tcp::v6() : tcp::v4(), host, std::to_string(port),
                                                        asio::as_tuple(asio::use_awaitable));
  if (rec) co_return std::unexpected(fmt::format("cannot resolve '{}': {}", host, rec.message()));
  tcp::socket s(ex);
  asio::steady_timer timer(ex, timeout);
  auto r = co_await (asio::async_connect(s, results, asio::as_tuple(asio::use_awaitable)) ||
                     timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (r.index() == 1) co_return std::unexpected(fmt::format("timed out connecting to {}:{}", host, port));
  auto [ec, ep] = std::get<0>(r);
  if (ec) co_return std::unexpected(fmt::format("cannot connect to {}:{}: {}", host, port, ec.message()));
  s.set_option(tcp::no_delay(true), ec);
  std::string peer = fmt::format("tcp {}:{}", host, port);
  co_return RawConnection{std::move(s), std::move(peer)};
}

asio::awaitable<std::expected<RawConnection, std::string>> dial_unix(std::filesystem::path path) {
  auto ex = co_await asio::this_coro::executor;
  local_socket::socket s(ex);
  auto [ec] = co_await s.async_connect(local_socket::endpoint(path.string()), asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::unexpected(fmt::format("cannot connect to pipe {}: {}", path.string(), ec.message()));
  co_return RawConnection{std::move(s), fmt::format("npipe {}", path.string())};
}

namespace {

template <class Socket>
asio::awaitable<Connected> tls_server(Socket s, std::string peer, std::shared_ptr<asio::ssl::context> tls,
                                      std::chrono::milliseconds timeout) {
  using Ssl = asio::ssl::stream<Socket>;
  auto stream = std::make_unique<AsioStream<Ssl>>(Ssl(std::move(s), *tls), std::move(peer));
  // The deadline is raced in this coroutine; on expiry the watchdog closes the
  // socket, which ends the handshake whatever cancellation it supports.
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto r = co_await (stream->stream().async_handshake(asio::ssl::stream_base::server,
                                                      asio::as_tuple(asio::use_awaitable)) ||
                     close_at_expiry(timer, *stream));
  if (r.index() == 1) co_return std::unexpected(std::string("TLS handshake timed out"));
  auto [ec] = std::get<0>(r);
  if (ec) co_return std::unexpected(fmt::format("TLS handshake failed: {}", ec.message()));
  co_return std::unique_ptr<ByteStream>(std::move(stream));
}

template <class Socket>
asio::awaitable<Connected> tls_client(Socket s, std::string peer, const TransportSpec& spec,
                                      std::shared_ptr<asio::ssl::context> tls, std::string host) {
  using Ssl = asio::ssl::stream<Socket>;
  auto stream = std::make_unique<AsioStream<Ssl>>(Ssl(std::move(s), *tls), std::move(peer));
  auto state = std::make_shared<TlsVerifyState>();
  set_client_verification(stream->stream(), spec, host, state);
  auto [ec] = co_await stream->stream().async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    if (!state->failure.empty()) co_return std::unexpected(state->failure + "; refusing to connect");
    co_return std::unexpected(fmt::format("TLS handshake failed: {}", ec.message()));
  }
  co_return std::unique_ptr<ByteStream>(std::move(stream));
}

}  // namespace

asio::awaitable<Connected> secure_as_server(RawConnection raw, std::shared_ptr<asio::ssl::context> tls,
                                            std::chrono::milliseconds handshake_timeout) {
  if (auto* t = std::get_if<tcp::socket>(&raw.socket)) {
    if (tls) co_return co_await tls_server(std::move(*t), std::move(raw.peer), tls, handshake_timeout);
    co_return std::make_unique<AsioStream<tcp::socket>>(std::move(*t), std::move(raw.peer));
  }
  auto& u = std::get<local_socket::socket>(raw.socket);
  if (tls) co_return co_await tls_server(std::move(u), std::move(raw.peer), tls, handshake_timeout);
  co_return std::make_unique<AsioStream<local_socket::socket>>(std::move(u), std::move(raw.peer));
}

asio::awaitable<Connected> secure_as_client(RawConnection raw, const TransportSpec& spec,
                                            std::shared_ptr<asio::ssl::context> tls, std::string host) {
  if (auto* t = std::get_if<tcp::socket>(&raw.socket)) {
    if (tls) co_return co_await tls_client(std::move(*t), std::move(raw.peer), spec, tls, host);
    co_return std::make_unique<AsioStream<tcp::socket>>(std::move(*t), std::move(raw.peer));
  }
  auto& u = std::get<local_socket::socket>(raw.socket);
  if (tls) co_return co_await tls_client(std::move(u), std::move(raw.peer), spec, tls, host);
  co_return std::make_unique<AsioStream<local_socket::socket>>(std::move(u), std::move(raw.peer));
}

}  // namespace openkd::remote
