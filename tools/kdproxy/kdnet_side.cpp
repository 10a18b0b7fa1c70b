#include "kdnet_side.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cstring>

namespace openkd::kdproxy {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
namespace kn = link::kdnet;

std::expected<std::unique_ptr<KdnetTargetStream>, std::string> KdnetTargetStream::open(
    asio::any_io_executor ex, const backends::KdnetTargetSpec& spec) {
  backends::KdnetTargetSpec s = spec;
  if (!s.bind) s.bind = 0;  // all addresses
  auto t = backends::KdnetTarget::open(s);
  if (!t) return std::unexpected("--listen kdnet: " + t.error());
  int fd = ::dup((*t)->fd());
  if (fd < 0) return std::unexpected("--listen kdnet: " + std::string(std::strerror(errno)));
  return std::unique_ptr<KdnetTargetStream>(new KdnetTargetStream(ex, std::move(*t), fd));
}

KdnetTargetStream::KdnetTargetStream(asio::any_io_executor ex, std::unique_ptr<backends::KdnetTarget> t, int fd)
    : target_(std::move(t)), readable_(ex, fd), timer_(ex) {}

std::string KdnetTargetStream::where() const {
  auto peer = target_->poke_target();
  return "udp:" + kn::to_string(target_->self()) +
         (peer ? ", POKEing the debugger at " + kn::to_string(*peer) : ", waiting for a debugger (target=)");
}

std::string KdnetTargetStream::peer() const { return debugger_; }

asio::awaitable<io::ReadResult> KdnetTargetStream::read_some(asio::mutable_buffer buf) {
  using Clock = backends::KdnetTarget::Clock;
  for (;;) {
    if (closed_) co_return io::ReadResult{asio::error::operation_aborted, 0};
    target_->receive(Clock::now());
    while (auto e = target_->take_event()) {
      if (auto* started = std::get_if<kn::SessionStarted>(&*e)) {
        debugger_ = "KDNET debugger at " + kn::to_string(started->peer);
        if (notice_) notice_("KDNET session with the debugger at " + kn::to_string(started->peer) +
                                 (started->restart ? " (a new debugger)" : ""), true);
      } else if (notice_) {
        notice_(kn::describe(*e), false);
      }
    }
    if (auto p = target_->take_payload()) {
      std::size_t n = std::min(p->size(), buf.size());  // a payload is at most a datagram: the 64 KiB buffer holds it
      std::memcpy(buf.data(), p->data(), n);
      co_return io::ReadResult{error_code{}, n};
    }
    // Wait for a datagram or the endpoint's next timer (POKE, replay windows), 50 ms at most.
    auto wait = std::chrono::milliseconds(50);
    if (auto d = target_->next_deadline()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*d - Clock::now());
      wait = std::clamp(left, std::chrono::milliseconds(1), wait);
    }
    timer_.expires_after(wait);
    co_await (readable_.async_wait(asio::posix::descriptor_base::wait_read, asio::as_tuple(asio::use_awaitable)) ||
              timer_.async_wait(asio::as_tuple(asio::use_awaitable)));
  }
}

asio::awaitable<error_code> KdnetTargetStream::write_all(asio::const_buffer buf) {
  if (closed_) co_return asio::error::operation_aborted;
  target_->send(wire::ByteView(static_cast<const std::uint8_t*>(buf.data()), buf.size()),
                backends::KdnetTarget::Clock::now());
  co_return error_code{};
}

void KdnetTargetStream::close() {
  closed_ = true;
  error_code ec;
  readable_.cancel(ec);
  timer_.cancel();
}

}  // namespace openkd::kdproxy
