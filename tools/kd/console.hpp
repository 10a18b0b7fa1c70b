// kd's terminal: engine output and DbgPrint text share one locked stdout; input
// comes through libedit when stdin is a terminal, line by line otherwise.
#pragma once
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

private:
  std::mutex mutex_;
  bool silent_;
  std::function<void(std::string_view)> tee_;
};

/// True when stdin is a terminal (libedit shows prompts and echoes what is typed).
bool console_is_terminal();
/// Reads one command line; nullopt at end of input (or Ctrl-B / Ctrl-D at the terminal).
std::optional<std::string> read_command_line(const std::string& prompt, ConsoleOutput& out);

}  // namespace openkd::kd
