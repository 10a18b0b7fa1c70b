// Random traffic for a host/target pair: packets each way, in turns (KD's
// request/reply discipline) or all at once (independent senders), and a
// checker that every packet arrives once, in order, byte-identical.
#pragma once
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "cpp_tests/link/sim.hpp"

namespace openkd::test {

struct Workload {
  std::vector<wire::kdcom::Packet> from_host, from_target;
  struct Turn {
    link::Role from;
    std::size_t count;
  };
  std::vector<Turn> turns;  // alternating, the target first (its state change)
};

/// `per_direction` packets each way with random data types and bodies of 0 to
/// 4000 bytes (at least `min_body`), split into turns of 1 to 3 packets.
Workload make_workload(std::uint64_t seed, std::size_t per_direction, std::size_t min_body = 0);

enum class Traffic {
  Turns,   // a side speaks only after it has received all the other side sent
  Duplex,  // both sides queue everything at once
};

inline std::ostream& operator<<(std::ostream& out, Traffic t) {
  return out << (t == Traffic::Turns ? "turns" : "duplex");
}

/// Drives a Sim with a Workload and checks what each side receives.
class Exchange {
public:
  Exchange(Sim& sim, const Workload& work, Traffic traffic, bool allow_repeats = false);

  /// Queues what may be queued now; call once before running.
  void start();
  bool done() const;

  std::size_t host_got = 0, target_got = 0;           // distinct packets delivered in order
  std::size_t host_completed = 0, target_completed = 0;  // SendComplete events
  std::size_t repeats = 0;                             // a packet delivered again right after itself
  std::size_t mismatches = 0, peer_gone = 0;
  std::string first_mismatch;

private:
  void on_event(link::Role side, const link::LinkEvent& event);
  void deliver(link::Role side, const wire::kdcom::Packet& packet);
  void advance_turns();

  Sim& sim_;
  const Workload& work_;
  Traffic traffic_;
  bool allow_repeats_;
  std::size_t next_turn_ = 0;
  std::size_t host_queued_ = 0, target_queued_ = 0;
};

}  // namespace openkd::test

namespace openkd::link {
/// For data-driven test names and messages.
inline std::ostream& operator<<(std::ostream& out, IdScheme s) {
  return out << (s == IdScheme::Kdcom ? "kdcom" : "kdnet");
}
}  // namespace openkd::link
