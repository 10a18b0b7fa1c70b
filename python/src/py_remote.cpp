#include "python/src/py_remote.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "python/src/errors.hpp"
#include "remote/remote.hpp"

namespace openkd::py {

using Kind = KdError::Kind;

RemoteServerHost::RemoteServerHost(std::shared_ptr<PyDebugger> debugger, const std::string& transport)
    : debugger_(std::move(debugger)) {
  remote::HubOptions ho;
  ho.debugger_name = "kd";
  ho.register_servers = false;  // tests' servers stay out of the per-user -QR registry
  ho.local_output = [this](std::string_view line) {
    std::lock_guard lock(log_mutex_);
    if (log_.size() >= 1024) log_.pop_front();
    log_.emplace_back(line);
  };
  std::weak_ptr<PyDebugger> weak = debugger_;
  ho.on_break_request = [weak] {
    if (auto d = weak.lock()) {
      try {
        d->break_in();
      } catch (const KdError&) {
      }
    }
  };
  hub_ = std::make_unique<remote::Hub>(std::move(ho));
  auto info = hub_->start_server(transport);
  if (!info) throw KdError(Kind::Error, "cannot start the server on '" + transport + "': " + info.error().message);
  client_string_ = info->remote;
  thread_ = std::thread([this] { loop(); });
}

RemoteServerHost::~RemoteServerHost() { close(); }

void RemoteServerHost::loop() {
  while (!stop_ && !hub_->is_shut_down()) {
    hub_->set_prompt(debugger_->closed() ? "kd> " : debugger_->prompt());
    auto cmd = hub_->next_command(std::chrono::milliseconds(100));
    if (!cmd) continue;
    in_command_ = true;
    try {
      hub_->broadcast_output(debugger_->run_command(cmd->line));
    } catch (const KdError& e) {
      hub_->broadcast_output(std::string(e.what()) + "\n");
    }
    in_command_ = false;
  }
}

std::vector<std::string> RemoteServerHost::clients() const { return hub_->list_clients(); }

std::vector<std::string> RemoteServerHost::take_log() {
  std::lock_guard lock(log_mutex_);
  std::vector<std::string> out(log_.begin(), log_.end());
  log_.clear();
  return out;
}

void RemoteServerHost::close() {
  if (closed_) return;
  closed_ = true;
  stop_ = true;
  hub_->wake();
  // A client's command (a `g` until the target stops) holds the loop: break in
  // and cancel it, so the join below ends.
  if (in_command_) debugger_->interrupt();
  if (thread_.joinable()) thread_.join();
  hub_->shutdown("the debugger exited");
}

// ---- the client

RemoteClientHost::RemoteClientHost(const std::string& transport, const std::string& identity, double timeout) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    throw KdError(Kind::Error, "cannot create the client's pipes");
  to_client_ = io::Fd(in[1]);
  from_client_ = io::Fd(out[0]);
  error_read_ = io::Fd(err[0]);
  remote::ClientOptions o;
  o.input_fd = in[0];
  o.output_fd = out[1];
  o.error_fd = err[1];
  o.terminal = false;
  o.handle_sigint = false;
  o.identity = identity;
  o.connect_timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
  thread_ = std::thread([this, transport, o] {
    status_ = remote::run_client(transport, o);
    ::close(o.input_fd);
    ::close(o.output_fd);
    ::close(o.error_fd);
    finished_ = true;
    cv_.notify_all();
  });
  reader_ = std::thread([this] { pump_output(); });
  // Welcomed (a first command comes back) or refused (the client's thread ends with its message).
  try {
    (void)execute(".echo openkd-remote-hello", timeout + 1);
    (void)take_output();
  } catch (const KdError& e) {
    std::string why;
    {
      std::lock_guard lock(m_);
      why = errors_;
    }
    close();
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw KdError(Kind::Connection, why.empty() ? std::string(e.what()) : why);
  }
}

RemoteClientHost::~RemoteClientHost() { close(); }

void RemoteClientHost::pump_output() {
  char buf[4096];
  for (;;) {
    pollfd fds[2] = {{from_client_.get(), POLLIN, 0}, {error_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, 200) < 0) break;
    bool any = false;
    for (int k = 0; k < 2; ++k) {
      if (!fds[k].revents) continue;
      ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
      if (n <= 0) continue;
      any = true;
      std::lock_guard lock(m_);
      std::string& dest = k == 0 ? output_ : errors_;
      if (dest.size() < (16u << 20)) dest.append(buf, std::size_t(n));
    }
    if (any) cv_.notify_all();
    if (!any && finished_) break;
  }
}

bool RemoteClientHost::write_line(const std::string& line) {
  std::string text = line + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(to_client_.get(), text.data() + done, text.size() - done);
    if (n <= 0) return false;
    done += std::size_t(n);
  }
  return true;
}

std::string RemoteClientHost::execute(const std::string& line, double timeout) {
  if (line.find('\n') != std::string::npos) throw KdError(Kind::Error, "one command line at a time");
  std::unique_lock lock(m_);
  if (finished_ || !to_client_) throw KdError(Kind::Connection, "the remote session has ended");
  // The session's output has no end marker: a .echo of our own after the command is one.
  const std::string marker = fmt::format("openkd-remote-done-{}-{}", ::getpid(), ++marker_);
  const std::size_t start = output_.size();
  lock.unlock();
  if (!write_line(line) || !write_line(".echo " + marker)) throw KdError(Kind::Connection, "the remote session has ended");
  lock.lock();
  const std::string end_line = marker + "\n";
  auto done = [&] {
    auto at = output_.find(end_line, start);
    // The echo of ".echo marker" itself contains the marker too: wait for the line that is only the marker.
    while (at != std::string::npos && at > 0 && output_[at - 1] != '\n') at = output_.find(end_line, at + 1);
    return at != std::string::npos;
  };
  if (!cv_.wait_for(lock, std::chrono::milliseconds(static_cast<long long>(timeout * 1000)),
                    [&] { return done() || finished_.load(); }))
    throw KdError(Kind::Timeout, fmt::format("no end of '{}' from the remote session within {} s", line, timeout));
  if (!done()) throw KdError(Kind::Connection, "the remote session ended: " + errors_);
  auto at = output_.find(end_line, start);
  while (at > 0 && output_[at - 1] != '\n') at = output_.find(end_line, at + 1);
  std::string text = output_.substr(start, at - start);
  output_.erase(start, at + end_line.size() - start);
  // Drop the echo lines of the marker command (whatever prefix the server gives them).
  std::string kept;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    std::string l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    if (l.find(".echo " + marker) == std::string::npos) kept += l;
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return kept;
}

std::string RemoteClientHost::take_output() {
  std::lock_guard lock(m_);
  return std::exchange(output_, {});
}

void RemoteClientHost::close() {
  {
    std::lock_guard lock(m_);
    if (closed_) return;
    closed_ = true;
  }
  // Ctrl-B: the client leaves at once, even with a command still running (a `g`).
  if (to_client_ && !finished_) [[maybe_unused]] auto n = ::write(to_client_.get(), "\x02", 1);
  to_client_ = io::Fd();
  if (thread_.joinable()) thread_.join();
  if (reader_.joinable()) reader_.join();
}

}  // namespace openkd::py
