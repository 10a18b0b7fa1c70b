// kdsim: the simulated Windows x64 kernel as a KD target on a pipe, TCP, a pty or a serial device.
// One host thread: poll() for the debugger's bytes, emulate in slices between.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/serial_port.hpp"
#include "core/wire/kdnet.hpp"
#include "kdnet_target.hpp"
#include "listener.hpp"
#include "options.hpp"

using namespace openkd;
using Clock = std::chrono::steady_clock;

namespace {
int g_signal_pipe[2] = {-1, -1};
void on_signal(int) {
  char c = 1;
  [[maybe_unused]] auto n = ::write(g_signal_pipe[1], &c, 1);
}

int bench(const kdsim::Options& o) {
  auto sim = sim::Simulator::create(o.sim);
  if (!sim) {
    std::fprintf(stderr, "kdsim: %s\n", sim.error().c_str());
    return 1;
  }
  auto t0 = Clock::now();
  std::uint64_t done = 0;
  while (done < o.bench) {
    auto p = (*sim)->run_for(std::min<std::uint64_t>(o.bench - done, 10'000'000), Clock::now());
    done += p.executed;
    if (p.idle && p.executed == 0) break;
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("kdsim: %llu instructions on %u CPU(s) in %.2f s: %.1f million instructions/s\n",
              static_cast<unsigned long long>(done), o.sim.machine.cpus, s, static_cast<double>(done) / s / 1e6);
  return 0;
}

// Writes everything, waiting for the descriptor when it is full; false when the peer is gone.
bool write_all(int fd, const wire::Bytes& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0) return false;
    } else {
      return false;
    }
  }
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = kdsim::parse_options(args);
  if (!options) {
    std::fprintf(stderr, "kdsim: %s\n", options.error().c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(kdsim::kUsage, stdout);
    return 0;
  }
  if (options->new_kdnet_key) {
    auto key = wire::kdnet::random_key();
    if (!key) {
      std::fprintf(stderr, "kdsim: OpenSSL's RAND_bytes failed: no key made\n");
      return 1;
    }
    std::printf("%s\n", wire::kdnet::format_key(*key).c_str());
    return 0;
  }
  if (options->bench) return bench(*options);
  if (options->list_ports) return backends::print_serial_ports("kdsim");

  auto sim = sim::Simulator::create(options->sim);
  if (!sim) {
    std::fprintf(stderr, "kdsim: %s\n", sim.error().c_str());
    return 1;
  }
  if (::pipe(g_signal_pipe) != 0) return 1;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  if (options->listen == kdsim::Options::Listen::Kdnet) return kdsim::run_kdnet(*options, **sim, g_signal_pipe[0]);
  auto listener = kdsim::Listener::open(*options);
  if (!listener) {
    std::fprintf(stderr, "kdsim: %s\n", listener.error().c_str());
    return 1;
  }
  std::printf("kdsim: listening on %s\n", listener->where().c_str());
  std::fflush(stdout);

  sim::Simulator& s = **sim;
  std::size_t console_seen = 0;
  bool idle = false;
  std::vector<std::uint8_t> buffer(65536);
  // --serial: the device failing is said once; kdsim then waits for it to come back.
  Clock::time_point serial_tried{};
  auto serial_lost = [&](const char* why) {
    listener->drop_peer();
    s.disconnected(Clock::now());
    serial_tried = Clock::now();
    std::fprintf(stderr, "kdsim: lost %s (%s); the kernel %s, waiting for the device to come back\n",
                 options->serial_device.c_str(), why, s.stub().running() ? "runs on" : "stays stopped");
  };
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({g_signal_pipe[0], POLLIN, 0});
    if (listener->peer_fd() < 0 && listener->listen_fd() >= 0) fds.push_back({listener->listen_fd(), POLLIN, 0});
    if (listener->peer_fd() >= 0) fds.push_back({listener->peer_fd(), POLLIN, 0});
    int timeout = 0;
    if (idle) {
      timeout = 50;
      if (auto d = s.next_deadline()) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d - Clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(ms, 0, 50));
      }
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) break;  // SIGINT / SIGTERM
    auto now = Clock::now();
    for (std::size_t k = 1; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      if (fds[k].fd == listener->listen_fd()) {
        if (listener->accept_peer()) std::fprintf(stderr, "kdsim: debugger connected\n");
      } else {
        ssize_t n = ::read(fds[k].fd, buffer.data(), buffer.size());
        if (n > 0) {
          s.feed(wire::ByteView(buffer.data(), static_cast<std::size_t>(n)), now);
        } else if (listener->is_serial() && (n == 0 || (errno != EAGAIN && errno != EINTR))) {
          serial_lost(n == 0 ? "hung up" : std::strerror(errno));
        } else if (!listener->is_pty() && (n == 0 || (errno != EAGAIN && errno != EINTR))) {
          listener->drop_peer();
          s.disconnected(now);
          std::fprintf(stderr, "kdsim: debugger disconnected; the kernel %s\n",
                       s.stub().running() ? "runs on" : "stays stopped until a debugger attaches");
        }
      }
    }
    auto progress = s.run_for(200'000, Clock::now());
    idle = progress.idle;
    auto out = s.take_output(Clock::now());
    if (!out.empty() && listener->peer_fd() >= 0 && !write_all(listener->peer_fd(), out) && !listener->is_pty()) {
      if (!listener->is_serial()) {
        listener->drop_peer();
        s.disconnected(Clock::now());
      } else if (errno != EAGAIN) {  // a line nobody reads loses bytes; an error loses the device
        serial_lost(std::strerror(errno));
      }
    }
    // --serial: while the device is gone, look for it again every 250 ms.
    if (listener->is_serial() && listener->peer_fd() < 0 && Clock::now() - serial_tried >= std::chrono::milliseconds(250)) {
      serial_tried = Clock::now();
      if (listener->reopen_device())
        std::fprintf(stderr, "kdsim: %s is back\n", options->serial_device.c_str());
    }
    if (options->verbose && s.machine().console().size() != console_seen) {
      const std::string& c = s.machine().console();
      if (console_seen > c.size()) console_seen = 0;  // trimmed or rebooted
      std::fwrite(c.data() + console_seen, 1, c.size() - console_seen, stderr);
      console_seen = c.size();
    }
    if (!s.failure().empty()) {
      std::fprintf(stderr, "kdsim: the machine stopped: %s\n", s.failure().c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "kdsim: shutting down\n");
  return 0;
}
