#include "tools/kd/console.hpp"

#include <cerrno>
#include <editline/readline.h>
#include <iostream>
#include <poll.h>
#include <unistd.h>

namespace openkd::kd {

// libedit calls its getc hook with no user data: the one ConsoleInput reading
// through libedit is found here (kd has one console).
ConsoleInput* libedit_input = nullptr;

// Ctrl-B quits kd at the prompt, as in KD. libedit's rl_bind_key binds nothing
// but rl_insert, so the key is caught where characters are read: it ends the
// line as end-of-input would.
int console_read_key(FILE*) {
  if (!libedit_input) return EOF;
  int c = libedit_input->read_byte();
  if (c == -2) {
    libedit_input->restarted_.store(true);
    return EOF;
  }
  if (c < 0) return EOF;
  ++libedit_input->typed_;
  if (c == 0x02) {
    libedit_input->quit_key_.store(true);
    return EOF;
  }
  return c;
}

ConsoleInput::ConsoleInput() : terminal_(::isatty(STDIN_FILENO)) {
  if (::pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
}

ConsoleInput::~ConsoleInput() {
  if (libedit_input == this) libedit_input = nullptr;
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

bool ConsoleInput::restart_if_untouched() {
  if (typed_.load() != 0) return false;
  restart_.store(true);
  if (wake_[1] >= 0) {
    char b = 1;
    [[maybe_unused]] auto n = ::write(wake_[1], &b, 1);
  }
  return true;
}

void ConsoleInput::interrupt() {
  interrupted_.store(true);
  if (wake_[1] >= 0) {
    char b = 1;
    [[maybe_unused]] auto n = ::write(wake_[1], &b, 1);
  }
}

int ConsoleInput::read_byte() {
  for (;;) {
    if (interrupted_.load()) return -1;
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int r = ::poll(fds, wake_[0] >= 0 ? 2 : 1, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (fds[1].revents) {
      if (restart_.exchange(false) && !interrupted_.load()) {
        char b;
        [[maybe_unused]] auto n = ::read(wake_[0], &b, 1);
        return -2;  // restart_if_untouched()
      }
      return -1;  // interrupt()
    }
    if (!fds[0].revents) continue;
    unsigned char c;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 1) return c;
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return -1;
  }
}

std::optional<std::string> ConsoleInput::read_line(const std::string& prompt) {
  if (interrupted_.load() || quit_key_.load()) return std::nullopt;
  restarted_.store(false);
  typed_.store(0);
  if (terminal_) {
    libedit_input = this;
    rl_getc_function = console_read_key;
    char* line = ::readline(prompt.c_str());
    if (!line || quit_key_.load() || interrupted_.load() || restarted_.load()) {
      std::free(line);
      return std::nullopt;
    }
    std::string s(line);
    std::free(line);
    if (!s.empty()) ::add_history(s.c_str());
    return s;
  }
  // Not a terminal: bytes up to the newline (the caller echoes what the line was for).
  std::string s;
  for (;;) {
    int c = read_byte();
    if (c < 0) {
      if (s.empty() || interrupted_.load()) return std::nullopt;
      break;  // a last line without its newline
    }
    if (c == '\n') break;
    s.push_back(char(c));
    if (s.size() > 1 << 20) break;  // one line at most 1 MiB
  }
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

void ConsoleOutput::put(std::string_view text) {
  if (text.empty()) return;
  if (!silent_) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  at_line_start_ = text.back() == '\n';
}

void ConsoleOutput::write(std::string_view text) {
  std::lock_guard lock(mutex_);
  put(text);
  if (tee_) tee_(text);
}

void ConsoleOutput::write_line(std::string_view text) {
  std::lock_guard lock(mutex_);
  if (!at_line_start_) {
    put("\n");
    if (tee_) tee_("\n");
  }
  put(text);
  if (tee_) tee_(text);
}

bool console_is_terminal() { return ::isatty(STDIN_FILENO); }

void ConsoleOutput::write_local(std::string_view text) {
  std::lock_guard lock(mutex_);
  put(text);
}

bool ConsoleOutput::is_terminal() const { return !silent_ && ::isatty(STDOUT_FILENO); }

void ConsoleOutput::set_tee(std::function<void(std::string_view)> tee) {
  std::lock_guard lock(mutex_);
  tee_ = std::move(tee);
}

}  // namespace openkd::kd
