// bench_remote: how long a remote command takes from a client's keystroke to
// its output on that client's screen, with 1 and with 32 clients attached.
// The engine is a stand-in (it answers at once), so this measures remoting
// only: client, Unix socket, hub queue, fan-out. No assertions; it prints.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "remote/remote.hpp"

using namespace openkd::remote;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct BenchClient {
  explicit BenchClient(const std::string& transport) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) std::abort();
    input = in[1];
    ClientOptions o;
    o.input_fd = in[0];
    o.output_fd = out[1];
    o.terminal = false;
    o.handle_sigint = false;
    runner = std::thread([=] {
      run_client(std::string_view(transport), o);
      ::close(in[0]);
      ::close(out[1]);
    });
    reader = std::thread([this, fd = out[0]] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        std::lock_guard g(m);
        text.append(buf, static_cast<std::size_t>(n));
        cv.notify_all();
      }
      ::close(fd);
    });
  }
  ~BenchClient() {
    ::close(input);
    runner.join();
    reader.join();
  }
  void send(const std::string& line) { (void)!::write(input, (line + "\n").data(), line.size() + 1); }
  void wait_for(const std::string& marker) {
    std::unique_lock lk(m);
    cv.wait(lk, [&] {
      auto pos = text.find(marker, scanned);
      if (pos == std::string::npos) return false;
      scanned = pos + marker.size();
      return true;
    });
  }
  double round_trip_us(const std::string& line) {
    auto t0 = Clock::now();
    send(line);
    wait_for("out: " + line + "\n");
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
  int input;
  std::thread runner, reader;
  std::mutex m;
  std::condition_variable cv;
  std::string text;
  std::size_t scanned = 0;
};

void report(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  fmt::print("{:<48} n={:<5} mean {:8.1f} us  p50 {:8.1f} us  p99 {:8.1f} us\n", what, us.size(), sum / us.size(),
             us[us.size() / 2], us[us.size() * 99 / 100]);
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/openkd-bench-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  HubOptions options;
  options.register_servers = false;
  Hub hub(options);
  std::thread engine([&] {
    while (!hub.is_shut_down()) {
      auto c = hub.next_command(20ms);
      if (!c) continue;
      hub.broadcast_output("out: " + c->line + "\n");
      hub.set_prompt("kd> ");
    }
  });
  std::string transport = "npipe:pipe=" + (dir / "bench").string();
  if (!hub.start_server(transport)) return 1;

  std::vector<std::unique_ptr<BenchClient>> clients;
  clients.push_back(std::make_unique<BenchClient>(transport));
  while (hub.client_count() < 1) std::this_thread::sleep_for(1ms);
  std::vector<double> us;
  for (int i = 0; i < 20; ++i) clients[0]->round_trip_us(fmt::format("warm{}", i));
  for (int i = 0; i < 300; ++i) us.push_back(clients[0]->round_trip_us(fmt::format("one{}", i)));
  report("1 client, sequential commands", us);

  while (clients.size() < 32) clients.push_back(std::make_unique<BenchClient>(transport));
  while (hub.client_count() < 32) std::this_thread::sleep_for(1ms);
  us.clear();
  for (int i = 0; i < 300; ++i) us.push_back(clients[0]->round_trip_us(fmt::format("watched{}", i)));
  report("32 clients attached, 1 issuing", us);

  std::mutex all_m;
  std::vector<double> all;
  std::vector<std::thread> workers;
  for (std::size_t c = 0; c < clients.size(); ++c) {
    workers.emplace_back([&, c] {
      std::vector<double> mine;
      for (int i = 0; i < 40; ++i) mine.push_back(clients[c]->round_trip_us(fmt::format("busy{}-{}", c, i)));
      std::lock_guard g(all_m);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (auto& w : workers) w.join();
  report("32 clients all issuing (queued behind others)", all);

  hub.shutdown("bench over");
  engine.join();
  clients.clear();
  std::filesystem::remove_all(dir);
  return 0;
}
