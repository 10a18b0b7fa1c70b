#include "kdnet_target.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>

#include "backends/kdnet_target.hpp"

namespace openkd::kdsim {

namespace kn = link::kdnet;
using Clock = std::chrono::steady_clock;

int run_kdnet(const Options& o, sim::Simulator& s, int signal_fd) {
  backends::KdnetTargetSpec spec = o.kdnet;
  if (!spec.bind) spec.bind = 0;  // all addresses
  auto opened = backends::KdnetTarget::open(spec);
  if (!opened) {
    std::fprintf(stderr, "kdsim: %s\n", opened.error().c_str());
    return 1;
  }
  backends::KdnetTarget& target = **opened;
  auto peer = target.poke_target();
  std::printf("kdsim: KDNET target on udp:%s, %s\n", kn::to_string(target.self()).c_str(),
              peer ? ("POKEing the debugger at " + kn::to_string(*peer)).c_str()
                   : "waiting for a debugger to contact it (target=)");
  std::fflush(stdout);

  std::size_t console_seen = 0;
  bool idle = false;
  for (;;) {
    int timeout = 0;
    if (idle) {
      timeout = 50;
      auto now = Clock::now();
      for (auto d : {s.next_deadline(), target.next_deadline()}) {
        if (!d) continue;
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d - now).count();
        timeout = std::min(timeout, static_cast<int>(std::clamp<long long>(ms, 0, 50)));
      }
    }
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {target.fd(), POLLIN, 0}};
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) break;  // SIGINT / SIGTERM
    auto now = Clock::now();
    target.receive(now);
    while (auto e = target.take_event()) {
      if (auto* started = std::get_if<kn::SessionStarted>(&*e)) {
        // A new debugger replacing one is a reconnect: the stub starts a fresh link.
        if (started->restart) s.disconnected(now);
        std::fprintf(stderr, "kdsim: KDNET session with the debugger at %s%s\n", kn::to_string(started->peer).c_str(),
                     started->restart ? " (a new debugger)" : "");
      } else {
        std::fprintf(stderr, "kdsim: %s\n", kn::describe(*e).c_str());
      }
    }
    while (auto p = target.take_payload()) s.feed(*p, now);
    auto progress = s.run_for(200'000, Clock::now());
    idle = progress.idle;
    for (auto& frame : s.take_output_frames(Clock::now())) target.send(frame, Clock::now());
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
  std::fprintf(stderr, "kdsim: %s\n", target.counters_line().c_str());
  std::fprintf(stderr, "kdsim: shutting down\n");
  return 0;
}

}  // namespace openkd::kdsim
