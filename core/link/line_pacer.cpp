#include "core/link/line_pacer.hpp"

#include <algorithm>

namespace openkd::link {

LinePacer::LinePacer(std::uint32_t baud, std::size_t burst) : baud_(baud == 0 ? 1 : baud), burst_(burst) {}

Duration LinePacer::wire_time(std::size_t n) const {
  // 10 bits a byte at baud_ bits a second, in nanoseconds, rounded up so a
  // paced sender never runs ahead of the line. n * 1e10 fits in 64 bits for any
  // n below 1.8e9, far more than one write.
  const std::uint64_t ns = (static_cast<std::uint64_t>(n) * 10'000'000'000ull + baud_ - 1) / baud_;
  return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(ns));
}

TimePoint LinePacer::ready_at(std::size_t n, TimePoint now) const {
  // The bytes handed over but not yet on the wire, plus these n, may be at most
  // max(burst, n): line_free + wire_time(n) - t <= wire_time(max(burst, n)).
  // With n > burst (or burst 0) that is: the line has gone quiet.
  const TimePoint t = line_free_ + wire_time(n) - wire_time(std::max(burst_, n));
  return std::max(now, t);
}

TimePoint LinePacer::send(std::size_t n, TimePoint now) {
  line_free_ = std::max(line_free_, now) + wire_time(n);
  return line_free_;
}

}  // namespace openkd::link
