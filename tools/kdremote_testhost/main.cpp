// kdremote_testhost: plays the debugger for remoting tests.
//
//   kdremote_testhost -server T [-server T2 ...] [-noio] [-secure]   host a fake session
//   kdremote_testhost -remote T                                       join as a client
//   kdremote_testhost -QR HOST                                        list servers
//
// The remoting commands (.server, .servers, .endsrv, .clients, and q/qq from
// clients) are kd's own family (remote/remote_commands.hpp). The fake engine
// answers the rest: q and qq (end the session), .echo TEXT, slow MS (prints,
// sleeps, can be broken into), big BYTES, and anything else with "executed: LINE".
#include <cerrno>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <functional>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "remote/remote.hpp"
#include "remote/remote_commands.hpp"

namespace {
/// Reads stdin line by line into the hub on its own thread until end of
/// input or destruction (a self-pipe wakes its poll; the destructor joins).
class StdinLines {
public:
  explicit StdinLines(openkd::remote::Hub* hub) {
    if (!hub || ::pipe(stop_) != 0) return;
    thread_ = std::thread([this, hub] {
      char buf[4096];
      std::string pending;
      for (;;) {
        pollfd fds[2] = {{0, POLLIN, 0}, {stop_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
          if (errno == EINTR) continue;
          return;
        }
        if (fds[1].revents) return;
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n <= 0) return;
        pending.append(buf, static_cast<std::size_t>(n));
        for (std::size_t pos; (pos = pending.find('\n')) != std::string::npos; pending.erase(0, pos + 1))
          hub->submit_command(pending.substr(0, pos));
      }
    });
  }
  ~StdinLines() {
    if (thread_.joinable()) {
      char b = 1;
      [[maybe_unused]] auto n = ::write(stop_[1], &b, 1);
      thread_.join();
    }
    for (int fd : stop_)
      if (fd >= 0) ::close(fd);
  }
  StdinLines(const StdinLines&) = delete;
  StdinLines& operator=(const StdinLines&) = delete;

private:
  int stop_[2] = {-1, -1};
  std::thread thread_;
};
}  // namespace

using namespace openkd::remote;
using namespace std::chrono_literals;

namespace {

std::mutex console_mutex;

void print(FILE* f, std::string_view text) {
  std::lock_guard g(console_mutex);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fflush(f);
}

int usage() {
  print(stderr, "usage: kdremote_testhost -server TRANSPORT [-server ...] [-noio] [-secure] | -remote TRANSPORT | -QR HOST\n");
  return 2;
}

// Family commands print through this, like the fake engine's own output.
class HostOutput final : public openkd::commands::Output {
public:
  explicit HostOutput(std::function<void(std::string_view)> f) : f_(std::move(f)) {}
  void write(std::string_view text) override { f_(text); }

private:
  std::function<void(std::string_view)> f_;
};

int run_host(const std::vector<std::string>& transports, bool noio, bool secure) {
  std::atomic<bool> break_requested{false};
  HubOptions options;
  if (!noio) options.local_output = [](std::string_view text) { print(stdout, text); };
  options.on_break_request = [&] { break_requested = true; };
  Hub hub(options);
  auto out = [&](std::string_view text) {
    if (!noio) print(stdout, text);
    hub.broadcast_output(text);
  };
  for (const auto& t : transports) {
    auto info = hub.start_server(t);
    if (!info) {
      print(stderr, "openkd: " + info.error().message + "\n");
      return 1;
    }
    print(stdout, Hub::started_message(*info) + "\n");
    if (!info->hint.empty()) print(stderr, info->hint + "\n");
    if (!info->warning.empty()) print(stderr, info->warning + "\n");
  }
  HostOutput family_out(out);
  const auto family = remote_commands(hub, {secure, "kd"});
  const std::string prompt = "0: kd> ";
  hub.set_prompt(prompt);
  // Console lines go to the hub; the reader is woken through a pipe and
  // joined when main returns (no detached thread).
  StdinLines console(noio ? nullptr : &hub);
  while (!hub.is_shut_down()) {
    auto cmd = hub.next_command(200ms);
    if (!cmd) continue;
    const std::string& line = cmd->line;
    auto arg = [&](std::size_t skip) { return line.size() > skip ? line.substr(skip) : std::string(); };
    openkd::commands::CommandOrigin origin{cmd->origin, cmd->issuer};
    if (openkd::commands::run_family_command(family, line, origin, family_out) ==
        openkd::commands::FamilyResult::done) {
      hub.set_prompt(prompt);
      continue;
    }
    if (line == "q" || line == "qq") {
      out("quit:\n");
      hub.shutdown(cmd->origin ? line + " issued by " + cmd->issuer : line + " issued on the server");
      return 0;
    } else if (line.rfind(".echo", 0) == 0) {
      std::string text = arg(5);
      if (!text.empty() && text[0] == ' ') text.erase(0, 1);
      out(text + "\n");
    } else if (line.rfind("slow ", 0) == 0) {
      int ms = 0;
      std::string a = arg(5);
      std::from_chars(a.data(), a.data() + a.size(), ms);
      break_requested = false;
      out("slow: start\n");
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      while (std::chrono::steady_clock::now() < until && !break_requested) std::this_thread::sleep_for(5ms);
      out(break_requested ? "slow: interrupted by a break-in request\n" : "slow: done\n");
      break_requested = false;
    } else if (line.rfind("big ", 0) == 0) {
      long bytes = 0;
      std::string a = arg(4);
      std::from_chars(a.data(), a.data() + a.size(), bytes);
      std::string row(79, 'x');
      row += '\n';
      std::string chunk;
      for (long done = 0; done < bytes; done += 80) {
        chunk += row;
        if (chunk.size() >= 65536) { hub.broadcast_output(chunk); chunk.clear(); }
      }
      hub.broadcast_output(chunk);
      out("big: done\n");
    } else if (!line.empty()) {
      out("executed: " + line + "\n");
    }
    hub.set_prompt(prompt);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> servers;
  bool noio = false, secure = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-server" || a == "-remote" || a == "-QR") && i + 1 >= argc) return usage();
    if (a == "-server") servers.push_back(argv[++i]);
    else if (a == "-noio") noio = true;
    else if (a == "-secure") secure = true;
    else if (a == "-remote") return run_client(std::string_view(argv[++i]));
    else if (a == "-QR") {
      print(stdout, query_servers_text(argv[++i]));
      return 0;
    } else return usage();
  }
  if (servers.empty()) return usage();
  return run_host(servers, noio, secure);
}
