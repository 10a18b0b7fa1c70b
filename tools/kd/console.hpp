// kd's terminal: engine output and DbgPrint text share one locked stdout; input
// comes through libedit when stdin is a terminal, line by line otherwise.
#pragma once
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/commands/output.hpp"

namespace openkd::kd {

class ConsoleOutput final : public commands::Output {
public:
  explicit ConsoleOutput(bool silent) : silent_(silent) {}
  void write(std::string_view text) override;
  bool is_terminal() const override;
  /// Extra sink (remoting): everything written is also handed to it.
  void set_tee(std::function<void(std::string_view)> tee);
  /// To this console only (never teed): the local echo of typed commands, hub notices.
  void write_local(std::string_view text);
  /// A whole line that must not land in the middle of another (a notice while
  /// DbgPrint text without its newline is on the screen): starts a new line first.
  void write_line(std::string_view text);

private:
  std::mutex mutex_;
  bool silent_;
  std::function<void(std::string_view)> tee_;
  bool at_line_start_ = true;
  void put(std::string_view text);
};

/// True when stdin is a terminal (libedit shows prompts and echoes what is typed).
bool console_is_terminal();

/// kd's input: lines from stdin (libedit at a terminal, raw reads otherwise),
/// interruptible from another thread so the reader never outlives kd.
class ConsoleInput {
public:
  ConsoleInput();
  ~ConsoleInput();
  ConsoleInput(const ConsoleInput&) = delete;
  ConsoleInput& operator=(const ConsoleInput&) = delete;
  /// One line without its newline; nullopt at end of input, at Ctrl-B (then
  /// quit_key() is true) or after interrupt().
  std::optional<std::string> read_line(const std::string& prompt);
  /// Any thread: the read in progress (and every later one) returns nullopt.
  void interrupt();
  /// Any thread: if nothing has been typed into the read in progress, end it
  /// (read_line returns nullopt and restarted() is true) so it can begin
  /// again with another prompt. Returns false when the user is mid-line.
  bool restart_if_untouched();
  bool restarted() const { return restarted_.load(); }
  bool quit_key() const { return quit_key_.load(); }
  bool terminal() const { return terminal_; }

private:
  friend int console_read_key(FILE*);
  int read_byte();  // -1: end, interrupt or error
  bool terminal_;
  int wake_[2] = {-1, -1};
  std::string buffer_;
  std::atomic<bool> interrupted_{false}, quit_key_{false}, restart_{false}, restarted_{false};
  std::atomic<int> typed_{0};  // bytes read into the current line
};

}  // namespace openkd::kd
