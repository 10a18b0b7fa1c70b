#include "core/link/fault_injector.hpp"

#include <charconv>

namespace openkd::link {

std::expected<FaultConfig, std::string> parse_faults(std::string_view spec) {
  FaultConfig c;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) return std::unexpected("--faults: expected key=value, got '" + std::string(item) + "'");
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    std::string v(value);
    char* end = nullptr;
    if (key == "drop" || key == "corrupt" || key == "dup" || key == "truncate") {
      double p = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || p < 0 || p > 1) return std::unexpected("--faults: " + std::string(key) + " must be a probability 0..1");
      (key == "drop" ? c.drop : key == "corrupt" ? c.corrupt : key == "dup" ? c.dup : c.truncate) = p;
    } else if (key == "delay" || key == "seed") {
      std::uint64_t n = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || r.ec != std::errc{} || r.ptr != value.data() + value.size())
        return std::unexpected("--faults: " + std::string(key) + " must be a whole number");
      if (key == "delay") c.delay = std::chrono::milliseconds(n);
      else c.seed = n;
    } else {
      return std::unexpected("--faults: unknown key '" + std::string(key) + "'");
    }
  }
  return c;
}

FaultInjector::FaultInjector(const FaultConfig& config, std::uint64_t stream)
    : config_(config), state_(config.seed * 0x9E3779B97F4A7C15ull + stream) {}

std::uint64_t FaultInjector::next() {  // splitmix64 (Steele, Lea, Flood 2014)
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double FaultInjector::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::vector<wire::Bytes> FaultInjector::apply(wire::Bytes chunk) {
  ++counters_.chunks;
  if (chunk.empty()) return {};
  // Draw every decision every time, so one fault kind's rate does not shift
  // the others' random stream.
  double d = uniform(), c = uniform(), t = uniform(), u = uniform();
  std::uint64_t where = next();
  if (d < config_.drop) {
    ++counters_.dropped;
    return {};
  }
  if (c < config_.corrupt) {
    ++counters_.corrupted;
    chunk[where % chunk.size()] ^= static_cast<std::uint8_t>(1u << ((where >> 32) % 8));
  }
  if (t < config_.truncate && chunk.size() > 1) {
    ++counters_.truncated;
    chunk.resize(1 + (where >> 8) % (chunk.size() - 1));
  }
  if (u < config_.dup) {
    ++counters_.duplicated;
    return {chunk, chunk};
  }
  return {chunk};
}

}  // namespace openkd::link
