#include "remote/framed_stream.hpp"

namespace openkd::remote {

asio::awaitable<std::expected<Message, ReadFailure>> FramedStream::read(
    std::optional<std::chrono::milliseconds> timeout) {
  auto ex = co_await asio::this_coro::executor;
  std::optional<asio::steady_timer> watchdog;
  auto timed_out = std::make_shared<bool>(false);
  if (timeout) {
    watchdog.emplace(ex, *timeout);
    watchdog->async_wait([s = stream_.get(), timed_out](error_code ec) {
      if (!ec) { *timed_out = true; s->close(); }
    });
  }
  while (true) {
    auto next = decoder_.next();
    if (!next) co_return std::unexpected(ReadFailure{ReadFailure::malformed, next.error().message});
    if (*next) co_return std::move(**next);
    auto [ec, n] = co_await stream_->read_some(asio::buffer(buffer_));
    if (*timed_out) co_return std::unexpected(ReadFailure{ReadFailure::timed_out, "timed out"});
    if (ec) co_return std::unexpected(ReadFailure{ReadFailure::closed, ec.message()});
    decoder_.push(ByteView(buffer_.data(), n));
  }
}

asio::awaitable<error_code> FramedStream::write(const Message& m) {
  Bytes frame = encode_frame(m);
  auto ec = co_await stream_->write_all(asio::buffer(frame));
  co_return ec;
}

asio::awaitable<error_code> FramedStream::write_bytes(const Bytes& frame) {
  auto ec = co_await stream_->write_all(asio::buffer(frame));
  co_return ec;
}

}  // namespace openkd::remote
