#include "core/io/pty.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace openkd::io {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

bool make_raw(int fd) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) return false;
  ::cfmakeraw(&t);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  return ::tcsetattr(fd, TCSANOW, &t) == 0;
}
}  // namespace

std::expected<PtyPair, std::string> open_pty_pair() {
  PtyPair p;
  p.master = Fd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master) return std::unexpected(sys_error("posix_openpt"));
  if (::grantpt(p.master.get()) != 0 || ::unlockpt(p.master.get()) != 0)
    return std::unexpected(sys_error("grantpt/unlockpt"));
  char name[128] = {};
  if (::ptsname_r(p.master.get(), name, sizeof name) != 0) return std::unexpected(sys_error("ptsname"));
  p.slave_path = name;
  p.slave = Fd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.slave) return std::unexpected(sys_error("open " + p.slave_path));
  if (!make_raw(p.slave.get()) || !make_raw(p.master.get()))
    return std::unexpected(sys_error("cannot make " + p.slave_path + " raw"));
  ::fcntl(p.master.get(), F_SETFL, ::fcntl(p.master.get(), F_GETFL) | O_NONBLOCK);
  return p;
}

}  // namespace openkd::io
