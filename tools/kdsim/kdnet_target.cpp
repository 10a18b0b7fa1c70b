#include "kdnet_target.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/link/kdnet_endpoint.hpp"
#include "core/wire/kdnet.hpp"

namespace openkd::kdsim {
namespace {

namespace kn = link::kdnet;
using Clock = std::chrono::steady_clock;

// Handshake bytes come from OpenSSL's CSPRNG; if it fails nothing predictable may replace it.
void csprng_fill(std::span<std::uint8_t> out) {
  if (!wire::kdnet::random_bytes(out.data(), out.size())) {
    std::fputs("kdsim: OpenSSL's RAND_bytes failed: cannot make KDNET handshake bytes\n", stderr);
    std::abort();
  }
}

sockaddr_in to_sockaddr(const kn::Address& a) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = htonl(a.ipv4);
  s.sin_port = htons(a.port);
  return s;
}

class Socket {
public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { if (fd_ >= 0) ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

private:
  int fd_;
};

void flush(int fd, kn::Endpoint& ep) {
  while (auto d = ep.take_datagram()) {
    sockaddr_in to = to_sockaddr(d->to);
    // A datagram the kernel refuses is lost like one the network drops: the link retransmits.
    (void)::sendto(fd, d->bytes.data(), d->bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
}

}  // namespace

int run_kdnet(const Options& o, sim::Simulator& s, int signal_fd) {
  Socket sock(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) {
    std::fprintf(stderr, "kdsim: cannot open a UDP socket: %s\n", std::strerror(errno));
    return 1;
  }
  const kn::Address self{o.kdnet_bind, o.kdnet_port};
  sockaddr_in bind_to = to_sockaddr(self);
  if (::bind(sock.fd(), reinterpret_cast<sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    std::fprintf(stderr, "kdsim: cannot bind UDP %s: %s\n", kn::to_string(self).c_str(), std::strerror(errno));
    return 1;
  }
  kn::EndpointConfig config;
  config.role = kn::Role::Target;
  config.key = *wire::kdnet::parse_key(o.kdnet_key);  // checked by parse_options
  config.self = self;
  if (o.kdnet_hostip) config.peer = kn::Address{o.kdnet_hostip, o.kdnet_port};
  kn::Endpoint ep(config, csprng_fill);
  ep.start(Clock::now());
  std::printf("kdsim: KDNET target on udp:%s, %s\n", kn::to_string(self).c_str(),
              config.peer ? ("POKEing the debugger at " + kn::to_string(*config.peer)).c_str()
                          : "waiting for a debugger to contact it (target=)");
  std::fflush(stdout);

  std::vector<std::uint8_t> buffer(65536);
  std::size_t console_seen = 0;
  bool idle = false;
  for (;;) {
    flush(sock.fd(), ep);
    int timeout = 0;
    if (idle) {
      timeout = 50;
      auto now = Clock::now();
      for (auto d : {s.next_deadline(), ep.next_deadline()}) {
        if (!d) continue;
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d - now).count();
        timeout = std::min(timeout, static_cast<int>(std::clamp<long long>(ms, 0, 50)));
      }
    }
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {sock.fd(), POLLIN, 0}};
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) break;  // SIGINT / SIGTERM
    auto now = Clock::now();
    // Every datagram waiting (bounded per round, so emulation keeps its turn).
    for (int k = 0; k < 512; ++k) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(sock.fd(), buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;  // EAGAIN (drained), or an ICMP error report: nothing to read
      ep.on_datagram(wire::ByteView(buffer.data(), static_cast<std::size_t>(n)),
                     kn::Address{ntohl(from.sin_addr.s_addr), ntohs(from.sin_port)}, now);
    }
    if (auto d = ep.next_deadline(); d && now >= *d) ep.on_timer(now);
    while (auto e = ep.take_event()) {
      if (auto* started = std::get_if<kn::SessionStarted>(&*e)) {
        // A new debugger replacing one is a reconnect: the stub starts a fresh link.
        if (started->restart) s.disconnected(now);
        std::fprintf(stderr, "kdsim: KDNET session with the debugger at %s%s\n", kn::to_string(started->peer).c_str(),
                     started->restart ? " (a new debugger)" : "");
      } else {
        std::fprintf(stderr, "kdsim: %s\n", kn::describe(*e).c_str());
      }
    }
    while (auto p = ep.take_payload()) s.feed(*p, now);
    auto progress = s.run_for(200'000, Clock::now());
    idle = progress.idle;
    for (auto& frame : s.take_output_frames(Clock::now())) ep.send_data(frame, Clock::now());
    flush(sock.fd(), ep);
    if (o.verbose && s.machine().console().size() != console_seen) {
      const std::string& c = s.machine().console();
      if (console_seen > c.size()) console_seen = 0;
      std::fwrite(c.data() + console_seen, 1, c.size() - console_seen, stderr);
      console_seen = c.size();
    }
    if (!s.failure().empty()) {
      std::fprintf(stderr, "kdsim: the machine stopped: %s\n", s.failure().c_str());
      return 1;
    }
  }
  const auto& c = ep.counters();
  std::fprintf(stderr,
               "kdsim: KDNET: %llu datagrams in, %llu out; %llu authentication failures, %llu malformed, %llu not "
               "KDNET, %llu replays dropped; %llu sessions\n",
               (unsigned long long)c.datagrams_received, (unsigned long long)c.datagrams_sent,
               (unsigned long long)c.auth_failures, (unsigned long long)c.malformed, (unsigned long long)c.not_kdnet,
               (unsigned long long)c.replays_dropped, (unsigned long long)c.sessions);
  std::fprintf(stderr, "kdsim: shutting down\n");
  return 0;
}

}  // namespace openkd::kdsim
