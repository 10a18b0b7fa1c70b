// kd: a KD-compatible kernel debugger. `kd -k CONNECT` opens a target, waits for
// it to stop, prints KD's banner and runs the command loop.
#include <boost/asio.hpp>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "backends/connect_string.hpp"
#include "backends/kdnet_stream.hpp"
#include "backends/serial_port.hpp"
#include "backends/stream.hpp"
#include "core/commands/engine.hpp"
#include "core/debugger/session.hpp"
#include "tools/kd/console.hpp"
#include "tools/kd/banner.hpp"
#include "tools/kd/console_reader.hpp"
#include "tools/kd/embedded_sim.hpp"
#include "tools/kd/options.hpp"
#include "remote/remote.hpp"
#include "remote/remote_commands.hpp"

namespace asio = boost::asio;
using namespace openkd;

namespace {

constexpr const char* kVersion = "openkd kd 0.1.0";

int run_target_session(const kd::Options& opt, const backends::ConnectSpec& spec) {
  kd::ConsoleOutput out(opt.noio);
  debugger::SessionOptions so;
  so.resets = spec.resets;
  so.reconnect = spec.reconnect;
  if (spec.kind == backends::ConnectSpec::Kind::Net) so.scheme = link::IdScheme::Kdnet;
  std::unique_ptr<kd::EmbeddedSimulator> sim;
  if (spec.kind == backends::ConnectSpec::Kind::Sim) {
    auto made = kd::EmbeddedSimulator::start(spec);
    if (!made) {
      std::fprintf(stderr, "kd: %s\n", made.error().c_str());
      return 1;
    }
    sim = std::move(*made);
    int fd = sim->debugger_fd();
    so.open = [fd]() { return backends::async_open_dup(fd, "simulator (in process)"); };
  } else {
    so.open = [spec]() { return backends::async_open_stream(spec); };
  }
  debugger::KdSession session(std::move(so));

  // The console: lines for kd's commands and for the target's DbgPrompt, in
  // turn (tools/kd/console_reader.hpp). Hooks that need the engine go through
  // this pointer, set while the engine exists.
  kd::ConsoleInput input;
  std::atomic<commands::Engine*> engine_ptr{nullptr};
  std::atomic<remote::Hub*> hub_ptr{nullptr};  // set once the hub exists, before the console starts
  kd::ConsoleReader console(
      input, kd::ConsoleReader::Hooks{
                 [&session](std::uint64_t id, std::string answer) { session.answer_prompt(id, std::move(answer)); },
                 [&out](std::string_view text) { out.write_local(text); },
                 [&session, &engine_ptr] {  // q or Ctrl-B while a command runs
                   if (auto* e = engine_ptr.load()) e->request_cancel();
                   session.cancel_wait();
                 },
                 [&out](std::string_view prompt) { out.write_local(prompt); },
                 [&hub_ptr](std::string line) {  // a console line for the command loop
                   if (auto* h = hub_ptr.load()) h->submit_command(std::move(line));
                 },
                 [&hub_ptr] {  // input ended or quit: the command loop looks again
                   if (auto* h = hub_ptr.load()) h->wake();
                 },
                 [&session, &engine_ptr, &out] {  // input ended; the last command still runs
                   out.write("kd: end of input while the target runs: breaking in\n");
                   if (auto* e = engine_ptr.load()) e->request_cancel();
                   session.request_break();
                 }});
  auto on_target_prompt = [&](std::uint64_t id, std::string_view text, std::uint32_t) {
    // The session's I/O thread: never blocks; the console answers (at once
    // from a line typed ahead, or with the next line read).
    if (opt.noio) {
      session.answer_prompt(id, {});
      return;
    }
    out.write(text);  // everyone sees what the target asks; the host's console answers
    console.target_prompt(id, std::string(text));
  };

  session.set_callbacks(debugger::TargetCallbacks{
      [&out, &engine_ptr](std::string_view text) {
        // The `out` filter: sxi out hides the target's debug output.
        if (auto* e = engine_ptr.load(); e && !e->shows_target_output()) return;
        out.write(text);
      },
      on_target_prompt,
      [&out, &opt](std::string_view line) {
        if (opt.verbose) out.write_line(fmt::format("KDTARGET: {}\n", line));
      },
      [&out](std::string_view line) { out.write_line(fmt::format("kd: {}\n", line)); },
      // A DbgPrompt that went with its target (lost, or a KDNET target that
      // restarted): the next line is a command again.
      [&console](std::uint64_t) { console.withdraw_target_prompt(); }});

  // Ctrl-C breaks in (on its own thread: the engine thread is blocked while the target runs).
  asio::io_context signals_io;
  asio::signal_set signals(signals_io, SIGINT);
  std::function<void()> on_sigint = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      // Break in, and stop a multi-step command (t 100, gu) between its steps.
      if (auto* e = engine_ptr.load()) e->request_cancel();
      session.request_break();
      on_sigint();
    });
  };
  on_sigint();
  std::thread signal_thread([&] { signals_io.run(); });
  auto stop_signals = [&] {
    signals_io.stop();
    signal_thread.join();
  };

  out.write(fmt::format("\n{}\nOpened {}\nWaiting to reconnect...\n", kVersion, backends::to_string(spec)));
  if (auto r = session.start(); !r) {
    std::fprintf(stderr, "kd: %s\n", r.error().message.c_str());
    stop_signals();
    return 1;
  }
  if (opt.break_on_connect) session.request_break();
  auto first = session.wait_for_stop();
  // Without -b, kd waits for the target to stop on its own: a module load or
  // unload the filters ignore (sx: ld, ud, iml) is passed over, as KD does.
  {
    commands::EngineOptions defaults;
    defaults.break_on_module_load = opt.break_on_first_module;
    while (first && !opt.break_on_connect && commands::Engine::passes_over_at_connect(*first, defaults))
      first = session.resume(debugger::ResumeOptions{wire::kDbgContinue, false, 0, first->break_requested});
  }
  if (!first) {
    std::fprintf(stderr, "kd: %s\n", first.error().message.c_str());
    stop_signals();
    return 1;
  }
  kd::print_banner(session, out);

  commands::EngineOptions eo;
  eo.secure = opt.secure;
  eo.noshell = opt.noshell || opt.secure;
  eo.break_on_module_load = opt.break_on_first_module;
  eo.symbol_path = opt.symbol_path;  // -y wins over _NT_SYMBOL_PATH, as in KD
  if (const char* env = std::getenv("_NT_SYMBOL_PATH"); eo.symbol_path.empty() && env) eo.symbol_path = env;
  // -k sim knows where its kernel's PDBs are: they are the default (KD has none).
  if (eo.symbol_path.empty() && sim) eo.symbol_path = sim->symbol_path();
  eo.source_lines = opt.source_line_support;
  commands::Engine engine(session, out, eo);
  engine_ptr = &engine;

  // Every command, local or from a remote client, goes through the hub's queue
  // and runs here, one at a time, in arrival order (docs/remoting.md section 3).
  remote::HubOptions ho;
  ho.debugger_name = "kd";
  if (!opt.noio)
    ho.local_output = [&out](std::string_view line) {
      std::string text(line);
      if (text.empty() || text.back() != '\n') text.push_back('\n');
      out.write_local(text);
    };
  ho.on_break_request = [&session] { session.request_break(); };
  remote::Hub hub(std::move(ho));
  hub_ptr = &hub;
  out.set_tee([&hub](std::string_view text) { hub.broadcast_output(text); });

  // The remoting commands are one family in the engine's table (remote/remote_commands.hpp).
  engine.add_family(remote::remote_commands(hub, {opt.secure, "kd"}));
  for (const auto& t : opt.servers) remote::start_server_reporting(hub, t, out, "kd");

  engine.report_stop(*first);
  if (!opt.log_open.empty()) engine.execute(".logopen " + opt.log_open);
  if (!opt.log_append.empty()) engine.execute(".logappend " + opt.log_append);

  auto run = [&](const std::string& line, const commands::CommandOrigin& origin = {}) {
    engine.execute(line, origin);
    session.set_kdfiles(engine.kdfiles());
  };

  // The console's reader (started before -c so a DbgPrompt during it can be answered).
  if (!opt.noio) console.start();
  // Initial commands (-cf, then -c) run first, shown with the prompt as KD does.
  auto run_shown = [&](const std::string& line) {
    hub.announce_command(line);
    out.write_local(engine.prompt() + line + "\n");
    run(line);
  };
  if (!opt.command_file.empty()) {
    std::ifstream in(opt.command_file);
    if (!in) out.write(fmt::format("kd: cannot open command file '{}'\n", opt.command_file));
    std::string line;
    while (!engine.quit_requested() && std::getline(in, line)) run_shown(line);
  }
  if (!opt.initial_commands.empty() && !engine.quit_requested()) run_shown(opt.initial_commands);

  // The command loop: console lines and remote clients' commands, one at a
  // time through the hub (every client sees every command), in arrival order.
  while (!engine.quit_requested() && !hub.is_shut_down() && !console.quit_requested()) {
    const std::string prompt = engine.prompt();
    hub.set_prompt(prompt);
    if (!opt.noio) console.idle(prompt);  // a line typed ahead goes to the hub now
    // Waits for a command; the console wakes it when input ends or kd quits.
    auto cmd = hub.next_command(std::chrono::seconds(1));
    if (!cmd) {
      // Input ended with nobody else able to type: the session ends, as KD's does at EOF.
      if ((opt.noio || console.ended()) && hub.list_servers().empty()) break;
      continue;
    }
    if (!opt.noio) console.busy();
    run(cmd->line, commands::CommandOrigin{cmd->origin, cmd->issuer});
  }
  // Ending with the target gone (no reconnect) is a failure a script must see.
  const bool target_lost = session.lost();
  // The transport's own figures (KDNET: authentication failures, replays), one line on stderr.
  if (auto stats = session.transport_statistics(); !stats.empty()) std::fprintf(stderr, "kd: %s\n", stats.c_str());
  engine_ptr = nullptr;
  hub_ptr = nullptr;
  hub.shutdown(engine.quit_requested() || console.quit_requested() ? "the debugger quit (q)" : "the debugger exited");
  stop_signals();
  session.close();
  if (sim) sim->stop();
  return target_lost ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opt = kd::parse_options(args);
  if (!opt) {
    std::fprintf(stderr, "kd: %s\n", opt.error().c_str());
    return 2;
  }
  if (opt->help) {
    std::fputs(kd::usage().c_str(), stdout);
    return 0;
  }
  if (opt->version) {
    std::printf("%s\n", kVersion);
    return 0;
  }
  if (opt->new_kdnet_key) {
    auto key = backends::new_kdnet_key();
    if (!key) {
      std::fprintf(stderr, "kd: %s\n", key.error().c_str());
      return 1;
    }
    std::printf("%s\n", key->c_str());
    return 0;
  }
  if (!opt->query_remote.empty()) {
    std::fputs(remote::query_servers_text(opt->query_remote).c_str(), stdout);
    return 0;
  }
  if (!opt->remote.empty()) return remote::run_client(opt->remote);
  std::string connect = opt->connect;
  if (connect.empty()) {
    auto env = backends::connect_string_from_environment();
    if (!env) {
      std::fprintf(stderr, "kd: %s\n", env.error().c_str());
      return 2;
    }
    connect = *env;
  }
  if (connect.empty()) {
    std::fprintf(stderr, "kd: no target: give -k CONNECT (e.g. -k com:pipe,port=/tmp/vm.sock or -k sim), "
                         "or set _NT_DEBUG_PORT\n");
    return 2;
  }
  auto spec = backends::parse_connect_string(connect);
  if (!spec) {
    std::fprintf(stderr, "kd: bad -k '%s': %s\n", connect.c_str(), spec.error().c_str());
    return 2;
  }
  if (spec->kind == backends::ConnectSpec::Kind::ListPorts) return backends::print_serial_ports("kd");  // -k com:?
  std::signal(SIGPIPE, SIG_IGN);
  int rc = run_target_session(*opt, *spec);
  std::fflush(stdout);
  return rc;
}
