// A ByteStream whose writes go no faster than a UART at the given rate would
// take them (link::LinePacer, 16 bytes ahead like a 16550A's FIFO), for a
// pseudo-terminal standing in for a serial line: the kernel paces a real UART,
// nothing paces a pty. Reads pass through: the other end paces what it sends.
#pragma once
#include <cstdint>
#include <memory>

#include "core/io/byte_stream.hpp"

namespace openkd::backends {

/// Bytes handed to the pty ahead of the simulated wire (a 16550A's transmit FIFO).
inline constexpr std::size_t paced_burst = 16;

std::unique_ptr<io::ByteStream> make_paced_stream(std::unique_ptr<io::ByteStream> inner, std::uint32_t baud,
                                                  io::asio::any_io_executor ex);

}  // namespace openkd::backends
