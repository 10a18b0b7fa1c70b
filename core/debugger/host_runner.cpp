#include "core/debugger/host_runner.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

namespace openkd::debugger {

using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

// Shared by the runner and its coroutines. A coroutine that wakes after
// stop() sees `stopped` and ends without touching the runner.
struct HostRunner::State {
  explicit State(asio::any_io_executor ex) : write_signal(ex), deadline_timer(ex) {
    write_signal.expires_at(asio::steady_timer::time_point::max());
    deadline_timer.expires_at(asio::steady_timer::time_point::max());
  }
  HostRunner* runner = nullptr;  // null once stopped
  std::unique_ptr<ByteStream> stream;
  std::uint64_t generation = 0;  // one per opened stream
  std::deque<wire::Bytes> queued;  // frames waiting for the writer
  std::size_t queued_bytes = 0;
  asio::steady_timer write_signal;
  asio::steady_timer deadline_timer;
  std::optional<TimePoint> armed;
};

HostRunner::HostRunner(asio::any_io_executor ex, HostConfig config, RunnerOptions options, EventHandler on_event,
                       std::function<void(std::expected<void, std::string>)> opened)
    : ex_(ex),
      session_(config),
      options_(std::move(options)),
      on_event_(std::move(on_event)),
      opened_(std::move(opened)),
      state_(std::make_shared<State>(ex)) {
  state_->runner = this;
}

HostRunner::~HostRunner() { stop(); }

void HostRunner::start() {
  asio::co_spawn(ex_, connect_loop(state_), asio::detached);
  asio::co_spawn(ex_, timer_loop(state_), asio::detached);
}

void HostRunner::stop() {
  if (!state_->runner) return;
  state_->runner = nullptr;
  if (state_->stream) state_->stream->close();
  state_->write_signal.cancel();
  state_->deadline_timer.cancel();
}

std::string HostRunner::describe() const { return state_->stream ? state_->stream->peer() : std::string{}; }

std::string HostRunner::transport_statistics() const {
  return state_->stream ? state_->stream->statistics() : std::string{};
}

void HostRunner::pump() {
  // Frames to the writer, events to the handler, until neither produces more
  // (a handler may answer at once: a prompt, a file request).
  for (bool more = true; more && state_->runner;) {
    more = false;
    bool wrote = false;
    while (auto f = session_.take_frame()) {
      more = true;
      if (!state_->stream) continue;  // nowhere to send: a closed line loses bytes
      if (state_->queued_bytes + f->size() > options_.max_queued_bytes) {
        ++counters_.frames_dropped;  // a lossy line: the link retransmits what matters
        continue;
      }
      state_->queued_bytes += f->size();
      state_->queued.push_back(std::move(*f));
      ++counters_.frames_written;
      wrote = true;
    }
    if (wrote) state_->write_signal.cancel();
    while (auto e = session_.take_event()) {
      more = true;
      on_event_(std::move(*e));
      if (!state_->runner) return;
    }
  }
  if (!state_->runner) return;
  // The timer: re-armed only when the session's next deadline moved.
  if (session_.next_deadline() != state_->armed) state_->deadline_timer.cancel();
}

asio::awaitable<void> HostRunner::connect_loop(std::shared_ptr<State> st) {
  bool first = true;
  for (;;) {
    if (!st->runner) co_return;
    asio::steady_timer limit(ex_, options_.open_timeout);
    auto outcome = co_await (options_.open() || limit.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (!st->runner) co_return;
    std::expected<std::unique_ptr<ByteStream>, std::string> opened =
        outcome.index() == 0 ? std::move(std::get<0>(outcome))
                             : std::unexpected(fmt::format("the transport did not open within {} s",
                                                           options_.open_timeout.count() / 1000));
    if (!opened) {
      if (!options_.reconnect) {
        if (first) opened_(std::unexpected(opened.error()));
        co_return;
      }
      // reconnect: the VM may not be up yet; try again shortly.
      asio::steady_timer wait(ex_, std::chrono::milliseconds(250));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    st->stream = std::move(*opened);
    const std::uint64_t generation = ++st->generation;
    ++counters_.connects;
    st->queued.clear();
    st->queued_bytes = 0;
    // The transport's own notices (KDNET: authentication failures, a restart)
    // reach the handler as the session's do. The sink lives inside the stream,
    // which the state owns: it holds the state weakly (a strong hold would be a
    // cycle that keeps state, stream and socket alive after the runner ends).
    st->stream->set_notice_sink([weak = std::weak_ptr<State>(st)](std::string line, bool connection) {
      if (auto s = weak.lock(); s && s->runner) s->runner->on_event_(Notice{std::move(line), connection});
    });
    if (first) {
      first = false;
      opened_({});
    } else {
      on_event_(Notice{fmt::format("Reconnected to {}", st->stream->peer()), true});
    }
    session_.on_connected(Clock::now());
    asio::co_spawn(ex_, write_loop(st, generation), asio::detached);
    pump();

    std::array<std::uint8_t, 16384> buf;
    std::string why;
    for (;;) {
      auto [ec, n] = co_await st->stream->read_some(asio::buffer(buf));
      if (!st->runner) co_return;
      if (ec == io::StreamErrc::new_session) {
        // A datagram transport whose target started over: same transport, fresh
        // link. Frames the old link queued are not for the new target.
        st->queued.clear();
        st->queued_bytes = 0;
        session_.on_new_session(Clock::now());
        pump();
        continue;
      }
      if (ec || n == 0) {
        why = ec ? ec.message() : "end of file";
        break;
      }
      session_.on_bytes(wire::ByteView(buf.data(), n), Clock::now());
      pump();
    }
    std::string what = st->stream->peer();
    st->stream->close();
    st->stream.reset();
    st->queued.clear();
    st->queued_bytes = 0;
    st->write_signal.cancel();  // the writer of this generation ends
    session_.on_disconnected(fmt::format("{}: {}", what, why), Clock::now());
    pump();
    if (!st->runner || !options_.reconnect) co_return;
    on_event_(Notice{fmt::format("Lost connection to {} ({}); waiting to reconnect...", what, why), true});
  }
}

asio::awaitable<void> HostRunner::write_loop(std::shared_ptr<State> st, std::uint64_t generation) {
  wire::Bytes buffer;
  for (;;) {
    if (!st->runner || st->generation != generation || !st->stream) co_return;
    if (st->queued.empty()) {
      st->write_signal.expires_at(asio::steady_timer::time_point::max());
      co_await st->write_signal.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    // Everything queued goes in one write: under a flood of prints the ACKs
    // keep up with the target instead of one write per 16-byte frame. A
    // datagram transport takes one frame per write: each is one datagram.
    buffer.clear();
    if (st->stream->preserves_boundaries()) {
      buffer = std::move(st->queued.front());
      st->queued.pop_front();
    } else {
      for (auto& f : st->queued) buffer.insert(buffer.end(), f.begin(), f.end());
      st->queued.clear();
    }
    st->queued_bytes -= std::min(st->queued_bytes, buffer.size());
    ++counters_.writes;
    asio::steady_timer limit(ex_, options_.write_timeout);
    auto outcome = co_await (st->stream->write_all(asio::buffer(buffer)) ||
                             limit.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (!st->runner || st->generation != generation || !st->stream) co_return;
    if (outcome.index() == 1 || std::get<0>(outcome)) {
      // A target that takes nothing for write_timeout is gone; the reader
      // sees the close and reports it (and reconnects if asked to).
      st->stream->close();
      co_return;
    }
  }
}

asio::awaitable<void> HostRunner::timer_loop(std::shared_ptr<State> st) {
  for (;;) {
    if (!st->runner) co_return;
    st->armed = session_.next_deadline();
    st->deadline_timer.expires_at(st->armed ? *st->armed : asio::steady_timer::time_point::max());
    co_await st->deadline_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!st->runner) co_return;
    auto now = Clock::now();
    if (st->armed && now >= *st->armed) {
      session_.on_timer(now);
      pump();
    }
  }
}

}  // namespace openkd::debugger
