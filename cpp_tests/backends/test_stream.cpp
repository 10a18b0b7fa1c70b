// The stream transports against real sockets and a pseudo-terminal pair.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "backends/paced_stream.hpp"
#include "backends/stream.hpp"
#include <sys/socket.h>
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

BOOST_AUTO_TEST_CASE(pseudo_terminal_opens_raw_through_termios_and_locked) {
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
  // The line is locked while this opener has it (remote's com: shares one open per device).
  auto second = open_serial_fd(slave, 115200);
  BOOST_TEST_REQUIRE(!second.has_value());
  BOOST_TEST(second.error().find("busy") != std::string::npos, second.error());
  ::close(*fd);
}

BOOST_AUTO_TEST_CASE(a_paced_stream_delivers_every_byte_no_faster_than_the_line) {
  // 9600 baud: 960 bytes a second. 208 bytes may run 16 ahead of the wire, so
  // the last write cannot finish before 192 byte times (200 ms) have passed.
  asio::io_context io;
  int sv[2];
  BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  auto paced = make_paced_stream(stream_from_fd(io.get_executor(), sv[0], "test"), 9600, io.get_executor());
  auto reader = stream_from_fd(io.get_executor(), sv[1], "reader");
  std::vector<std::uint8_t> sent(208), got;
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(i * 7);
  std::chrono::steady_clock::duration took{};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto t0 = std::chrono::steady_clock::now();
    auto ec = co_await paced->write_all(asio::buffer(sent));
    took = std::chrono::steady_clock::now() - t0;
    BOOST_TEST(!ec);
    std::uint8_t buf[256];
    while (got.size() < sent.size()) {
      auto [rec, n] = co_await reader->read_some(asio::buffer(buf));
      BOOST_TEST_REQUIRE(!rec);
      got.insert(got.end(), buf, buf + n);
    }
  }, asio::detached);
  io.run();
  BOOST_TEST(got == sent);
  BOOST_TEST(took >= std::chrono::milliseconds(200));
}

BOOST_AUTO_TEST_CASE(closing_a_paced_stream_ends_a_write_waiting_for_the_line) {
  asio::io_context io;
  int sv[2];
  BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  auto paced = make_paced_stream(stream_from_fd(io.get_executor(), sv[0], "test"), 50, io.get_executor());
  std::vector<std::uint8_t> lots(4096);  // 819 s at 50 baud
  boost::system::error_code result;
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    result = co_await paced->write_all(asio::buffer(lots));
    done = true;
  }, asio::detached);
  asio::steady_timer t(io, std::chrono::milliseconds(50));
  t.async_wait([&](auto) { paced.reset(); });  // the stream goes away mid-write
  io.run();
  BOOST_TEST(done);
  BOOST_TEST(!!result);
  ::close(sv[1]);
}
