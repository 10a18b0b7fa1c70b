#include "tools/kd/console_reader.hpp"

namespace openkd::kd {

ConsoleReader::ConsoleReader(ConsoleInput& input, Hooks hooks, std::chrono::milliseconds eof_grace,
                             std::size_t max_queued)
    : input_(input), hooks_(std::move(hooks)), eof_grace_(eof_grace), max_queued_(max_queued) {}

ConsoleReader::~ConsoleReader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  input_.interrupt();
  if (thread_.joinable()) thread_.join();
}

void ConsoleReader::start() { thread_ = std::thread([this] { run(); }); }

bool ConsoleReader::is_quit(const std::string& line) {
  std::size_t b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t");
  if (b == std::string::npos) return false;
  std::string word = line.substr(b, e - b + 1);
  return word == "q" || word == "qq" || word == "Q" || word == "QQ";
}

void ConsoleReader::idle(std::string prompt) {
  bool show = false;
  {
    std::lock_guard lock(mutex_);
    idle_ = true;
    prompt_ = prompt;
    // A terminal read that began while a command ran shows no prompt: show it now.
    show = reading_blind_ && lines_.empty() && !prompt_id_;
    cv_.notify_all();
  }
  // Restart an untouched read with the prompt (libedit then draws it); if the
  // user is mid-line, only print it.
  if (show && !input_.restart_if_untouched() && hooks_.show_prompt) hooks_.show_prompt(prompt);
  deliver_if_idle();
}

void ConsoleReader::deliver_if_idle() {
  if (!hooks_.deliver) return;
  if (auto line = take_command()) hooks_.deliver(std::move(*line));
  else if (ended() && hooks_.wake) hooks_.wake();
}

void ConsoleReader::busy() {
  std::lock_guard lock(mutex_);
  idle_ = false;
}

std::optional<std::string> ConsoleReader::take_command() {
  std::string line;
  {
    std::lock_guard lock(mutex_);
    if (lines_.empty() || (hooks_.deliver && !idle_)) return std::nullopt;
    line = std::move(lines_.front());
    lines_.pop_front();
    idle_ = false;     // the engine runs it now
    cv_.notify_all();  // room in the FIFO again
  }
  if (!input_.terminal() && hooks_.echo) hooks_.echo(prompt_ + line + "\n");
  return line;
}

void ConsoleReader::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, d, [&] { return !lines_.empty() || eof_ || quit_; });
}

bool ConsoleReader::ended() const {
  std::lock_guard lock(mutex_);
  return quit_ || (eof_ && lines_.empty());
}

bool ConsoleReader::quit_requested() const {
  std::lock_guard lock(mutex_);
  return quit_;
}

void ConsoleReader::withdraw_target_prompt() {
  std::lock_guard lock(mutex_);
  prompt_id_.reset();  // the next line is a command again
  cv_.notify_all();
}

void ConsoleReader::target_prompt(std::uint64_t id, std::string text) {
  std::optional<std::string> answer;
  {
    std::lock_guard lock(mutex_);
    if (!lines_.empty()) {
      // A line typed (or piped) ahead answers it, as in KD.
      answer = std::move(lines_.front());
      lines_.pop_front();
      cv_.notify_all();
    } else if (eof_ || quit_ || stopping_) {
      answer = std::string();
    } else {
      prompt_id_ = id;  // the next line read answers it
      cv_.notify_all();
      return;
    }
  }
  (void)text;
  if (!input_.terminal() && hooks_.echo) hooks_.echo(*answer + "\n");
  hooks_.answer_prompt(id, std::move(*answer));
}

void ConsoleReader::run() {
  for (;;) {
    std::string prompt;
    {
      std::unique_lock lock(mutex_);
      // Bounded read-ahead: wait for room (a DbgPrompt always gets its line).
      cv_.wait(lock, [&] { return stopping_ || lines_.size() < max_queued_ || prompt_id_; });
      if (stopping_) return;
      // A terminal shows kd's prompt only when kd waits for a command.
      if (input_.terminal() && idle_ && lines_.empty() && !prompt_id_) prompt = prompt_;
      reading_blind_ = input_.terminal() && prompt.empty();
    }
    auto line = input_.read_line(prompt);
    std::unique_lock lock(mutex_);
    reading_blind_ = false;
    if (!line && input_.restarted()) continue;  // begin again, with kd's prompt
    if (stopping_) return;
    if (!line) {
      eof_ = true;
      if (input_.quit_key()) quit_ = true;
      std::optional<std::uint64_t> pending = std::exchange(prompt_id_, std::nullopt);
      const bool quit_now = quit_ && !idle_;
      cv_.notify_all();
      lock.unlock();
      if (pending) hooks_.answer_prompt(*pending, {});
      if (quit_now && hooks_.on_quit) hooks_.on_quit();
      if (hooks_.wake) hooks_.wake();
      if (quit_) return;
      // Input ended. Queued lines still run; once they are taken, a command
      // that still runs gets eof_grace to finish, then kd breaks in (it
      // would otherwise wait for ever).
      lock.lock();
      while (!stopping_) {
        if (lines_.empty() && idle_) return;  // kd ends at this idle
        if (lines_.empty()) {
          if (!cv_.wait_for(lock, eof_grace_, [&] { return stopping_ || idle_; })) {
            lock.unlock();
            if (hooks_.on_input_ended_while_busy) hooks_.on_input_ended_while_busy();
            // A target that does not stop for the break-in either: give up the
            // wait, as q would, so kd still ends.
            lock.lock();
            if (!cv_.wait_for(lock, eof_grace_, [&] { return stopping_ || idle_; })) {
              quit_ = true;
              lock.unlock();
              if (hooks_.on_quit) hooks_.on_quit();
            }
            return;
          }
          continue;
        }
        cv_.wait(lock, [&] { return stopping_ || lines_.empty(); });
      }
      return;
    }
    if (prompt_id_) {
      std::uint64_t id = *std::exchange(prompt_id_, std::nullopt);
      lock.unlock();
      if (!input_.terminal() && hooks_.echo) hooks_.echo(*line + "\n");
      hooks_.answer_prompt(id, std::move(*line));
      continue;
    }
    if (input_.terminal() && !idle_ && lines_.empty() && is_quit(*line)) {
      // q typed while the target runs: KD would wait for Ctrl-C; kd quits now.
      lines_.push_back(*line);
      quit_ = true;
      cv_.notify_all();
      lock.unlock();
      if (hooks_.on_quit) hooks_.on_quit();
      if (hooks_.wake) hooks_.wake();
      continue;
    }
    lines_.push_back(std::move(*line));
    cv_.notify_all();
    lock.unlock();
    deliver_if_idle();
  }
}

}  // namespace openkd::kd
