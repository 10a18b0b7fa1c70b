#include "backends/stream.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include "core/io/listener.hpp"

namespace openkd::backends {
namespace {

speed_t baud_constant(std::uint32_t baud) {
  switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: return 0;
  }
}

}  // namespace

std::expected<int, std::string> open_serial_fd(const std::string& path, std::uint32_t baud) {
  speed_t speed = baud_constant(baud);
  if (speed == 0)
    return std::unexpected(fmt::format("unsupported baud rate {} (expected 9600, 19200, 38400, 57600, 115200, "
                                       "230400, 460800 or 921600)", baud));
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::unexpected(fmt::format("cannot open serial port {}: {}", path, std::strerror(errno)));
  termios tio{};
  if (::tcgetattr(fd, &tio) != 0) {
    int e = errno;
    ::close(fd);
    return std::unexpected(fmt::format("{} is not a serial port or terminal: {}", path, std::strerror(e)));
  }
  ::cfmakeraw(&tio);
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  ::cfsetispeed(&tio, speed);
  ::cfsetospeed(&tio, speed);
  if (::tcsetattr(fd, TCSANOW, &tio) != 0) {
    int e = errno;
    ::close(fd);
    return std::unexpected(fmt::format("cannot configure {}: {}", path, std::strerror(e)));
  }
  return fd;
}

std::unique_ptr<ByteStream> stream_from_fd(asio::any_io_executor ex, int fd, std::string description) {
  return std::make_unique<io::AsioStream<asio::posix::stream_descriptor>>(asio::posix::stream_descriptor(ex, fd),
                                                                          std::move(description));
}

asio::awaitable<std::expected<std::unique_ptr<ByteStream>, std::string>> async_open_dup(int fd, std::string description) {
  auto ex = co_await asio::this_coro::executor;
  int mine = ::dup(fd);
  if (mine < 0) co_return std::unexpected("cannot reach " + description);
  co_return stream_from_fd(ex, mine, std::move(description));
}

asio::awaitable<std::expected<std::unique_ptr<ByteStream>, std::string>> async_open_stream(const ConnectSpec& spec) {
  auto ex = co_await asio::this_coro::executor;
  using Result = std::expected<std::unique_ptr<ByteStream>, std::string>;
  switch (spec.kind) {
    case ConnectSpec::Kind::Pipe: {
      auto c = co_await io::dial_unix(spec.path, "pipe", connect_timeout);
      if (!c) co_return Result(std::unexpect, c.error());
      co_return io::make_stream(std::move(*c));
    }
    case ConnectSpec::Kind::TcpSerial: {
      auto c = co_await io::dial_tcp(spec.path, spec.port, io::Family::any, connect_timeout);
      if (!c) co_return Result(std::unexpect, c.error());
      co_return io::make_stream(std::move(*c));
    }
    case ConnectSpec::Kind::Serial: {
      auto fd = open_serial_fd(spec.path, spec.baud);
      if (!fd) co_return Result(std::unexpect, fd.error());
      co_return stream_from_fd(ex, *fd, fmt::format("serial {} @{}", spec.path, spec.baud));
    }
    case ConnectSpec::Kind::Net:
      co_return Result(std::unexpect, "net: (KDNET) is not available in this build yet");
    case ConnectSpec::Kind::Sim:
      co_return Result(std::unexpect, "sim is opened by the session, not as a stream");
  }
  co_return Result(std::unexpect, "unknown connection kind");
}

}  // namespace openkd::backends
