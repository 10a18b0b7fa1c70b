// kdsim's transports as file descriptors for poll(): a Unix-socket or TCP
// server that accepts one debugger at a time, a pseudo-terminal, or a serial
// device. The sockets and the pty come from core/io (listener.hpp, pty.hpp),
// the serial device from backends (serial_port.hpp); this class only keeps
// the one connected debugger.
#pragma once
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "core/io/listener.hpp"
#include "core/io/pty.hpp"
#include "options.hpp"

namespace openkd::kdsim {

class Listener {
public:
  static std::expected<Listener, std::string> open(const Options& o);

  /// Where it listens, for the one line kdsim prints ("pipe:/tmp/x", "tcp:127.0.0.1:5555", "pty:/dev/pts/3").
  const std::string& where() const { return where_; }
  /// The descriptor to poll for a new connection (-1 for a pty).
  int listen_fd() const { return socket_ ? socket_->native_handle() : -1; }
  /// The connected debugger's descriptor, or -1.
  int peer_fd() const { return peer_.get(); }
  bool accept_peer();
  /// Closes the debugger's connection (a pty stays open: it has no connections).
  void drop_peer();
  bool is_pty() const { return static_cast<bool>(pty_slave_); }

  /// --serial: the device is the connection. It has no listening descriptor;
  /// when it fails (unplugged, the pty's other side gone) drop_peer() closes
  /// it and reopen_device() tries again.
  bool is_serial() const { return !serial_device_.empty(); }
  /// Opens the serial device again; the error is one line.
  std::expected<void, std::string> reopen_device();

private:
  Listener() = default;
  // The context only gives the acceptor an executor: kdsim polls, nothing runs it.
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<io::Listener> socket_;
  io::Fd peer_, pty_slave_;
  std::string serial_device_;
  std::uint32_t serial_baud_ = 115200;
  std::string where_;
};

}  // namespace openkd::kdsim
