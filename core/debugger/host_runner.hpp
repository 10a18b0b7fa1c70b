// The thin Asio runner around HostSession: it opens the byte stream (and
// reopens it for `reconnect`), runs one reader coroutine, one writer with a
// bounded queue that coalesces frames into few writes (one frame per write on
// a datagram transport), and one timer armed at the session's next deadline
// (no polling). A datagram transport's "new session" read starts a fresh link
// on the same transport; its notices reach the event handler. Everything runs on one executor;
// every method must be called there. Events go to one handler, in order.
#pragma once
#include <boost/asio.hpp>
#include <chrono>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "core/debugger/host_session.hpp"
#include "core/io/byte_stream.hpp"

namespace openkd::debugger {

namespace asio = boost::asio;
using boost::system::error_code;
using io::ByteStream;

using StreamOpener = std::function<asio::awaitable<std::expected<std::unique_ptr<ByteStream>, std::string>>()>;

struct RunnerOptions {
  StreamOpener open;
  /// Reopen the transport when it drops (KD's `reconnect` for pipes and TCP).
  bool reconnect = false;
  /// How long opening the transport may take.
  std::chrono::milliseconds open_timeout{10000};
  /// How long one write may take before the target counts as gone (it stopped reading).
  std::chrono::milliseconds write_timeout{10000};
  /// Bytes waiting to be written at most; further frames are dropped like a
  /// lossy line (the link retransmits what matters) and counted.
  std::size_t max_queued_bytes = 1 << 20;
};

struct RunnerCounters {
  std::uint64_t writes = 0;          // write calls (each carries one or more frames)
  std::uint64_t frames_written = 0;
  std::uint64_t frames_dropped = 0;  // the queue was full
  std::uint64_t connects = 0;
};

class HostRunner {
public:
  using EventHandler = std::function<void(HostEvent&&)>;
  /// `opened` is told once: the first open's outcome (an error when it failed
  /// and there is no reconnect).
  HostRunner(asio::any_io_executor ex, HostConfig config, RunnerOptions options, EventHandler on_event,
             std::function<void(std::expected<void, std::string>)> opened);
  ~HostRunner();
  HostRunner(const HostRunner&) = delete;
  HostRunner& operator=(const HostRunner&) = delete;

  void start();
  /// Closes the transport; the coroutines end. No event is delivered after it.
  void stop();

  /// The state machine, for inputs (submit, break_in, answers). Call pump() after.
  HostSession& session() { return session_; }
  /// Writes what the session produced, delivers its events, re-arms the timer.
  void pump();

  const RunnerCounters& counters() const { return counters_; }
  /// "pipe /tmp/x" while connected, else "".
  std::string describe() const;
  /// The transport's counters as one line ("" when it keeps none or is closed).
  std::string transport_statistics() const;

private:
  struct State;  // what the coroutines share; they hold it by shared_ptr
  asio::awaitable<void> connect_loop(std::shared_ptr<State> st);
  asio::awaitable<void> write_loop(std::shared_ptr<State> st, std::uint64_t generation);
  asio::awaitable<void> timer_loop(std::shared_ptr<State> st);

  asio::any_io_executor ex_;
  HostSession session_;
  RunnerOptions options_;
  EventHandler on_event_;
  std::function<void(std::expected<void, std::string>)> opened_;
  RunnerCounters counters_;
  std::shared_ptr<State> state_;
};

}  // namespace openkd::debugger
