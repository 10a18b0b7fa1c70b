// bench_pingpong: the physical limit a KD exchange is measured against in
// `make bench` (issue 16). Two processes do stop-and-wait exchanges over the
// same kind of socket kd and kdsim use, with the bytes of a KDCOM exchange:
// the debugger writes its request packet (and the ACK of the previous reply),
// the target answers with its ACK and the reply packet. No framing, parsing or
// checksums: only the system calls and the wake-ups every exchange must pay.
//
//   bench_pingpong --socket unix|tcp|udp --request BYTES --reply BYTES [--seconds S] [--json]
//
// Prints exchanges per second and reply payload bytes per second (the median
// of five one-fifth-length rounds). It asserts nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_pingpong: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct Options {
  std::string socket = "unix";
  std::size_t request = 89;  // ReadVirtualMemory request (16 + 56 + 1) and the ACK of the last reply (16)
  std::size_t reply = 4033;  // the target's ACK (16) and a 3944-byte reply (16 + 56 + 3944 + 1)
  double seconds = 2.5;
  bool json = false;
};

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// A connected pair of the kind asked for: [0] the debugger's end, [1] the target's.
std::pair<int, int> connected_pair(const std::string& kind) {
  if (kind == "unix") {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
    return {sv[0], sv[1]};
  }
  const bool udp = kind == "udp";
  if (!udp && kind != "tcp") {
    std::fprintf(stderr, "bench_pingpong: --socket must be unix, tcp or udp, not '%s'\n", kind.c_str());
    std::exit(2);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int server = ::socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (server < 0 || ::bind(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
  if (::getsockname(server, reinterpret_cast<sockaddr*>(&a), &len) != 0) die("getsockname");
  int client = ::socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (udp) {
    sockaddr_in c{};
    c.sin_family = AF_INET;
    c.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(client, reinterpret_cast<sockaddr*>(&c), sizeof c) != 0) die("bind");
    socklen_t clen = sizeof c;
    ::getsockname(client, reinterpret_cast<sockaddr*>(&c), &clen);
    if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
    if (::connect(server, reinterpret_cast<sockaddr*>(&c), sizeof c) != 0) die("connect");
    return {client, server};
  }
  if (::listen(server, 1) != 0) die("listen");
  if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
  int accepted = ::accept(server, nullptr, nullptr);
  if (accepted < 0) die("accept");
  ::close(server);
  int one = 1;  // kd and kdsim's TCP transports turn Nagle off too
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {client, accepted};
}

// UDP keeps datagram boundaries: one datagram each way, as KDNET does (a reply
// of more than one datagram's worth is refused by the caller).
bool exchange_io(int fd, bool udp, bool send_first, std::vector<char>& out, std::vector<char>& in) {
  if (udp) {
    if (send_first) {
      if (::send(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) return false;
      return ::recv(fd, in.data(), in.size(), 0) == static_cast<ssize_t>(in.size());
    }
    if (::recv(fd, in.data(), in.size(), 0) != static_cast<ssize_t>(in.size())) return false;
    return ::send(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size());
  }
  if (send_first) return write_all(fd, out.data(), out.size()) && read_all(fd, in.data(), in.size());
  return read_all(fd, in.data(), in.size()) && write_all(fd, out.data(), out.size());
}

std::size_t parse_size(std::string_view text, const char* what) {
  std::size_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v == 0 || v > (1u << 20)) {
    std::fprintf(stderr, "bench_pingpong: %s must be a byte count from 1 to 1048576\n", what);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_pingpong: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--socket") o.socket = value();
    else if (a == "--request") o.request = parse_size(value(), "--request");
    else if (a == "--reply") o.reply = parse_size(value(), "--reply");
    else if (a == "--seconds") o.seconds = std::atof(std::string(value()).c_str());
    else if (a == "--json") o.json = true;
    else {
      std::fprintf(stderr, "usage: bench_pingpong --socket unix|tcp|udp --request BYTES --reply BYTES "
                           "[--seconds S] [--json]\n");
      return 2;
    }
  }
  const bool udp = o.socket == "udp";
  if (udp && (o.request > 65507 || o.reply > 65507)) {
    std::fprintf(stderr, "bench_pingpong: a UDP message is at most 65507 bytes\n");
    return 2;
  }
  auto [dbg, tgt] = connected_pair(o.socket);
  pid_t child = ::fork();
  if (child < 0) die("fork");
  if (child == 0) {  // the target: answer every request until the debugger hangs up
    ::close(dbg);
    std::vector<char> in(o.request), out(o.reply, 'r');
    while (exchange_io(tgt, udp, false, out, in)) {
    }
    ::_exit(0);
  }
  ::close(tgt);
  std::vector<char> out(o.request, 'q'), in(o.reply);
  for (int i = 0; i < 200; ++i) exchange_io(dbg, udp, true, out, in);  // warm up
  std::vector<double> rates;
  for (int round = 0; round < 5; ++round) {
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(o.seconds / 5);
    std::uint64_t n = 0;
    while (true) {
      for (int k = 0; k < 64; ++k)
        if (!exchange_io(dbg, udp, true, out, in)) die("exchange");
      n += 64;
      if (Clock::now() >= end) break;
    }
    rates.push_back(static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - start).count());
  }
  ::shutdown(dbg, SHUT_RDWR);
  ::close(dbg);
  if (udp) ::kill(child, SIGTERM);
  ::waitpid(child, nullptr, 0);
  std::sort(rates.begin(), rates.end());
  const double median = rates[2];
  if (o.json)
    std::printf("{\"socket\": \"%s\", \"request\": %zu, \"reply\": %zu, \"exchanges_per_s\": %.0f}\n",
                o.socket.c_str(), o.request, o.reply, median);
  else
    std::printf("raw %s ping-pong, %zu-byte requests, %zu-byte replies: %.0f exchanges/s, %.1f MB/s of replies\n",
                o.socket.c_str(), o.request, o.reply, median, median * static_cast<double>(o.reply) / 1e6);
  return 0;
}
