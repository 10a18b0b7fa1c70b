#include "core/io/listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

namespace openkd::io {

using asio::ip::tcp;
using local = asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

namespace {

std::string tcp_peer(const std::string& kind, const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return kind + " ?";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  if (addr.is_v6()) return fmt::format("{} [{}]:{}", kind, addr.to_string(), ep.port());
  return fmt::format("{} {}:{}", kind, addr.to_string(), ep.port());
}

std::string unix_peer(const std::string& kind, local::socket& s) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    return fmt::format("{} pid {}", kind, cred.pid);
  return kind;
}

// A bind address: an IP literal, or a name resolved for a passive socket.
std::expected<asio::ip::address, std::string> bind_address(asio::any_io_executor ex, const TcpBind& b) {
  if (b.host.empty())
    return b.family == Family::v6 ? asio::ip::address(asio::ip::address_v6::any())
                                  : asio::ip::address(asio::ip::address_v4::any());
  error_code ec;
  auto addr = asio::ip::make_address(b.host, ec);
  if (!ec) return addr;
  tcp::resolver resolver(ex);
  auto flags = tcp::resolver::passive | tcp::resolver::numeric_service;
  auto results = b.family == Family::any ? resolver.resolve(b.host, "0", flags, ec)
                 : resolver.resolve(b.family == Family::v6 ? tcp::v6() : tcp::v4(), b.host, "0", flags, ec);
  if (ec || results.empty())
    return std::unexpected(fmt::format("cannot resolve '{}': {}", b.host, ec ? ec.message() : "no address"));
  return results.begin()->endpoint().address();
}

}  // namespace

std::unique_ptr<ByteStream> make_stream(Connection c) {
  return std::visit([&](auto& s) -> std::unique_ptr<ByteStream> {
    return std::make_unique<AsioStream<std::decay_t<decltype(s)>>>(std::move(s), std::move(c.peer));
  }, c.socket);
}

int release_fd(Connection& c) {
  int fd = std::visit([](auto& s) -> int {
    error_code ec;
    int h = s.release(ec);
    return ec ? -1 : h;
  }, c.socket);
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

std::expected<std::unique_ptr<Listener>, std::string> Listener::listen_unix(asio::any_io_executor ex,
                                                                         const std::filesystem::path& path,
                                                                         std::string kind) {
  if (path.empty()) return std::unexpected(std::string("empty socket path"));
  if (path.native().size() >= sizeof(sockaddr_un{}.sun_path))
    return std::unexpected(fmt::format("path '{}' is too long for a Unix socket", path.string()));
  std::error_code fec;
  auto status = std::filesystem::symlink_status(path, fec);
  if (std::filesystem::exists(status)) {
    if (status.type() != std::filesystem::file_type::socket)
      return std::unexpected(fmt::format("'{}' exists and is not a socket; refusing to replace it", path.string()));
    // A socket file outlives a killed server; if nobody answers on it, it is
    // stale. Non-blocking: a full backlog also means someone is there.
    local::socket probe(ex);
    error_code ec;
    probe.open(local(), ec);
    if (!ec) probe.non_blocking(true, ec);
    if (!ec) probe.connect(local::endpoint(path.string()), ec);
    if (!ec || ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::in_progress)
      return std::unexpected(fmt::format("'{}' is in use by another server", path.string()));
    std::filesystem::remove(path, fec);
  }
  local::acceptor acc(ex);
  error_code ec;
  acc.open(local(), ec);
  if (!ec) acc.bind(local::endpoint(path.string()), ec);
  if (!ec) ::chmod(path.c_str(), 0600);  // the session is the user's own
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    bool bound = std::filesystem::is_socket(std::filesystem::symlink_status(path, fec));
    if (bound && acc.is_open()) std::filesystem::remove(path, fec);
    return std::unexpected(fmt::format("cannot listen on '{}': {}", path.string(), ec.message()));
  }
  return std::unique_ptr<Listener>(new Listener(std::move(acc), std::move(kind), path));
}

std::expected<std::unique_ptr<Listener>, std::string> Listener::listen_tcp(asio::any_io_executor ex, const TcpBind& b,
                                                                 std::string kind) {
  auto addr = bind_address(ex, b);
  if (!addr) return std::unexpected(addr.error());
  if (b.port_hi < b.port_lo) return std::unexpected(fmt::format("bad port range {}:{}", b.port_lo, b.port_hi));
  std::string last_error;
  for (std::uint32_t port = b.port_lo; port <= b.port_hi; ++port) {
    tcp::acceptor acc(ex);
    tcp::endpoint ep(*addr, static_cast<std::uint16_t>(port));
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
    return std::unique_ptr<Listener>(new Listener(std::move(acc), std::move(kind), {}));
  }
  if (b.port_lo == b.port_hi) return std::unexpected(fmt::format("port {} is not available ({})", b.port_lo, last_error));
  return std::unexpected(fmt::format("no free port in {}:{} (every one is in use)", b.port_lo, b.port_hi));
}

Listener::~Listener() { close(); }

void Listener::close() {
  std::visit([](auto& a) { error_code ec; a.close(ec); }, acceptor_);
  if (!unlink_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(unlink_path_, ec);
    unlink_path_.clear();
  }
}

int Listener::native_handle() {
  return std::visit([](auto& a) -> int { return a.is_open() ? a.native_handle() : -1; }, acceptor_);
}

std::uint16_t Listener::port() const {
  if (auto* a = std::get_if<tcp::acceptor>(&acceptor_)) {
    error_code ec;
    auto ep = a->local_endpoint(ec);
    return ec ? 0 : ep.port();
  }
  return 0;
}

bool Listener::loopback_only() const {
  if (auto* a = std::get_if<tcp::acceptor>(&acceptor_)) {
    error_code ec;
    auto ep = a->local_endpoint(ec);
    return !ec && ep.address().is_loopback();
  }
  return true;
}

Connection Listener::named(Socket s) const {
  if (auto* t = std::get_if<tcp::socket>(&s)) {
    error_code ec;
    t->set_option(tcp::no_delay(true), ec);
    std::string peer = tcp_peer(kind_, *t);
    return Connection{std::move(s), std::move(peer)};
  }
  std::string peer = unix_peer(kind_, std::get<local::socket>(s));
  return Connection{std::move(s), std::move(peer)};
}

asio::awaitable<std::expected<Connection, error_code>> Listener::accept() {
  if (auto* a = std::get_if<tcp::acceptor>(&acceptor_)) {
    auto [ec, s] = co_await a->async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return std::unexpected(ec);
    co_return named(std::move(s));
  }
  auto& a = std::get<local::acceptor>(acceptor_);
  auto [ec, s] = co_await a.async_accept(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::unexpected(ec);
  co_return named(std::move(s));
}

std::expected<Connection, error_code> Listener::accept_now() {
  return std::visit([this](auto& a) -> std::expected<Connection, error_code> {
    error_code ec;
    if (!a.non_blocking()) a.non_blocking(true, ec);
    if (ec) return std::unexpected(ec);
    auto s = a.accept(ec);
    if (ec) return std::unexpected(ec);
    return named(Socket(std::move(s)));
  }, acceptor_);
}

asio::awaitable<std::expected<Connection, std::string>> dial_tcp(std::string host, std::uint16_t port, Family family,
                                                                 std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  asio::steady_timer timer(ex, timeout);
  auto resolve = [&]() -> asio::awaitable<std::tuple<error_code, tcp::resolver::results_type>> {
    if (family == Family::any)
      co_return co_await resolver.async_resolve(host, std::to_string(port), asio::as_tuple(asio::use_awaitable));
    co_return co_await resolver.async_resolve(family == Family::v6 ? tcp::v6() : tcp::v4(), host,
                                              std::to_string(port), asio::as_tuple(asio::use_awaitable));
  };
  auto rr = co_await (resolve() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (rr.index() == 1) co_return std::unexpected(fmt::format("timed out resolving '{}'", host));
  auto [rec, results] = std::get<0>(rr);
  if (rec) co_return std::unexpected(fmt::format("cannot resolve '{}': {}", host, rec.message()));
  tcp::socket s(ex);
  auto r = co_await (asio::async_connect(s, results, asio::as_tuple(asio::use_awaitable)) ||
                     timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (r.index() == 1) co_return std::unexpected(fmt::format("timed out connecting to {}:{}", host, port));
  auto [ec, ep] = std::get<0>(r);
  (void)ep;
  if (ec) co_return std::unexpected(fmt::format("cannot connect to {}:{}: {}", host, port, ec.message()));
  s.set_option(tcp::no_delay(true), ec);
  co_return Connection{std::move(s), fmt::format("tcp {}:{}", host, port)};
}

asio::awaitable<std::expected<Connection, std::string>> dial_unix(std::filesystem::path path, std::string kind,
                                                                  std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  if (path.native().size() >= sizeof(sockaddr_un{}.sun_path))
    co_return std::unexpected(fmt::format("cannot connect to pipe {}: the path is too long for a Unix socket", path.string()));
  local::socket s(ex);
  asio::steady_timer timer(ex, timeout);
  auto r = co_await (s.async_connect(local::endpoint(path.string()), asio::as_tuple(asio::use_awaitable)) ||
                     timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (r.index() == 1) co_return std::unexpected(fmt::format("timed out connecting to pipe {}", path.string()));
  auto [ec] = std::get<0>(r);
  if (ec) co_return std::unexpected(fmt::format("cannot connect to pipe {}: {}", path.string(), ec.message()));
  co_return Connection{std::move(s), fmt::format("{} {}", kind, path.string())};
}

}  // namespace openkd::io
