// Messages over a io::ByteStream: a frame decoder on the read side, encoded frames
// on the write side, and reads that give up after a deadline.
#pragma once
#include <array>
#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "remote/frame.hpp"
#include "core/io/byte_stream.hpp"

namespace openkd::remote {

namespace asio = boost::asio;
using boost::system::error_code;

struct ReadFailure {
  enum Kind { closed, malformed, timed_out } kind;
  std::string message;
};

class FramedStream {
public:
  explicit FramedStream(std::unique_ptr<io::ByteStream> s) : stream_(std::move(s)) {}
  /// The next message. With a timeout, the stream is closed when it expires
  /// (closing ends any pending read, whatever the transport supports); the
  /// deadline is raced inside this coroutine, never left armed after it returns.
  asio::awaitable<std::expected<Message, ReadFailure>> read(
      std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  /// With a timeout, a peer that does not take the frame in time gets the
  /// stream closed and the result is asio::error::timed_out.
  asio::awaitable<error_code> write(const Message& m, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  asio::awaitable<error_code> write_bytes(const Bytes& frame,
                                          std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  io::ByteStream& stream() { return *stream_; }
  void close() { stream_->close(); }

private:
  std::unique_ptr<io::ByteStream> stream_;
  FrameDecoder decoder_;
  std::array<std::uint8_t, 16384> buffer_{};
};

}  // namespace openkd::remote
