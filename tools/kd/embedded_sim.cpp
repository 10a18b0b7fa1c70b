#include "tools/kd/embedded_sim.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "simulator/simulator_thread.hpp"

namespace openkd::kd {
namespace {

/// Joins a SimulatorThread's byte pipe to one end of a socketpair, so the
/// session talks to the simulator exactly as to kdsim over a pipe.
class SocketpairSimulator final : public EmbeddedSimulator {
public:
  SocketpairSimulator(std::unique_ptr<sim::Simulator> s, int sim_fd, int kd_fd)
      : thread_(std::move(s)), sim_fd_(sim_fd), kd_fd_(kd_fd) {
    to_sim_ = std::thread([this] { pump_in(); });
    from_sim_ = std::thread([this] { pump_out(); });
  }
  ~SocketpairSimulator() override { stop(); }
  int debugger_fd() const override { return kd_fd_; }
  void stop() override {
    if (stopping_.exchange(true)) return;
    ::shutdown(sim_fd_, SHUT_RDWR);
    to_sim_.join();
    from_sim_.join();
    thread_.stop();
    ::close(sim_fd_);
    ::close(kd_fd_);
  }

private:
  void pump_in() {
    std::uint8_t buf[4096];
    while (!stopping_) {
      pollfd p{sim_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::read(sim_fd_, buf, sizeof buf);
      if (n <= 0) {
        thread_.disconnect();
        return;
      }
      thread_.write(wire::ByteView(buf, std::size_t(n)));
    }
  }
  void pump_out() {
    while (!stopping_) {
      wire::Bytes out = thread_.read(std::chrono::milliseconds(50));
      std::size_t done = 0;
      while (done < out.size()) {
        ssize_t n = ::write(sim_fd_, out.data() + done, out.size() - done);
        if (n <= 0) return;
        done += std::size_t(n);
      }
    }
  }
  sim::SimulatorThread thread_;
  int sim_fd_, kd_fd_;
  std::atomic<bool> stopping_{false};
  std::thread to_sim_, from_sim_;
};

}  // namespace

std::expected<std::unique_ptr<EmbeddedSimulator>, std::string> EmbeddedSimulator::start(
    const backends::ConnectSpec& spec) {
  sim::SimulatorConfig config;
  config.machine.cpus = spec.cpus;
  config.machine.seed = spec.seed;
  config.machine.build = spec.build;
  config.machine.boot_prompt = spec.boot_prompt;
  // OPENKD_KERNEL_DIR in the environment overrides the build tree's images.
  const char* dir = std::getenv("OPENKD_KERNEL_DIR");
  config.machine.kernel_dir = dir && *dir ? dir : OPENKD_KERNEL_DIR;
  config.break_on_boot = true;  // kd opens at a prompt, at the kernel's first instruction
  auto s = sim::Simulator::create(config);
  if (!s) return std::unexpected("cannot start the simulated kernel: " + s.error());
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return std::unexpected(std::string("cannot create the simulator's link (socketpair)"));
  auto made = std::make_unique<SocketpairSimulator>(std::move(*s), fds[0], fds[1]);
  // ABI.md "Images": one kernel and PDB per modelled build under builds/<N>.
  made->symbol_path_ = fmt::format("{}/builds/{};{}", config.machine.kernel_dir, spec.build, config.machine.kernel_dir);
  return made;
}

}  // namespace openkd::kd
