// The stream transports against real sockets and a pseudo-terminal pair.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "backends/stream.hpp"
#include "core/io/pty.hpp"

namespace asio = boost::asio;
using namespace openkd::backends;

namespace {
std::filesystem::path temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "openkd-test-XXXXXX").string();
  BOOST_TEST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}
}  // namespace

BOOST_AUTO_TEST_CASE(pipe_stream_carries_bytes_both_ways) {
  asio::io_context io;
  auto dir = temp_dir();
  auto path = (dir / "kd.sock").string();
  asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path));
  std::string got_by_server, got_by_client;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto sock = co_await acceptor.async_accept(asio::use_awaitable);
    char buf[16];
    std::size_t n = co_await asio::async_read(sock, asio::buffer(buf, 5), asio::use_awaitable);
    got_by_server.assign(buf, n);
    co_await asio::async_write(sock, asio::buffer("world", 5), asio::use_awaitable);
  }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    ConnectSpec spec;
    spec.kind = ConnectSpec::Kind::Pipe;
    spec.path = path;
    auto s = co_await async_open_stream(spec);
    BOOST_TEST_REQUIRE(s.has_value());
    auto ec = co_await (*s)->write_all(asio::buffer("hello", 5));
    BOOST_TEST(!ec);
    char buf[16];
    while (got_by_client.size() < 5) {
      auto [rec, n] = co_await (*s)->read_some(asio::buffer(buf));
      BOOST_TEST_REQUIRE(!rec);
      got_by_client.append(buf, n);
    }
  }, asio::detached);
  io.run();
  BOOST_TEST(got_by_server == "hello");
  BOOST_TEST(got_by_client == "world");
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(missing_pipe_is_a_one_line_error) {
  asio::io_context io;
  std::string error;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    ConnectSpec spec;
    spec.kind = ConnectSpec::Kind::Pipe;
    spec.path = "/nonexistent/openkd/kd.sock";
    auto s = co_await async_open_stream(spec);
    BOOST_TEST_REQUIRE(!s.has_value());
    error = s.error();
  }, asio::detached);
  io.run();
  BOOST_TEST(error.find("/nonexistent/openkd/kd.sock") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(pseudo_terminal_opens_raw_through_termios) {
  auto pty = openkd::io::open_pty_pair();
  BOOST_TEST_REQUIRE(pty.has_value(), (pty ? "" : pty.error()));
  int master = pty->master.get();
  std::string slave = pty->slave_path;
  auto fd = open_serial_fd(slave, 115200);
  BOOST_TEST_REQUIRE(fd.has_value(), (fd ? "" : fd.error()));
  // Raw mode: 0x03 (Ctrl-C) and 0xAA pass through untranslated.
  const unsigned char bytes[] = {0x30, 0x03, 0xAA, 0x0A, 0x62};
  BOOST_TEST(::write(master, bytes, sizeof bytes) == ssize_t(sizeof bytes));
  unsigned char got[8] = {};
  std::size_t total = 0;
  for (int tries = 0; tries < 1000 && total < sizeof bytes; ++tries) {
    ssize_t n = ::read(*fd, got + total, sizeof got - total);
    if (n > 0) total += std::size_t(n); else ::usleep(1000);
  }
  BOOST_TEST(total == sizeof bytes);
  BOOST_TEST(std::memcmp(got, bytes, sizeof bytes) == 0);
  BOOST_TEST(!open_serial_fd(slave, 12345).has_value());
  ::close(*fd);
}
