#include "listener.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace openkd::kdsim {
namespace {
std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }
void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }
}  // namespace

Listener::Listener(Listener&& o) noexcept
    : listen_fd_(o.listen_fd_), peer_fd_(o.peer_fd_), pty_slave_(o.pty_slave_), where_(std::move(o.where_)),
      unlink_path_(std::move(o.unlink_path_)) {
  o.listen_fd_ = o.peer_fd_ = o.pty_slave_ = -1;
  o.unlink_path_.clear();
}

Listener::~Listener() {
  if (peer_fd_ >= 0) ::close(peer_fd_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (pty_slave_ >= 0) ::close(pty_slave_);
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
}

std::expected<Listener, std::string> Listener::open(const Options& o) {
  Listener l;
  if (o.listen == Options::Listen::Pipe) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (o.pipe_path.size() >= sizeof(addr.sun_path)) return std::unexpected("pipe path too long: " + o.pipe_path);
    std::memcpy(addr.sun_path, o.pipe_path.c_str(), o.pipe_path.size() + 1);
    l.listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l.listen_fd_ < 0) return std::unexpected(sys_error("socket"));
    ::unlink(o.pipe_path.c_str());  // a stale socket from an earlier run
    if (::bind(l.listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return std::unexpected(sys_error("bind " + o.pipe_path));
    if (::listen(l.listen_fd_, 1) != 0) return std::unexpected(sys_error("listen"));
    l.unlink_path_ = o.pipe_path;
    l.where_ = "pipe:" + o.pipe_path;
  } else if (o.listen == Options::Listen::Tcp) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (int e = ::getaddrinfo(o.tcp_host.c_str(), o.tcp_port.c_str(), &hints, &res); e != 0)
      return std::unexpected("cannot resolve " + o.tcp_host + ": " + gai_strerror(e));
    l.listen_fd_ = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    ::setsockopt(l.listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = l.listen_fd_ >= 0 && ::bind(l.listen_fd_, res->ai_addr, res->ai_addrlen) == 0 && ::listen(l.listen_fd_, 1) == 0;
    ::freeaddrinfo(res);
    if (!ok) return std::unexpected(sys_error("listen on tcp:" + o.tcp_host + ":" + o.tcp_port));
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(l.listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
    unsigned port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                                : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    l.where_ = "tcp:" + o.tcp_host + ":" + std::to_string(port);
  } else {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return std::unexpected(sys_error("posix_openpt"));
    const char* name = ::ptsname(master);
    if (!name) return std::unexpected(sys_error("ptsname"));
    // Keep a slave descriptor open so the master never sees a hang-up between
    // debuggers, and make the line raw: KD packets are binary.
    l.pty_slave_ = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (l.pty_slave_ < 0) return std::unexpected(sys_error(std::string("open ") + name));
    termios t{};
    ::tcgetattr(l.pty_slave_, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(l.pty_slave_, TCSANOW, &t);
    ::tcgetattr(master, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(master, TCSANOW, &t);
    set_nonblocking(master);
    l.peer_fd_ = master;
    l.where_ = std::string("pty:") + name;
  }
  if (l.listen_fd_ >= 0) set_nonblocking(l.listen_fd_);
  return l;
}

bool Listener::accept_peer() {
  if (listen_fd_ < 0 || peer_fd_ >= 0) return false;
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on a Unix socket
  peer_fd_ = fd;
  return true;
}

void Listener::drop_peer() {
  if (is_pty() || peer_fd_ < 0) return;
  ::close(peer_fd_);
  peer_fd_ = -1;
}

}  // namespace openkd::kdsim
