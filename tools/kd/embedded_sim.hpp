// `-k sim`: the simulated kernel running inside kd, on its own thread, joined to
// the session by a socketpair, exactly as kdsim is joined by a pipe. It starts
// held at its first instruction (--break-on-boot), so kd opens at a prompt.
#pragma once
#include <expected>
#include <memory>
#include <string>

#include "backends/connect_string.hpp"

namespace openkd::kd {

class EmbeddedSimulator {
public:
  static std::expected<std::unique_ptr<EmbeddedSimulator>, std::string> start(const backends::ConnectSpec& spec);
  virtual ~EmbeddedSimulator() = default;
  /// The debugger's end of the link (kd dup()s it).
  virtual int debugger_fd() const = 0;
  virtual void stop() = 0;
  /// Where the simulated kernel's PDBs are: its build's folder, then the default
  /// build's (kd's symbol path when neither -y nor _NT_SYMBOL_PATH gives one).
  const std::string& symbol_path() const { return symbol_path_; }

protected:
  std::string symbol_path_;
};

}  // namespace openkd::kd
