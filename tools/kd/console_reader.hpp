// kd's console turn-taking: who gets the next line typed (or piped) - kd's
// command loop or the target waiting in DbgPrompt - as one small state
// machine. One reader thread reads lines into a bounded FIFO; lines leave it
// in order, to whoever asks first:
//
//   engine state | a DbgPrompt arrives        | a line is read
//   -------------+----------------------------+-------------------------------------------
//   Idle         | answered by the next line   | queued for take_command()
//   Busy         | answered by the oldest      | at a terminal with nothing queued, q and qq
//                | queued line, else the next  | quit at once (on_quit); otherwise queued
//   (ended)      | answered with an empty line | -
//
// At a terminal the reader shows kd's prompt only when the engine is idle
// (KD shows none while the target runs); Ctrl-B quits at any time. Piped
// input is read ahead; each line is echoed (prompt and line) when it is
// used, so a transcript reads like a session. When input ends while a
// command still runs and nothing is queued, on_input_ended_while_busy is
// called after `eof_grace` (kd breaks in), and if the command still runs
// another `eof_grace` later kd gives up the wait as q would, so a script whose
// `g` never returns does not hang.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "tools/kd/console.hpp"

namespace openkd::kd {

class ConsoleReader {
public:
  struct Hooks {
    /// Answers the target's DbgPrompt `id` (the session's answer_prompt).
    std::function<void(std::uint64_t id, std::string answer)> answer_prompt;
    /// A transcript line for piped input (the echo of what was used).
    std::function<void(std::string_view text)> echo;
    /// q, qq or Ctrl-B typed while a command runs: quit now.
    std::function<void()> on_quit;
    /// Shows kd's prompt at a terminal whose read began while a command ran.
    std::function<void(std::string_view prompt)> show_prompt;
    /// A line for kd's command loop (kd was idle); it is echoed first for piped input.
    std::function<void(std::string line)> deliver;
    /// Something the command loop waits for changed (input ended, quit).
    std::function<void()> wake;
    /// Input ended while a command runs with nothing queued, for eof_grace.
    std::function<void()> on_input_ended_while_busy;
  };

  ConsoleReader(ConsoleInput& input, Hooks hooks, std::chrono::milliseconds eof_grace = std::chrono::seconds(5),
                std::size_t max_queued = 4096);
  ~ConsoleReader();  // interrupts the input and joins the reader
  ConsoleReader(const ConsoleReader&) = delete;
  ConsoleReader& operator=(const ConsoleReader&) = delete;

  void start();
  /// Engine thread: kd waits for a command and shows `prompt`.
  void idle(std::string prompt);
  /// Engine thread: a command runs.
  void busy();
  /// The next line for kd's command loop, echoed with the prompt for piped input.
  /// With a `deliver` hook lines are handed out by it instead, as soon as kd is idle.
  std::optional<std::string> take_command();
  /// Waits up to `d` for a line, the end of input or a quit.
  void wait(std::chrono::milliseconds d);
  /// Input ended (or Ctrl-B) and every line read was used.
  bool ended() const;
  /// Ctrl-B, or q/qq typed while a command ran.
  bool quit_requested() const;
  /// The session's I/O thread: the target waits in DbgPrompt (never blocks).
  void target_prompt(std::uint64_t id, std::string text);
  /// The DbgPrompt waiting for a line is gone (the target restarted or was lost).
  void withdraw_target_prompt();

private:
  void run();
  static bool is_quit(const std::string& line);
  void deliver_if_idle();  // hands the oldest line to `deliver` when kd is idle

  ConsoleInput& input_;
  Hooks hooks_;
  std::chrono::milliseconds eof_grace_;
  std::size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  bool idle_ = false;
  std::string prompt_;
  std::optional<std::uint64_t> prompt_id_;  // the DbgPrompt waiting for a line
  bool eof_ = false, quit_ = false, stopping_ = false;
  bool reading_blind_ = false;  // a terminal read without kd's prompt is in progress
  std::thread thread_;
};

}  // namespace openkd::kd
