// The byte-stream seam between the KD session and its transport. Backends
// (pipe, TCP, serial, the embedded simulator) implement it; the session uses it.
#pragma once
#include <boost/asio.hpp>
#include <string>
#include <tuple>

namespace openkd::debugger {

namespace asio = boost::asio;
using boost::system::error_code;

class Stream {
public:
  virtual ~Stream() = default;
  /// Reads what is available (at least one byte); EOF and errors come back as codes.
  virtual asio::awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer buf) = 0;
  virtual asio::awaitable<error_code> write_all(asio::const_buffer buf) = 0;
  virtual void close() = 0;
  /// "pipe /tmp/x", "tcp host:port", "serial /dev/ttyS0 @115200" for messages.
  virtual std::string describe() const = 0;
};

}  // namespace openkd::debugger
