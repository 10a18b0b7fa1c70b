// The hub's public, thread-safe face: server management, listings, the
// command queue the engine pulls from, and output fan-out.
#include <fmt/format.h>

#include <cstdlib>
#include <future>

#include "remote/host_info.hpp"
#include "remote/hub_impl.hpp"

namespace openkd::remote {

namespace {
constexpr std::size_t output_chunk = 64 * 1024;  // well under max_frame_length
}

Hub::Impl::Impl(HubOptions o)
    : options(std::move(o)),
      work(asio::make_work_guard(io)),
      budget(options.guess_limits),
      preauth(options.preauth_limits) {
  if (const char* v = std::getenv("OPENKD_REMOTE_PREAUTH_TIMEOUT_MS")) {
    char* end = nullptr;
    long ms = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && ms > 0 && ms <= 600'000)
      options.hello_timeout = options.handshake_timeout = options.auth_timeout = std::chrono::milliseconds(ms);
  }
  if (const char* v = std::getenv("OPENKD_REMOTE_FAILURE_LOG_INTERVAL_MS")) {
    char* end = nullptr;
    long ms = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && ms > 0 && ms <= 3'600'000) options.failure_log_interval = std::chrono::milliseconds(ms);
  }
  failures = FailureLog(options.failure_log_interval);
}

Hub::Hub(HubOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  Impl* impl = impl_.get();
  impl->spawn(impl->keepalive_loop());
  impl->thread = std::thread([impl] {
    while (true) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        impl->log_local(fmt::format("openkd: remote: internal error: {}", e.what()));
      }
    }
  });
}

Hub::~Hub() {
  shutdown("the debugger exited");
  // Coroutine frames still parked in the io_context go before the state they use.
  impl_->sessions.clear();
  impl_->servers.clear();
}

namespace {
// Runs f on the I/O thread and waits for its result; nullopt when the I/O
// thread has stopped (the session ended meanwhile) and f will never run.
template <class F>
auto on_io_thread(Hub::Impl& impl, F f) -> std::optional<decltype(f())> {
  auto p = std::make_shared<std::promise<decltype(f())>>();
  auto result = p->get_future();
  asio::post(impl.io, [p, f]() mutable { p->set_value(f()); });
  while (result.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
    if (impl.io.stopped()) return std::nullopt;
  return result.get();
}
const HubError session_ended{"the session has ended"};
}  // namespace

std::expected<ServerInfo, HubError> Hub::start_server(std::string_view transport) {
  auto spec = parse_transport(transport, Role::server);
  if (!spec) return std::unexpected(HubError{spec.error().message});
  return start_server(*spec);
}

std::expected<ServerInfo, HubError> Hub::start_server(const TransportSpec& spec) {
  if (impl_->shut_down) return std::unexpected(session_ended);
  auto r = on_io_thread(*impl_, [impl = impl_.get(), spec] { return impl->open_server(spec); });
  if (!r) return std::unexpected(session_ended);
  return std::move(*r);
}

std::vector<std::string> Hub::list_servers() const {
  std::lock_guard g(impl_->info_mutex);
  std::vector<std::string> out;
  for (const auto& l : impl_->server_listings) {
    if (l.disabled) out.push_back(fmt::format("{} - <Disabled, exit pending> - {}", l.index, l.remote));
    else out.push_back(fmt::format("{} - Debugger Server - {}", l.index, l.remote));
  }
  return out;
}

std::expected<void, HubError> Hub::end_server(int index) {
  if (impl_->shut_down) return std::unexpected(session_ended);
  auto r = on_io_thread(*impl_, [impl = impl_.get(), index]() -> std::expected<void, HubError> {
    for (auto& e : impl->servers) {
      if (e->index != index) continue;
      if (e->disabled) return std::unexpected(HubError{fmt::format("server {} is already disabled", index)});
      impl->end_server_now(*e);
      return {};
    }
    return std::unexpected(HubError{fmt::format("no server {}; .servers lists them", index)});
  });
  if (!r) return std::unexpected(session_ended);
  return *r;
}

std::vector<std::string> Hub::list_clients() const {
  std::lock_guard g(impl_->info_mutex);
  std::vector<std::string> out;
  for (const auto& [id, c] : impl_->client_listings)
    out.push_back(fmt::format("{}, last active {}", c.name, format_time(c.last_active)));
  return out;
}

std::size_t Hub::client_count() const {
  std::lock_guard g(impl_->info_mutex);
  return impl_->client_listings.size();
}

std::optional<Hub::ClientServer> Hub::server_of_client(std::uint64_t client) const {
  auto r = on_io_thread(*impl_, [impl = impl_.get(), client]() -> std::optional<ClientServer> {
    auto it = impl->sessions.find(client);
    if (it == impl->sessions.end() || !it->second->server) return std::nullopt;
    return ClientServer{it->second->server->bound, it->second->server->local_only};
  });
  if (!r) return std::nullopt;
  return *r;
}

void Hub::disconnect_client(std::uint64_t client, std::string message, std::string notice) {
  if (impl_->shut_down) return;
  asio::post(impl_->io, [impl = impl_.get(), client, message = std::move(message), notice = std::move(notice)] {
    auto it = impl->sessions.find(client);
    if (it == impl->sessions.end()) return;
    auto& s = *it->second;
    impl->enqueue(s, encode_frame(Bye{ByeReason::client_leaving, message}));
    s.closing = true;
    s.signal.cancel();
    for (auto& [id, other] : impl->sessions)
      if (id != client) impl->enqueue(*other, encode_frame(Output{notice + "\n"}));
    impl->log_local(notice);
  });
}

void Hub::broadcast_output(std::string_view text) {
  if (text.empty() || impl_->shut_down) return;
  for (std::size_t pos = 0; pos < text.size(); pos += output_chunk) {
    std::string piece(text.substr(pos, output_chunk));
    asio::post(impl_->io, [impl = impl_.get(), piece = std::move(piece)]() mutable {
      impl->send_to_all(Output{std::move(piece)});
    });
  }
}

void Hub::announce_command(std::string_view line) {
  std::string text;
  {
    std::lock_guard g(impl_->info_mutex);
    text = impl_->prompt_for_engine + std::string(line);
  }
  asio::post(impl_->io, [impl = impl_.get(), text = std::move(text)] {
    impl->send_to_all(CommandEcho{false, text});
  });
}

void Hub::submit_command(std::string line) {
  {
    std::lock_guard g(impl_->command_mutex);
    impl_->commands.push_back(HubCommand{0, {}, std::move(line)});
  }
  impl_->command_ready.notify_one();
}

namespace {
// Tells the issuer of the command that just ran that it finished (it may be
// waiting for that before leaving). Caller holds command_mutex.
void finish_running(Hub::Impl& impl) {
  if (impl.running_origin == 0) return;
  asio::post(impl.io, [impl = &impl, id = impl.running_origin] {
    if (auto it = impl->sessions.find(id); it != impl->sessions.end())
      impl->enqueue(*it->second, encode_frame(CommandDone{}));
  });
  impl.running_origin = 0;
}
}  // namespace

void Hub::wake() {
  {
    std::lock_guard g(impl_->command_mutex);
    impl_->wake_pending = true;
  }
  impl_->command_ready.notify_all();
}

std::optional<HubCommand> Hub::next_command(std::chrono::milliseconds timeout) {
  std::unique_lock lk(impl_->command_mutex);
  finish_running(*impl_);
  impl_->command_ready.wait_for(lk, timeout,
                                [&] { return !impl_->commands.empty() || impl_->shut_down || impl_->wake_pending; });
  impl_->wake_pending = false;
  if (impl_->shut_down || impl_->commands.empty()) return std::nullopt;
  HubCommand c = std::move(impl_->commands.front());
  impl_->commands.pop_front();
  impl_->running_origin = c.origin;
  lk.unlock();

  // Announced as it starts, not as it arrived, so every client sees each
  // command right before its output.
  std::string text;
  if (c.origin == 0) {
    std::lock_guard g(impl_->info_mutex);
    text = impl_->prompt_for_engine + c.line;
  } else {
    text = fmt::format("{} issued: {}", c.issuer, c.line);
    impl_->log_local(text);
  }
  asio::post(impl_->io, [impl = impl_.get(), origin = c.origin, text = std::move(text)] {
    Bytes mine = encode_frame(CommandEcho{true, text});
    Bytes theirs = encode_frame(CommandEcho{false, text});
    for (auto& [id, s] : impl->sessions) impl->enqueue(*s, id == origin ? mine : theirs);
  });
  return c;
}

void Hub::set_prompt(std::string prompt) {
  {
    std::lock_guard g(impl_->command_mutex);
    finish_running(*impl_);
  }
  {
    std::lock_guard g(impl_->info_mutex);
    impl_->prompt_for_engine = prompt;
  }
  asio::post(impl_->io, [impl = impl_.get(), prompt = std::move(prompt)]() mutable {
    impl->prompt = prompt;
    impl->send_to_all(Prompt{std::move(prompt)});
  });
}

void Hub::shutdown(std::string_view reason) {
  std::lock_guard g(impl_->shutdown_mutex);
  if (!impl_->shut_down.exchange(true)) {
    impl_->command_ready.notify_all();
    asio::post(impl_->io, [impl = impl_.get(), r = std::string(reason)] { impl->spawn(impl->shutdown_sequence(r)); });
  }
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
}

bool Hub::is_shut_down() const { return impl_->shut_down; }

std::string Hub::started_message(const ServerInfo& info, std::string_view debugger) {
  return fmt::format("Server started.  Client can connect with any of these command lines\n0: {} -remote {}",
                     debugger, info.remote);
}

}  // namespace openkd::remote
