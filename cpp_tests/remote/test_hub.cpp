// The session hub with real clients (run_client on threads, talking through
// pipes) over a Unix socket in a private temp dir and tcp on a free port.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <cstring>
#include <fmt/format.h>
#include <functional>

#include "remote/frame.hpp"
#include "remote/host_info.hpp"
#include "remote/remote.hpp"

using namespace openkd::remote;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/openkd-remote-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// A fake engine: "out: LINE" for every command, q ends the session.
struct Engine {
  explicit Engine(HubOptions options = {}) : hub(with_log(std::move(options))) {
    thread = std::thread([this] {
      while (!hub.is_shut_down()) {
        auto c = hub.next_command(20ms);
        if (!c) continue;
        if (c->line == "q") {
          hub.broadcast_output("quit:\n");
          hub.shutdown("q issued by " + c->issuer);
          return;
        }
        hub.broadcast_output("out: " + c->line + "\n");
        hub.set_prompt("kd> ");
      }
    });
  }
  ~Engine() {
    hub.shutdown("test over");
    thread.join();
  }
  HubOptions with_log(HubOptions o) {
    o.register_servers = false;
    o.local_output = [this](std::string_view line) {
      std::lock_guard g(log_mutex);
      log += std::string(line);
    };
    return o;
  }
  std::string local_log() {
    std::lock_guard g(log_mutex);
    return log;
  }
  std::mutex log_mutex;
  std::string log;
  Hub hub;
  std::thread thread;
};

/// One run_client on its own thread, fed and read through pipes.
struct TestClient {
  explicit TestClient(std::string transport) {
    int in[2], out[2], err[2];
    BOOST_REQUIRE(::pipe(in) == 0 && ::pipe(out) == 0 && ::pipe(err) == 0);
    to_client = in[1];
    ClientOptions o;
    o.input_fd = in[0];
    o.output_fd = out[1];
    o.error_fd = err[1];
    o.terminal = false;
    o.handle_sigint = false;
    o.identity = "TESTHOST\\tester";
    runner = std::thread([this, transport, o, in0 = in[0], out1 = out[1], err1 = err[1]] {
      status = run_client(std::string_view(transport), o);
      ::close(in0);
      ::close(out1);
      ::close(err1);
      done = true;
    });
    readers.emplace_back([this, fd = out[0]] { drain(fd, output); });
    readers.emplace_back([this, fd = err[0]] { drain(fd, errors); });
  }
  ~TestClient() {
    close_input();
    if (runner.joinable()) runner.join();
    for (auto& r : readers) r.join();
  }
  void drain(int fd, std::string& into) {
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard g(mutex);
      into.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
  }
  void send(const std::string& line) { (void)!::write(to_client, (line + "\n").data(), line.size() + 1); }
  void close_input() {
    if (to_client >= 0) ::close(to_client);
    to_client = -1;
  }
  int wait() {
    runner.join();
    for (auto& r : readers) r.join();
    readers.clear();
    return status;
  }
  std::string out() {
    std::lock_guard g(mutex);
    return output;
  }
  std::string err() {
    std::lock_guard g(mutex);
    return errors;
  }
  /// Waits (bounded, as a hang guard, not a timing assertion) until the output holds text.
  bool wait_for_output(const std::string& text, std::chrono::seconds limit = 60s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (out().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  int to_client = -1;
  std::thread runner;
  std::vector<std::thread> readers;
  std::mutex mutex;
  std::string output, errors;
  std::atomic<int> status{-1};
  std::atomic<bool> done{false};
};

bool wait_until(const std::function<bool()>& f, std::chrono::seconds limit = 60s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

std::vector<std::string> session_lines(const std::string& transcript) {
  std::vector<std::string> out;
  std::istringstream in(transcript);
  std::string line;
  while (std::getline(in, line))
    if (line.find(" issued: ") != std::string::npos || line.rfind("out: ", 0) == 0) out.push_back(line);
  return out;
}

std::string tcp_client_string(const ServerInfo& info, const std::string& extra = "") {
  std::smatch m;
  std::regex_search(info.remote, m, std::regex("Port=(\\d+)"));
  return "tcp:server=127.0.0.1,port=" + m[1].str() + extra;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hub)

BOOST_AUTO_TEST_CASE(many_clients_see_every_command_in_one_order) {
  TempDir dir;
  Engine engine;
  auto info = engine.hub.start_server("npipe:pipe=" + (dir.path / "s").string());
  BOOST_TEST_REQUIRE(info.has_value(), (info ? "" : info.error().message));
  constexpr int clients = 16, per_client = 8;
  std::vector<std::unique_ptr<TestClient>> c;
  for (int i = 0; i < clients; ++i) c.push_back(std::make_unique<TestClient>("npipe:pipe=" + (dir.path / "s").string()));
  BOOST_TEST_REQUIRE(wait_until([&] { return engine.hub.client_count() == clients; }));
  for (int k = 0; k < per_client; ++k)
    for (int i = 0; i < clients; ++i) c[i]->send(fmt::format("cmd-{}-{}", i, k));
  for (auto& cl : c) BOOST_TEST_REQUIRE(wait_until([&] { return session_lines(cl->out()).size() == 2u * clients * per_client; }));

  auto reference = session_lines(c[0]->out());
  for (std::size_t j = 0; j + 1 < reference.size(); j += 2) {
    // Every command is followed by its own output, never interleaved.
    auto issued = reference[j].substr(reference[j].find(" issued: ") + 9);
    BOOST_TEST(reference[j + 1] == "out: " + issued);
  }
  for (auto& cl : c) BOOST_TEST((session_lines(cl->out()) == reference));
  // Each client's own commands ran in the order it sent them.
  for (int i = 0; i < clients; ++i) {
    int next = 0;
    for (auto& l : reference)
      if (l.rfind(fmt::format("out: cmd-{}-", i), 0) == 0) BOOST_TEST(l == fmt::format("out: cmd-{}-{}", i, next++));
    BOOST_TEST(next == per_client);
  }

  c[3]->send("q");
  for (auto& cl : c) {
    BOOST_TEST(cl->wait() == 0);
    BOOST_TEST(cl->out().find("openkd: the debugging session has ended: q issued by TESTHOST\\tester") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(joins_leaves_listing_and_remote_exit) {
  TempDir dir;
  Engine engine;
  auto info = engine.hub.start_server("npipe:pipe=" + (dir.path / "p").string());
  BOOST_TEST_REQUIRE(info.has_value());
  BOOST_TEST(Hub::started_message(*info).rfind(
                 "Server started.  Client can connect with any of these command lines\n0: kd -remote npipe:Pipe=", 0) == 0);
  TestClient a("npipe:pipe=" + (dir.path / "p").string());
  BOOST_TEST_REQUIRE(a.wait_for_output("connected at"));
  TestClient b("npipe:pipe=" + (dir.path / "p").string());
  BOOST_TEST_REQUIRE(wait_until([&] { return engine.hub.client_count() == 2; }));
  BOOST_TEST_REQUIRE(wait_until([&] {
    auto o = a.out();
    auto first = o.find("connected at");
    return first != std::string::npos && o.find("connected at", first + 1) != std::string::npos;
  }));
  auto clients = engine.hub.list_clients();
  BOOST_TEST_REQUIRE(clients.size() == 2u);
  BOOST_TEST(std::regex_match(clients[0], std::regex(R"(TESTHOST\\tester \(npipe pid \d+\), last active \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})")), clients[0]);

  b.send(".remote_exit");
  BOOST_TEST(b.wait() == 0);
  BOOST_TEST(a.wait_for_output("disconnected at"));
  BOOST_TEST(engine.local_log().find("disconnected at") != std::string::npos);
  BOOST_TEST(engine.local_log().find("connected at") != std::string::npos);
  BOOST_TEST(engine.local_log().back() == '\n');  // whole lines, ready to print
  a.send("still here");
  BOOST_TEST(a.wait_for_output("out: still here"));
  BOOST_TEST(engine.hub.client_count() == 1u);
}

BOOST_AUTO_TEST_CASE(servers_listing_and_endsrv) {
  TempDir dir;
  Engine engine;
  auto s0 = engine.hub.start_server("tcp:port=0,password=pw");
  auto s1 = engine.hub.start_server("npipe:pipe=" + (dir.path / "q").string());
  BOOST_TEST_REQUIRE((s0 && s1));
  BOOST_TEST(s0->index == 0);
  BOOST_TEST(s1->index == 1);
  auto list = engine.hub.list_servers();
  BOOST_TEST_REQUIRE(list.size() == 2u);
  BOOST_TEST(std::regex_match(list[0], std::regex(R"(0 - Debugger Server - tcp:Port=\d+,Server=.+,Password=\*)")), list[0]);
  BOOST_TEST(list[1] == "1 - Debugger Server - npipe:Pipe=" + (dir.path / "q").string() + ",Server=" + host_name());

  TestClient stays("npipe:pipe=" + (dir.path / "q").string());
  BOOST_TEST_REQUIRE(wait_until([&] { return engine.hub.client_count() == 1; }));
  BOOST_TEST(engine.hub.end_server(1).has_value());
  BOOST_TEST(!engine.hub.end_server(7).has_value());
  BOOST_TEST(engine.hub.list_servers()[1].find("<Disabled, exit pending>") != std::string::npos);
  TestClient refused("npipe:pipe=" + (dir.path / "q").string());
  BOOST_TEST(refused.wait() == 1);
  stays.send("after endsrv");
  BOOST_TEST(stays.wait_for_output("out: after endsrv"));
}

BOOST_AUTO_TEST_CASE(password_right_wrong_missing) {
  Engine engine;
  auto info = engine.hub.start_server("tcp:port=0,bind=127.0.0.1,password=Right");
  BOOST_TEST_REQUIRE(info.has_value());
  BOOST_TEST(info->warning.empty());  // loopback only
  {
    TestClient wrong(tcp_client_string(*info, ",password=right"));
    BOOST_TEST(wrong.wait() == 1);
    // The hint first (the password was given as text), then the verdict.
    BOOST_TEST(wrong.err() == std::string(password_hint) + "\nopenkd: password rejected by server\n");
  }
  BOOST_TEST(engine.local_log().find("rejected TESTHOST\\tester (tcp 127.0.0.1:") != std::string::npos);
  {
    TestClient none(tcp_client_string(*info));
    BOOST_TEST(none.wait() == 1);
    BOOST_TEST(none.err().find("requires a password") != std::string::npos);
  }
  TestClient right(tcp_client_string(*info, ",password=Right"));
  right.send(".echo hi");
  BOOST_TEST(right.wait_for_output("out: .echo hi"));
  BOOST_TEST(engine.hub.client_count() == 1u);
}

BOOST_AUTO_TEST_CASE(malformed_frame_drops_only_that_connection) {
  TempDir dir;
  Engine engine;
  auto path = dir.path / "m";
  BOOST_TEST_REQUIRE(engine.hub.start_server("npipe:pipe=" + path.string()).has_value());
  TestClient good("npipe:pipe=" + path.string());
  BOOST_TEST_REQUIRE(wait_until([&] { return engine.hub.client_count() == 1; }));

  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  BOOST_TEST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const char junk[] = "GET / HTTP/1.0\r\n\r\n";
  BOOST_TEST(::write(fd, junk, sizeof junk - 1) > 0);
  std::string reply;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  BOOST_TEST(reply.find("not an openkd remote client") != std::string::npos);
  good.send("after junk");
  BOOST_TEST(good.wait_for_output("out: after junk"));
}

BOOST_AUTO_TEST_CASE(slow_client_is_dropped_not_waited_for) {
  TempDir dir;
  HubOptions o;
  o.client_queue_limit = 256 * 1024;
  Engine engine(o);
  auto path = dir.path / "slow";
  BOOST_TEST_REQUIRE(engine.hub.start_server("npipe:pipe=" + path.string()).has_value());
  // A raw peer that says hello and then never reads.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  BOOST_TEST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  Bytes hello = encode_frame(ClientHello{protocol_version, "X\\stuck"});
  BOOST_TEST(::write(fd, hello.data(), hello.size()) == static_cast<ssize_t>(hello.size()));
  BOOST_TEST_REQUIRE(wait_until([&] { return engine.hub.client_count() == 1; }));
  TestClient fast("npipe:pipe=" + path.string());
  BOOST_TEST_REQUIRE(wait_until([&] { return engine.hub.client_count() == 2; }));
  // 3 MiB at once: over the 256 KiB limit for everyone for a moment (a burst
  // must not drop a client that keeps up), under the 16x hard cap.
  std::string blob(16 * 1024, 'z');
  for (int i = 0; i < 192; ++i) engine.hub.broadcast_output(blob);
  fast.send("done");
  BOOST_TEST(fast.wait_for_output("out: done"));
  BOOST_TEST(wait_until([&] { return engine.hub.client_count() == 1; }));
  BOOST_TEST(engine.local_log().find("disconnected X\\stuck") != std::string::npos);
  BOOST_TEST(engine.local_log().find("disconnected TESTHOST") == std::string::npos);
  BOOST_TEST(fast.out().find(std::string(1000, 'z')) != std::string::npos);
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(calls_after_shutdown_fail_cleanly) {
  HubOptions o;
  o.register_servers = false;
  Hub hub(o);
  TempDir dir;
  BOOST_TEST_REQUIRE(hub.start_server("npipe:pipe=" + (dir.path / "z").string()).has_value());
  hub.shutdown("done");
  BOOST_TEST(hub.is_shut_down());
  BOOST_TEST(!hub.start_server("tcp:port=0").has_value());
  BOOST_TEST(!hub.end_server(0).has_value());
  BOOST_TEST(!hub.next_command(1ms).has_value());
  hub.broadcast_output("nobody listens");  // harmless
  hub.shutdown("again");                   // idempotent
  BOOST_TEST(!std::filesystem::exists(dir.path / "z"));  // the socket file is gone
}

BOOST_AUTO_TEST_SUITE_END()
