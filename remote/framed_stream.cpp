#include "remote/framed_stream.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace openkd::remote {

using namespace asio::experimental::awaitable_operators;

asio::awaitable<std::expected<Message, ReadFailure>> FramedStream::read(
    std::optional<std::chrono::milliseconds> timeout) {
  // One deadline for the whole message, however many reads it takes.
  std::optional<asio::steady_timer::time_point> deadline;
  if (timeout) deadline = asio::steady_timer::clock_type::now() + *timeout;
  while (true) {
    auto next = decoder_.next();
    if (!next) co_return std::unexpected(ReadFailure{ReadFailure::malformed, next.error().message});
    if (*next) co_return std::move(**next);
    io::ReadResult got;
    if (deadline) {
      asio::steady_timer timer(co_await asio::this_coro::executor, *deadline);
      auto r = co_await (stream_->read_some(asio::buffer(buffer_)) || io::close_at_expiry(timer, *stream_));
      if (r.index() == 1) co_return std::unexpected(ReadFailure{ReadFailure::timed_out, "timed out"});
      got = std::get<0>(r);
    } else {
      got = co_await stream_->read_some(asio::buffer(buffer_));
    }
    auto [ec, n] = got;
    if (ec) co_return std::unexpected(ReadFailure{ReadFailure::closed, ec.message()});
    decoder_.push(ByteView(buffer_.data(), n));
  }
}

asio::awaitable<error_code> FramedStream::write(const Message& m, std::optional<std::chrono::milliseconds> timeout) {
  Bytes frame = encode_frame(m);
  auto ec = co_await write_bytes(frame, timeout);
  co_return ec;
}

asio::awaitable<error_code> FramedStream::write_bytes(const Bytes& frame,
                                                      std::optional<std::chrono::milliseconds> timeout) {
  if (!timeout) {
    auto ec = co_await stream_->write_all(asio::buffer(frame));
    co_return ec;
  }
  asio::steady_timer timer(co_await asio::this_coro::executor, *timeout);
  auto r = co_await (stream_->write_all(asio::buffer(frame)) || io::close_at_expiry(timer, *stream_));
  if (r.index() == 1) co_return error_code(asio::error::timed_out);
  co_return std::get<0>(r);
}

}  // namespace openkd::remote
