// kdsim's transports as file descriptors for poll(): a Unix-socket or TCP
// server that accepts one debugger at a time, or a pseudo-terminal.
#pragma once
#include <expected>
#include <string>

#include "options.hpp"

namespace openkd::kdsim {

class Listener {
public:
  static std::expected<Listener, std::string> open(const Options& o);
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&&) = delete;
  ~Listener();

  /// Where it listens, for the one line kdsim prints ("pipe:/tmp/x", "tcp:127.0.0.1:5555", "pty:/dev/pts/3").
  const std::string& where() const { return where_; }
  /// The descriptor to poll for a new connection (-1 for a pty).
  int listen_fd() const { return listen_fd_; }
  /// The connected debugger's descriptor, or -1.
  int peer_fd() const { return peer_fd_; }
  bool accept_peer();
  /// Closes the debugger's connection (a pty stays open: it has no connections).
  void drop_peer();
  bool is_pty() const { return pty_slave_ >= 0; }

private:
  Listener() = default;
  int listen_fd_ = -1, peer_fd_ = -1, pty_slave_ = -1;
  std::string where_, unlink_path_;
};

}  // namespace openkd::kdsim
