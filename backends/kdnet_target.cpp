#include "backends/kdnet_target.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/wire/kdnet.hpp"

namespace openkd::backends {
namespace {

namespace kn = link::kdnet;

// Handshake bytes come from OpenSSL's CSPRNG; if it fails nothing predictable may replace it.
void csprng_fill(std::span<std::uint8_t> out) {
  if (!wire::kdnet::random_bytes(out.data(), out.size())) {
    std::fputs("openkd: OpenSSL's RAND_bytes failed: cannot make KDNET handshake bytes\n", stderr);
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

/// A UDP socket bound to `at`; errno kept on failure.
io::Fd bind_udp(const kn::Address& at) {
  io::Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_in s = to_sockaddr(at);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
    int e = errno;
    fd = io::Fd();
    errno = e;
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in s{};
  socklen_t len = sizeof s;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) != 0) return 0;
  return ntohs(s.sin_port);
}

}  // namespace

std::expected<KdnetTargetSpec, std::string> parse_kdnet_target(std::string_view text, std::string_view what) {
  KdnetTargetSpec spec;
  const std::string w(what);
  if (text.empty()) return spec;  // every word left to the caller's defaults
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item(text.substr(start, comma - start));
    start = comma + 1;
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return std::unexpected(w + " wants hostip=IP,port=N,key=W.X.Y.Z[,bind=IP], got '" + item + "'");
    std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    if (k == "hostip" || k == "bind") {
      auto ip = kn::parse_ipv4(v);
      if (!ip) return std::unexpected(w + " " + k + "= wants an IPv4 address, got '" + v + "'");
      if (k == "hostip") spec.hostip = *ip;
      else spec.bind = *ip;
    } else if (k == "port") {
      unsigned port = 0;
      bool ok = !v.empty() && v.size() <= 5;
      for (char c : v) {
        if (c < '0' || c > '9') ok = false;
        else port = port * 10 + unsigned(c - '0');
      }
      if (!ok || port > 65535) return std::unexpected(w + " port= wants 0..65535, got '" + v + "'");
      spec.port = static_cast<std::uint16_t>(port);
    } else if (k == "key") {
      auto key = wire::kdnet::parse_key(v);
      if (!key) return std::unexpected(w + " key=: " + key.error().message);
      spec.key = v;
    } else {
      return std::unexpected(w + ": unknown option '" + k + "' (known: hostip, port, key, bind)");
    }
  }
  return spec;
}

std::expected<std::unique_ptr<KdnetTarget>, std::string> KdnetTarget::open(const KdnetTargetSpec& spec,
                                                                             std::optional<std::uint32_t> also_free) {
  auto key = wire::kdnet::parse_key(spec.key);
  if (!key) return std::unexpected("KDNET key: " + key.error().message);
  const std::uint16_t port = spec.port.value_or(0);
  kn::Address self{spec.bind.value_or(0), port};
  io::Fd sock;
  // Port 0: the kernel picks one for us; the debugger on this machine binds
  // the same number on its own address, so that one must be free too (a
  // bounded number of tries: another process may hold it).
  for (int attempt = 0; attempt < (port == 0 ? 64 : 1); ++attempt) {
    sock = bind_udp(self);
    if (!sock) {
      return std::unexpected(fmt::format("cannot bind UDP {}: {}", kn::to_string(self), std::strerror(errno)));
    }
    self.port = bound_port(sock.get());
    if (port != 0 || !also_free) break;
    if (bind_udp(kn::Address{*also_free, self.port})) break;  // free there too (the probe closes at once)
    sock = io::Fd();
    self.port = 0;
  }
  if (!sock) return std::unexpected("no UDP port free on both the target's and the debugger's address");
  kn::EndpointConfig config;
  config.role = kn::Role::Target;
  config.key = *key;
  config.self = self;
  if (spec.hostip) config.peer = kn::Address{spec.hostip, self.port};
  return std::unique_ptr<KdnetTarget>(new KdnetTarget(std::move(sock), self, config));
}

KdnetTarget::KdnetTarget(io::Fd socket, kn::Address self, const kn::EndpointConfig& config)
    : socket_(std::move(socket)), self_(self), endpoint_(std::make_unique<kn::Endpoint>(config, csprng_fill)),
      buffer_(65536) {
  endpoint_->start(Clock::now());
  flush();
}

void KdnetTarget::receive(TimePoint now) {
  for (int k = 0; k < 512; ++k) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(socket_.get(), buffer_.data(), buffer_.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) break;  // EAGAIN (drained), or an ICMP error report: nothing to read
    endpoint_->on_datagram(wire::ByteView(buffer_.data(), static_cast<std::size_t>(n)),
                           kn::Address{ntohl(from.sin_addr.s_addr), ntohs(from.sin_port)}, now);
  }
  if (auto d = endpoint_->next_deadline(); d && now >= *d) endpoint_->on_timer(now);
  flush();
}

void KdnetTarget::send(wire::ByteView frame, TimePoint now) {
  endpoint_->send_data(frame, now);
  flush();
}

void KdnetTarget::flush() {
  while (auto d = endpoint_->take_datagram()) {
    sockaddr_in to = to_sockaddr(d->to);
    // A datagram the kernel refuses is lost like one the network drops: the link retransmits.
    (void)::sendto(socket_.get(), d->bytes.data(), d->bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
}

std::string KdnetTarget::counters_line() const {
  const auto& c = endpoint_->counters();
  return fmt::format(
      "KDNET: {} datagrams in, {} out; {} authentication failures, {} malformed, {} not KDNET, {} replays dropped; "
      "{} sessions",
      c.datagrams_received, c.datagrams_sent, c.auth_failures, c.malformed, c.not_kdnet, c.replays_dropped,
      c.sessions);
}

}  // namespace openkd::backends
