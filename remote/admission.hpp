// Before a client is admitted (issue 9): a cap on connections that have not
// finished authenticating, per source and in all, and failure log lines
// aggregated per source. I/O-free; time is an input.
#pragma once
#include <chrono>
#include <cstddef>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openkd::remote {

/// Where a connection comes from, for budgets and caps: the IP address for
/// tcp and ssl ("tcp 127.0.0.1:5005" -> "127.0.0.1", "[::1]" for IPv6), and
/// "local" for pipes and serial lines (one user's own sockets).
std::string source_of(std::string_view peer);

struct PreauthLimits {
  /// Connections from one source that have not finished authenticating.
  std::size_t per_source = 16;
  /// All such connections; beyond, new ones are refused at once.
  std::size_t total = 128;
};

struct PreauthCounts {
  PreauthLimits limits;
  std::map<std::string, std::size_t> by_source;
  std::size_t total = 0;
};

/// Counts unauthenticated connections. A Slot is held by the coroutine that
/// owns the connection until the client is admitted or dropped; it owns (shared)
/// the counters it gives back, so it may be destroyed after the hub's other state.
class PreauthSlots {
public:
  explicit PreauthSlots(PreauthLimits limits = {}) : counts_(std::make_shared<PreauthCounts>()) {
    counts_->limits = limits;
  }

  class Slot {
  public:
    Slot() = default;
    Slot(std::shared_ptr<PreauthCounts> c, std::string source) : counts_(std::move(c)), source_(std::move(source)) {}
    Slot(Slot&& o) noexcept = default;
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        release();
        counts_ = std::move(o.counts_);
        source_ = std::move(o.source_);
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }
    /// Gives the slot back (the client was admitted or dropped); idempotent.
    void release();

  private:
    std::shared_ptr<PreauthCounts> counts_;
    std::string source_;
  };

  /// A slot for a new connection from source, or the one-line reason it is refused.
  std::expected<Slot, std::string> take(const std::string& source);
  std::size_t total() const { return counts_->total; }

private:
  std::shared_ptr<PreauthCounts> counts_;
};

/// Failure lines for the host's console, at most two per source per interval:
/// the first event is shown as it happens; the rest of the interval is one
/// summary line with counts ("openkd: 127.0.0.1: 7 wrong passwords, 190 refused
/// (guess budget spent) in the last 10 s").
class FailureLog {
public:
  using Clock = std::chrono::steady_clock;
  explicit FailureLog(std::chrono::milliseconds interval = std::chrono::seconds(10)) : interval_(interval) {}
  /// Records one event of `kind` ("wrong passwords", ...). Returns `line` when it
  /// is to be shown now (the first for this source in its interval).
  std::optional<std::string> record(const std::string& source, const std::string& kind, std::string line,
                                    Clock::time_point now);
  /// Summary lines for the sources whose interval has ended.
  std::vector<std::string> flush(Clock::time_point now);

private:
  struct Window {
    Clock::time_point start;
    std::map<std::string, unsigned> held;  ///< kind -> events not shown yet
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, Window> windows_;
};

}  // namespace openkd::remote
