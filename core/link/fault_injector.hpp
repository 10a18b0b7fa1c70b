// Seeded faults on the link's bytes (kdsim --faults, kdproxy --faults): drop, corrupt, duplicate
// or truncate a chunk, and delay everything by a fixed time. The random
// stream is fully specified (xorshift-style splitmix64), so a seed gives the
// same faults on every platform.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/bytes.hpp"

namespace openkd::link {

struct FaultConfig {
  double drop = 0, corrupt = 0, dup = 0, truncate = 0;  // probabilities per chunk, 0..1
  std::chrono::milliseconds delay{0};
  std::uint64_t seed = 1;
  bool any() const { return drop > 0 || corrupt > 0 || dup > 0 || truncate > 0 || delay.count() > 0; }
};

/// Parses "drop=P,corrupt=P,dup=P,truncate=P,delay=MS,seed=N" (any subset, any order).
std::expected<FaultConfig, std::string> parse_faults(std::string_view spec);

struct FaultCounters {
  std::uint64_t chunks = 0, dropped = 0, corrupted = 0, duplicated = 0, truncated = 0;
};

class FaultInjector {
public:
  FaultInjector(const FaultConfig& config, std::uint64_t stream);
  /// What goes on for one chunk: nothing (dropped), it (maybe damaged), or it twice.
  std::vector<wire::Bytes> apply(wire::Bytes chunk);
  const FaultCounters& counters() const { return counters_; }

private:
  std::uint64_t next();
  double uniform();  // [0, 1)
  FaultConfig config_;
  std::uint64_t state_;
  FaultCounters counters_;
};

}  // namespace openkd::link
