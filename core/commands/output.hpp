// Where the engine's text goes. kd writes to its terminal, the remoting server
// to its clients, tests to a string; all of them implement this one interface.
#pragma once
#include <string>
#include <string_view>
#include <utility>

namespace openkd::commands {

class Output {
public:
  virtual ~Output() = default;
  /// Appends text; lines end with '\n'. May be called with partial lines.
  virtual void write(std::string_view text) = 0;
  /// True when a human watches a terminal: enables progress bars ('\r' redraws).
  virtual bool is_terminal() const { return false; }
};

/// Collects everything written (tests, remoting replies).
class StringOutput final : public Output {
public:
  void write(std::string_view text) override { text_.append(text); }
  const std::string& text() const { return text_; }
  std::string take() { return std::exchange(text_, {}); }

private:
  std::string text_;
};

}  // namespace openkd::commands
