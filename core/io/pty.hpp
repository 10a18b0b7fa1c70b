// The one pseudo-terminal set-up of openkd: kdsim's --pty and the tests that
// stand in for a serial line open their pair here.
#pragma once
#include <expected>
#include <string>

namespace openkd::io {

/// An owned descriptor, closed on destruction.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release() { int f = fd_; fd_ = -1; return f; }
  explicit operator bool() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

struct PtyPair {
  Fd master;               ///< non-blocking, close-on-exec
  Fd slave;                ///< held open so the master sees no hang-up between users of the slave
  std::string slave_path;  ///< "/dev/pts/3": what a debugger opens as its serial line
};

/// Opens a pseudo-terminal pair with both ends raw (cfmakeraw: KD packets are
/// binary, so no byte is translated, echoed or taken as a signal).
std::expected<PtyPair, std::string> open_pty_pair();

}  // namespace openkd::io
