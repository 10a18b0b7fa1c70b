#include "tools/kd/console.hpp"

#include <cerrno>
#include <editline/readline.h>
#include <iostream>
#include <unistd.h>

namespace openkd::kd {

namespace {
bool quit_key_pressed = false;

// Ctrl-B quits kd at the prompt, as in KD. libedit's rl_bind_key binds nothing
// but rl_insert, so the key is caught where characters are read: it ends the
// line as end-of-input would.
int read_key(FILE* in) {
  unsigned char c;
  for (;;) {
    ssize_t n = ::read(fileno(in), &c, 1);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    return EOF;
  }
  if (c == 0x02) {
    quit_key_pressed = true;
    return EOF;
  }
  return c;
}

std::mutex input_mutex;
}  // namespace

void ConsoleOutput::write(std::string_view text) {
  std::lock_guard lock(mutex_);
  if (!silent_) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  if (tee_) tee_(text);
}

bool console_is_terminal() { return ::isatty(STDIN_FILENO); }

void ConsoleOutput::write_local(std::string_view text) {
  std::lock_guard lock(mutex_);
  if (silent_) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

bool ConsoleOutput::is_terminal() const { return !silent_ && ::isatty(STDOUT_FILENO); }

void ConsoleOutput::set_tee(std::function<void(std::string_view)> tee) {
  std::lock_guard lock(mutex_);
  tee_ = std::move(tee);
}

std::optional<std::string> read_command_line(const std::string& prompt, ConsoleOutput& out) {
  std::lock_guard lock(input_mutex);
  if (::isatty(STDIN_FILENO)) {
    rl_getc_function = read_key;
    quit_key_pressed = false;
    char* line = ::readline(prompt.c_str());
    if (!line || quit_key_pressed) {
      std::free(line);
      return std::nullopt;
    }
    std::string s(line);
    std::free(line);
    if (!s.empty()) ::add_history(s.c_str());
    return s;
  }
  // Not a terminal: the caller echoes what it read (it knows what the line was for).
  (void)out;
  std::string s;
  if (!std::getline(std::cin, s)) return std::nullopt;
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

}  // namespace openkd::kd
