#include "backends/stream.hpp"

#include <fmt/format.h>

#include "backends/paced_stream.hpp"
#include "backends/serial_port.hpp"

#include "backends/kdnet_stream.hpp"
#include "core/io/listener.hpp"

namespace openkd::backends {

std::expected<int, std::string> open_serial_fd(const std::string& path, std::uint32_t baud) {
  auto opened = open_serial_device(path, SerialSettings{baud, FlowControl::None});
  if (!opened) return std::unexpected(opened.error());
  return opened->fd;
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
      auto opened = open_serial_device(spec.path, SerialSettings{spec.baud, spec.flow});
      if (!opened) co_return Result(std::unexpect, opened.error());
      // A serial line never says it ended: silence is how a dead peer shows.
      std::unique_ptr<ByteStream> s = std::make_unique<io::AsioStream<asio::posix::stream_descriptor>>(
          asio::posix::stream_descriptor(ex, opened->fd), fmt::format("serial {} @{}", spec.path, spec.baud), true);
      // The kernel paces a UART; a pty goes as fast as the reader, so it is paced here.
      if (opened->pty) s = make_paced_stream(std::move(s), spec.baud, ex);
      co_return s;
    }
    case ConnectSpec::Kind::ListPorts:
      co_return Result(std::unexpect, "com:? lists the serial ports; it opens none");
    case ConnectSpec::Kind::Net:
      co_return co_await async_open_kdnet(spec);
    case ConnectSpec::Kind::Sim:
      co_return Result(std::unexpect, "sim is opened by the session, not as a stream");
  }
  co_return Result(std::unexpect, "unknown connection kind");
}

}  // namespace openkd::backends
