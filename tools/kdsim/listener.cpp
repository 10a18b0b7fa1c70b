#include "listener.hpp"

#include "backends/serial_port.hpp"

namespace openkd::kdsim {

std::expected<Listener, std::string> Listener::open(const Options& o) {
  Listener l;
  l.io_ = std::make_unique<boost::asio::io_context>();
  if (o.listen == Options::Listen::Pipe) {
    auto s = io::Listener::listen_unix(l.io_->get_executor(), o.pipe_path);
    if (!s) return std::unexpected(s.error());
    l.socket_ = std::move(*s);
    l.where_ = "pipe:" + o.pipe_path;
  } else if (o.listen == Options::Listen::Tcp) {
    unsigned port = 0;
    for (char c : o.tcp_port) {
      if (c < '0' || c > '9' || port > 65535) return std::unexpected("bad tcp port: " + o.tcp_port);
      port = port * 10 + unsigned(c - '0');
    }
    if (o.tcp_port.empty() || port > 65535) return std::unexpected("bad tcp port: " + o.tcp_port);
    io::TcpBind bind{o.tcp_host, std::uint16_t(port), std::uint16_t(port), io::Family::any};
    auto s = io::Listener::listen_tcp(l.io_->get_executor(), bind);
    if (!s) return std::unexpected("listen on tcp:" + o.tcp_host + ":" + o.tcp_port + ": " + s.error());
    l.socket_ = std::move(*s);
    l.where_ = "tcp:" + o.tcp_host + ":" + std::to_string(l.socket_->port());
  } else if (o.listen == Options::Listen::Serial) {
    l.serial_device_ = o.serial_device;
    if (o.sim.baud) l.serial_baud_ = o.sim.baud;
    if (auto r = l.reopen_device(); !r) return std::unexpected(r.error());
    l.where_ = "serial:" + o.serial_device;
  } else {
    // The slave stays open so the master never sees a hang-up between debuggers.
    auto pty = io::open_pty_pair();
    if (!pty) return std::unexpected(pty.error());
    l.peer_ = std::move(pty->master);
    l.pty_slave_ = std::move(pty->slave);
    l.where_ = "pty:" + pty->slave_path;
  }
  return l;
}

bool Listener::accept_peer() {
  if (!socket_ || peer_) return false;
  auto c = socket_->accept_now();
  if (!c) return false;
  peer_ = io::Fd(io::release_fd(*c));
  return static_cast<bool>(peer_);
}

std::expected<void, std::string> Listener::reopen_device() {
  // The pacing is the simulator's (--baud): kdsim writes what is due.
  auto opened = backends::open_serial_device(serial_device_, backends::SerialSettings{serial_baud_});
  if (!opened) return std::unexpected(opened.error());
  peer_ = io::Fd(opened->fd);
  return {};
}

void Listener::drop_peer() {
  if (is_pty()) return;
  peer_ = io::Fd();
}

}  // namespace openkd::kdsim
