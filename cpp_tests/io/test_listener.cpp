// core/io: the listener's Unix-socket replace rules, TCP port 0, the
// non-blocking accept kdsim polls with, the dialers' deadlines, the pty pair in
// raw mode, and AsioStream over an accepted socket. Every test uses its own
// temp dir and ephemeral ports, and every wait has a deadline.
#define BOOST_TEST_MODULE io
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/io/byte_stream.hpp"
#include "core/io/listener.hpp"
#include "core/io/pty.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace openkd::io;
using namespace std::chrono_literals;
using local = asio::local::stream_protocol;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "openkd-io-XXXXXX").string();
    BOOST_TEST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Runs the io_context until `done` or a deadline, so a broken test fails instead of hanging.
void run_until(asio::io_context& io, const bool& done, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < end) {
    io.run_for(20ms);
    if (io.stopped()) io.restart();
  }
  BOOST_TEST_REQUIRE(done, "timed out");
}

bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(unix_socket_replaces_a_stale_socket_file) {
  TempDir dir;
  asio::io_context io;
  auto path = dir.path / "kd.sock";
  {
    // A socket file left behind: bound once, never removed, nobody listening.
    local::acceptor stale(io, local::endpoint(path.string()));
    stale.close();
  }
  BOOST_TEST_REQUIRE(fs::is_socket(fs::symlink_status(path)));
  auto l = Listener::listen_unix(io.get_executor(), path);
  BOOST_TEST_REQUIRE(l.has_value(), (l ? "" : l.error()));
  BOOST_TEST((*l)->is_unix());
  BOOST_TEST((*l)->loopback_only());
  BOOST_TEST(((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write)));
  (*l)->close();
  BOOST_TEST(!fs::exists(fs::symlink_status(path)), "close() removes the socket file");
}

BOOST_AUTO_TEST_CASE(unix_socket_refuses_a_live_socket_and_a_plain_file) {
  TempDir dir;
  asio::io_context io;
  auto path = dir.path / "kd.sock";
  auto first = Listener::listen_unix(io.get_executor(), path);
  BOOST_TEST_REQUIRE(first.has_value());
  auto second = Listener::listen_unix(io.get_executor(), path);
  BOOST_TEST_REQUIRE(!second.has_value());
  BOOST_TEST(second.error().find("in use") != std::string::npos, second.error());
  BOOST_TEST(fs::is_socket(fs::symlink_status(path)), "the live server's socket is left alone");

  auto file = dir.path / "notes.txt";
  std::ofstream(file) << "keep me\n";
  auto refused = Listener::listen_unix(io.get_executor(), file);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().find("exists and is not a socket") != std::string::npos, refused.error());
  BOOST_TEST(fs::is_regular_file(file));
  BOOST_TEST(fs::file_size(file) == 8u);

  auto too_long = Listener::listen_unix(io.get_executor(), dir.path / std::string(200, 'x'));
  BOOST_TEST_REQUIRE(!too_long.has_value());
  BOOST_TEST(too_long.error().find("too long") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unix_socket_accepts_for_poll_loops_and_names_the_peer) {
  TempDir dir;
  asio::io_context io;
  auto path = dir.path / "kd.sock";
  auto l = Listener::listen_unix(io.get_executor(), path, "npipe");
  BOOST_TEST_REQUIRE(l.has_value());
  auto none = (*l)->accept_now();
  BOOST_TEST_REQUIRE(!none.has_value());
  BOOST_TEST((none.error() == asio::error::would_block || none.error() == asio::error::try_again));

  local::socket client(io);
  client.connect(local::endpoint(path.string()));
  BOOST_TEST_REQUIRE(readable((*l)->native_handle(), 5000));
  auto c = (*l)->accept_now();
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->peer == "npipe pid " + std::to_string(::getpid()));
  int fd = release_fd(*c);
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  asio::write(client, asio::buffer("hi", 2));
  BOOST_TEST_REQUIRE(readable(fd, 5000));
  char buf[4] = {};
  BOOST_TEST(::read(fd, buf, sizeof buf) == 2);
  BOOST_TEST(std::string(buf, 2) == "hi");
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(tcp_port_zero_reports_the_bound_port_and_carries_bytes) {
  asio::io_context io;
  auto l = Listener::listen_tcp(io.get_executor(), TcpBind{"127.0.0.1", 0, 0, Family::v4});
  BOOST_TEST_REQUIRE(l.has_value(), (l ? "" : l.error()));
  std::uint16_t port = (*l)->port();
  BOOST_TEST(port != 0);
  BOOST_TEST((*l)->loopback_only());
  BOOST_TEST(!(*l)->is_unix());

  bool done = false;
  std::string server_peer, client_peer, got;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto dialed = co_await dial_tcp("127.0.0.1", port, Family::v4, 5s);
    BOOST_TEST_REQUIRE(dialed.has_value());
    client_peer = dialed->peer;
    auto accepted = co_await (*l)->accept();
    BOOST_TEST_REQUIRE(accepted.has_value());
    server_peer = accepted->peer;
    AsioStream<asio::ip::tcp::socket> server(std::move(std::get<asio::ip::tcp::socket>(accepted->socket)), server_peer);
    AsioStream<asio::ip::tcp::socket> client(std::move(std::get<asio::ip::tcp::socket>(dialed->socket)), client_peer);
    BOOST_TEST(!(co_await client.write_all(asio::buffer("ping", 4))));
    char buf[8];
    std::size_t total = 0;
    while (total < 4) {
      auto [ec, n] = co_await server.read_some(asio::buffer(buf + total, sizeof buf - total));
      if (ec) break;
      total += n;
    }
    got.assign(buf, total);
    BOOST_TEST(server.tls_exporter().empty());
    BOOST_TEST(!server.needs_keepalive_timeout());
    client.close();
    auto [ec, n] = co_await server.read_some(asio::buffer(buf));
    BOOST_TEST(ec == asio::error::eof);
    done = true;
  }, asio::detached);
  run_until(io, done);
  BOOST_TEST(got == "ping");
  BOOST_TEST(client_peer == "tcp 127.0.0.1:" + std::to_string(port));
  BOOST_TEST(server_peer.rfind("tcp 127.0.0.1:", 0) == 0, server_peer);

  // The same port again is refused with the port in the message.
  auto again = Listener::listen_tcp(io.get_executor(), TcpBind{"127.0.0.1", port, port, Family::v4});
  BOOST_TEST_REQUIRE(!again.has_value());
  BOOST_TEST(again.error().find("port " + std::to_string(port) + " is not available") != std::string::npos,
             again.error());
}

BOOST_AUTO_TEST_CASE(tcp_takes_the_first_free_port_of_a_range_and_refuses_bad_input) {
  asio::io_context io;
  auto busy = Listener::listen_tcp(io.get_executor(), TcpBind{"127.0.0.1", 0, 0, Family::v4});
  BOOST_TEST_REQUIRE(busy.has_value());
  std::uint16_t p = (*busy)->port();
  if (p < 65535) {
    auto next = Listener::listen_tcp(io.get_executor(), TcpBind{"127.0.0.1", p, std::uint16_t(p + 1), Family::v4});
    if (next) BOOST_TEST((*next)->port() == p + 1);  // p + 1 may be taken by someone else; then the error is fine
  }
  BOOST_TEST(!Listener::listen_tcp(io.get_executor(), TcpBind{"127.0.0.1", 10, 5, Family::v4}).has_value());
  BOOST_TEST(!Listener::listen_tcp(io.get_executor(), TcpBind{"no-such-host.invalid", 0, 0, Family::any}).has_value());
}

BOOST_AUTO_TEST_CASE(dialers_fail_with_a_message_not_a_crash) {
  TempDir dir;
  asio::io_context io;
  bool done = false;
  std::string missing, too_long;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto a = co_await dial_unix(dir.path / "nobody.sock", "pipe", 2s);
    BOOST_TEST_REQUIRE(!a.has_value());
    missing = a.error();
    auto b = co_await dial_unix(dir.path / std::string(200, 'y'), "pipe", 2s);
    BOOST_TEST_REQUIRE(!b.has_value());
    too_long = b.error();
    done = true;
  }, asio::detached);
  run_until(io, done);
  BOOST_TEST(missing.find("nobody.sock") != std::string::npos, missing);
  BOOST_TEST(too_long.find("too long") != std::string::npos, too_long);
}

BOOST_AUTO_TEST_CASE(pty_pair_is_raw_both_ways) {
  auto pty = open_pty_pair();
  BOOST_TEST_REQUIRE(pty.has_value(), (pty ? "" : pty.error()));
  BOOST_TEST(pty->slave_path.rfind("/dev/pts/", 0) == 0, pty->slave_path);
  BOOST_TEST((::fcntl(pty->master.get(), F_GETFL) & O_NONBLOCK) != 0);
  // Every byte value, Ctrl-C, Ctrl-D, CR and LF included, arrives untranslated
  // and is not echoed back.
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(char(b));
  auto pass = [](int from, int to, const std::string& bytes) {
    std::size_t sent = 0, got = 0;
    std::string out;
    auto end = std::chrono::steady_clock::now() + 5s;
    while (got < bytes.size() && std::chrono::steady_clock::now() < end) {
      if (sent < bytes.size()) {
        ssize_t n = ::write(from, bytes.data() + sent, bytes.size() - sent);
        if (n > 0) sent += std::size_t(n);
      }
      if (readable(to, 10)) {
        char buf[512];
        ssize_t n = ::read(to, buf, sizeof buf);
        if (n > 0) { out.append(buf, std::size_t(n)); got += std::size_t(n); }
      }
    }
    return out;
  };
  BOOST_TEST((pass(pty->master.get(), pty->slave.get(), all) == all));
  BOOST_TEST((pass(pty->slave.get(), pty->master.get(), all) == all));
  BOOST_TEST(!readable(pty->master.get(), 50), "no echo");
  termios t{};
  BOOST_TEST_REQUIRE(::tcgetattr(pty->slave.get(), &t) == 0);
  BOOST_TEST((t.c_lflag & (ICANON | ECHO | ISIG)) == 0u);
}
