#include "backends/paced_stream.hpp"

#include <algorithm>

#include "core/link/line_pacer.hpp"

namespace openkd::backends {
namespace {

namespace asio = io::asio;
using io::error_code;
using Clock = std::chrono::steady_clock;

class PacedStream final : public io::ByteStream {
public:
  PacedStream(std::unique_ptr<io::ByteStream> inner, std::uint32_t baud, asio::any_io_executor ex)
      : state_(std::make_shared<State>(std::move(inner), baud, ex)) {}
  ~PacedStream() override { close(); }

  asio::awaitable<io::ReadResult> read_some(asio::mutable_buffer buf) override {
    auto st = state_;  // the coroutine owns what it touches, whatever happens to this object
    auto [ec, n] = co_await st->inner->read_some(buf);
    // This stream is a pty's (stream.cpp paces only those). On Linux, reading a
    // pty slave whose master has closed gives EIO, or end of file when the read
    // raced the close: both mean the other end hung up, so say it one way.
    if (ec == error_code(EIO, boost::system::system_category())) ec = asio::error::eof;
    co_return io::ReadResult{ec, n};
  }

  asio::awaitable<error_code> write_all(asio::const_buffer buf) override {
    auto st = state_;
    auto* p = static_cast<const std::uint8_t*>(buf.data());
    std::size_t left = buf.size();
    while (left > 0) {
      if (st->closed) co_return asio::error::operation_aborted;
      const std::size_t n = std::min(left, paced_burst);
      const auto now = Clock::now();
      const auto at = st->pacer.ready_at(n, now);
      if (at > now) {
        st->timer.expires_at(at);
        auto [ec] = co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (st->closed) co_return asio::error::operation_aborted;
        if (ec) co_return ec;
      }
      if (auto ec = co_await st->inner->write_all(asio::buffer(p, n)); ec) co_return ec;
      st->pacer.send(n, Clock::now());
      p += n;
      left -= n;
    }
    co_return error_code{};
  }

  void close() override {
    if (state_->closed) return;
    state_->closed = true;
    state_->timer.cancel();
    state_->inner->close();
  }
  std::string peer() const override { return state_->inner->peer(); }
  bool needs_keepalive_timeout() const override { return state_->inner->needs_keepalive_timeout(); }

private:
  struct State {
    State(std::unique_ptr<io::ByteStream> s, std::uint32_t baud, asio::any_io_executor ex)
        : inner(std::move(s)), pacer(baud, paced_burst), timer(ex) {}
    std::unique_ptr<io::ByteStream> inner;
    link::LinePacer pacer;
    asio::steady_timer timer;
    bool closed = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<io::ByteStream> make_paced_stream(std::unique_ptr<io::ByteStream> inner, std::uint32_t baud,
                                                  io::asio::any_io_executor ex) {
  return std::make_unique<PacedStream>(std::move(inner), baud, ex);
}

}  // namespace openkd::backends
