// backends::KdnetTarget on real loopback UDP sockets against a debugger-role
// link::kdnet::Endpoint driven here, and the hostip=,port=,key=,bind= parser.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "backends/kdnet_target.hpp"
#include "core/wire/kdnet.hpp"

using namespace openkd;
namespace kn = link::kdnet;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t kHost = 0x7F000001, kTarget = 0x7F000002;

io::Fd udp_bound(kn::Address a) {
  io::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = htonl(a.ipv4);
  s.sin_port = htons(a.port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) return io::Fd();
  return fd;
}

/// The debugger's side, as kd's KdnetStream does it, on a plain socket.
struct Debugger {
  io::Fd fd;
  kn::Endpoint ep;
  Debugger(kn::Address self, kn::Address target, const std::string& key)
      : fd(udp_bound(self)), ep(config(self, target, key), [](std::span<std::uint8_t> out) {
          BOOST_REQUIRE(wire::kdnet::random_bytes(out.data(), out.size()));
        }) {
    ep.start(Clock::now());
  }
  static kn::EndpointConfig config(kn::Address self, kn::Address target, const std::string& key) {
    kn::EndpointConfig c;
    c.role = kn::Role::Debugger;
    c.key = *wire::kdnet::parse_key(key);
    c.self = self;
    c.peer = target;  // target=: SOLICIT it
    return c;
  }
  void pump() {
    std::uint8_t buf[65536];
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      ep.on_datagram(wire::ByteView(buf, std::size_t(n)), kn::Address{ntohl(from.sin_addr.s_addr), ntohs(from.sin_port)},
                     Clock::now());
    }
    if (auto d = ep.next_deadline(); d && Clock::now() >= *d) ep.on_timer(Clock::now());
    while (auto d = ep.take_datagram()) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = htonl(d->to.ipv4);
      to.sin_port = htons(d->to.port);
      (void)::sendto(fd.get(), d->bytes.data(), d->bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
  }
};

/// A free port on 127.0.0.2 (open() checks 127.0.0.1 has it free too), key 1.2.3.4.
backends::KdnetTargetSpec loopback_spec() {
  backends::KdnetTargetSpec spec;
  spec.port = 0;
  spec.bind = kTarget;
  spec.key = "1.2.3.4";
  return spec;
}

/// Runs both ends until `done` or 10 s.
template <class Done>
bool run(backends::KdnetTarget& t, Debugger& d, Done done) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    pollfd fds[2] = {{t.fd(), POLLIN, 0}, {d.fd.get(), POLLIN, 0}};
    ::poll(fds, 2, 10);
    t.receive(Clock::now());
    d.pump();
    if (done()) return true;
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(parse_kdnet_target_words) {
  auto s = backends::parse_kdnet_target("hostip=127.0.0.1,port=50000,key=1.2.3.4,bind=127.0.0.2", "--kdnet");
  BOOST_REQUIRE(s);
  BOOST_TEST(s->hostip == kHost);
  BOOST_TEST(*s->bind == kTarget);
  BOOST_TEST(*s->port == 50000);
  BOOST_TEST(s->key == "1.2.3.4");
  auto empty = backends::parse_kdnet_target("", "listen: kdnet:");
  BOOST_REQUIRE(empty);
  BOOST_TEST(!empty->port);
  BOOST_TEST(!empty->bind);
  BOOST_TEST(empty->key.empty());
  for (const char* bad : {"port=65536", "port=", "port=-1", "key=1.2.3.!", "hostip=host", "bind=1.2.3", "colour=red",
                          "port", "=1"}) {
    auto e = backends::parse_kdnet_target(bad, "--kdnet");
    BOOST_TEST_INFO(bad);
    BOOST_REQUIRE(!e);
    BOOST_TEST(e.error().rfind("--kdnet", 0) == 0);
    BOOST_TEST(e.error().find('\n') == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(kdnet_target_on_a_free_port_carries_frames_both_ways) {
  auto opened = backends::KdnetTarget::open(loopback_spec(), kHost);
  BOOST_REQUIRE_MESSAGE(opened, opened.error());
  auto& target = **opened;
  const std::uint16_t port = target.self().port;
  BOOST_TEST(port != 0);
  BOOST_TEST(target.self().ipv4 == kTarget);
  BOOST_TEST(!target.poke_target());  // no hostip: it waits for a SOLICIT
  Debugger dbg({kHost, port}, {kTarget, port}, "1.2.3.4");
  BOOST_REQUIRE(dbg.fd);  // the port open() picked is free on the debugger's address too

  bool started = false;
  BOOST_REQUIRE(run(target, dbg, [&] {
    while (auto e = target.take_event())
      if (std::holds_alternative<kn::SessionStarted>(*e)) started = true;
    return started;
  }));
  // Target to debugger: one frame per datagram, boundaries kept.
  const wire::Bytes a{0x30, 0x30, 0x30, 0x30, 1, 2, 3}, b(3000, 0x5A);
  target.send(a, Clock::now());
  target.send(b, Clock::now());
  std::vector<wire::Bytes> got;
  BOOST_REQUIRE(run(target, dbg, [&] {
    while (auto p = dbg.ep.take_payload()) got.push_back(*p);
    return got.size() >= 3;
  }));
  BOOST_REQUIRE(got.size() == 3u);
  // The session's first datagram is the pseudo packet naming the debugger's address.
  auto pseudo = wire::kdnet::parse_pseudo_packet(got[0]);
  BOOST_REQUIRE(pseudo);
  BOOST_TEST(*pseudo == kHost);
  BOOST_TEST((got[1] == a));
  BOOST_TEST((got[2] == b));
  // Debugger to target.
  const wire::Bytes c{0x62};
  BOOST_REQUIRE(dbg.ep.send_data(c, Clock::now()));
  std::optional<wire::Bytes> in;
  BOOST_REQUIRE(run(target, dbg, [&] { return (in = target.take_payload()).has_value(); }));
  BOOST_TEST((*in == c));
  BOOST_TEST(target.counters().auth_failures == 0u);
  BOOST_TEST(target.counters_line().find("0 authentication failures") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(kdnet_target_counts_a_wrong_key_and_starts_no_session) {
  auto opened = backends::KdnetTarget::open(loopback_spec(), kHost);
  BOOST_REQUIRE_MESSAGE(opened, opened.error());
  auto& target = **opened;
  Debugger dbg({kHost, target.self().port}, {kTarget, target.self().port}, "5.6.7.8");
  bool reported = false, started = false;
  run(target, dbg, [&] {
    while (auto e = target.take_event()) {
      if (std::holds_alternative<kn::AuthFailed>(*e)) reported = true;
      if (std::holds_alternative<kn::SessionStarted>(*e)) started = true;
    }
    return reported;
  });
  BOOST_TEST(reported);
  BOOST_TEST(!started);
  BOOST_TEST(target.counters().auth_failures >= 1u);
}

BOOST_AUTO_TEST_CASE(kdnet_target_open_errors_are_one_line) {
  backends::KdnetTargetSpec spec = loopback_spec();
  spec.key = "";
  auto no_key = backends::KdnetTarget::open(spec);
  BOOST_REQUIRE(!no_key);
  BOOST_TEST(no_key.error().find("key") != std::string::npos);
  // A port someone else holds: the error names the address.
  spec.key = "1.2.3.4";
  io::Fd holder = udp_bound({kTarget, 0});
  BOOST_REQUIRE(holder);
  sockaddr_in s{};
  socklen_t len = sizeof s;
  ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&s), &len);
  spec.port = ntohs(s.sin_port);
  auto busy = backends::KdnetTarget::open(spec);
  BOOST_REQUIRE(!busy);
  BOOST_TEST(busy.error().find("127.0.0.2:" + std::to_string(*spec.port)) != std::string::npos);
  BOOST_TEST(busy.error().find('\n') == std::string::npos);
}
