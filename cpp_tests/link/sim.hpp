// A host Link and a target Link joined by an in-memory channel that drops,
// corrupts, duplicates, truncates and delays frames, seeded, with simulated
// time that only the test advances.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/link/link.hpp"

namespace openkd::test {

using link::TimePoint;
using namespace std::chrono_literals;

/// A steady fixed origin for simulated time (a value, not a clock read).
inline TimePoint sim_epoch() { return TimePoint{} + std::chrono::hours(1); }

/// Probability of each fault per frame, drawn independently.
struct FaultRates {
  double drop = 0, corrupt = 0, duplicate = 0, truncate = 0, delay = 0;
  static FaultRates all(double p) { return {p, p, p, p, p}; }
};

enum class Transport {
  Stream,    // KDCOM: bytes in order; a frame may arrive in several pieces
  Datagram,  // KDNET: one frame per datagram; datagrams may overtake each other
};

struct ChannelStats {
  std::uint64_t frames = 0, dropped = 0, corrupted = 0, duplicated = 0, truncated = 0, delayed = 0;
};

/// One direction of the wire.
class Channel {
public:
  Channel(Transport transport, FaultRates faults, std::uint64_t seed);
  void send(const wire::Bytes& frame, TimePoint now);
  std::optional<TimePoint> next_arrival() const;
  /// The earliest due piece, if its time has come.
  std::optional<wire::Bytes> take_due(TimePoint now);
  const ChannelStats& stats() const { return stats_; }

  /// While set, everything sent is lost (the peer is unplugged).
  bool cut = false;
  std::chrono::milliseconds latency{2};
  std::chrono::milliseconds max_extra_delay{250};

private:
  struct InTransit {
    TimePoint at;
    std::uint64_t order;
    wire::Bytes bytes;
  };
  bool chance(double p);
  void corrupt(wire::Bytes& frame);
  void enqueue(wire::Bytes bytes, TimePoint at);

  Transport transport_;
  FaultRates faults_;
  std::mt19937_64 rng_;
  std::vector<InTransit> queue_;
  std::uint64_t order_ = 0;
  TimePoint last_arrival_{};
  ChannelStats stats_;
};

/// Both ends and both directions, run on simulated time.
class Sim {
public:
  Sim(link::LinkConfig host_config, link::LinkConfig target_config, Transport transport, FaultRates faults,
      std::uint64_t seed);

  link::Link host, target;
  Channel to_target, to_host;
  TimePoint now = sim_epoch();

  /// Called for every event, in the order the links emit them.
  std::function<void(link::Role side, const link::LinkEvent&)> on_event;

  /// OPENKD_LINK_TRACE set in the environment: every frame and event to stderr.
  bool trace = false;

  /// Runs until `done` holds (true) or nothing is left to happen or simulated
  /// time passes `limit` (false).
  bool run_until(const std::function<bool()>& done, std::chrono::seconds limit);
  /// Advances simulated time by `span`, processing everything on the way.
  void run_for(std::chrono::milliseconds span);

private:
  bool settle();  // moves frames, deliveries and events until quiet at `now`
  std::optional<TimePoint> next_time() const;
  void fire_timers();
  void log(const char* what, link::Role side, const std::string& text) const;
};

/// Every figure of a LinkCounters, one "name=value" list.
std::string format_counters(const link::LinkCounters& c);
std::string format_stats(const ChannelStats& s);

}  // namespace openkd::test
