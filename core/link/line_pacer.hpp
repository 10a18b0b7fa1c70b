// The pace of a serial line, as an I/O-free token bucket with time as an input.
// A UART at N baud with 8N1 framing sends 10 bits a byte (start, 8 data, stop),
// so N/10 bytes a second. A pseudo-terminal or a socket has no such clock;
// whoever wants one to behave like a real line asks this class when bytes may
// go. One class for both ends: the simulator's output (simulator.cpp) and kd's
// writes to a pty (backends/paced_stream.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/link/link_types.hpp"

namespace openkd::link {

class LinePacer {
public:
  /// `burst`: bytes the line may be handed ahead of the wire, like a UART's
  /// transmit FIFO (16 on a 16550A). 0: a byte is handed over only once the
  /// previous ones have left.
  explicit LinePacer(std::uint32_t baud, std::size_t burst = 0);

  /// How long `n` bytes take on the wire (10 bits each).
  Duration wire_time(std::size_t n) const;
  /// The earliest time at or after `now` when `n` bytes may be handed over
  /// without running more than `burst` bytes ahead of the wire.
  TimePoint ready_at(std::size_t n, TimePoint now) const;
  /// Hands `n` bytes to the line at `now` (a caller that comes before
  /// ready_at() is not refused: the line just stays busy longer). Returns
  /// when the last of them has left.
  TimePoint send(std::size_t n, TimePoint now);
  /// When everything handed over so far has left (a time in the past when idle).
  TimePoint line_free() const { return line_free_; }
  std::uint32_t baud() const { return baud_; }
  std::size_t burst() const { return burst_; }

private:
  std::uint32_t baud_;
  std::size_t burst_;
  TimePoint line_free_{};
};

}  // namespace openkd::link
