// Emulated I/O ports for the I/O-space APIs and the kernel's in/out: a 16550
// UART at 0x3F8 and an 8254 PIT at 0x40-0x43. State is visible and deterministic
// (the PIT counts emulated ticks, never the wall clock).
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace openkd::sim {

/// 16550 registers at base+0..7. What a debugger can observe: the scratch
/// register reads back, LSR reports the transmitter empty, THR bytes are kept.
class Uart16550 {
public:
  static constexpr std::uint16_t kBase = 0x3F8;
  std::uint8_t read(std::uint16_t offset);
  void write(std::uint16_t offset, std::uint8_t value);
  /// Bytes written to THR (the transmit holding register), oldest first.
  const std::string& transmitted() const { return transmitted_; }

private:
  bool dlab() const { return lcr_ & 0x80; }
  std::uint8_t ier_ = 0, lcr_ = 0x03, mcr_ = 0, scr_ = 0, fcr_ = 0;
  std::uint16_t divisor_ = 1;  // 115200 baud
  std::string transmitted_;
};

/// 8254 channel 0..2 counters; the count register decrements once per
/// emulated tick so software that polls it sees it move deterministically.
class Pit8254 {
public:
  static constexpr std::uint16_t kBase = 0x40;
  std::uint8_t read(std::uint16_t offset);
  void write(std::uint16_t offset, std::uint8_t value);
  void tick(std::uint64_t n = 1);

private:
  struct Channel {
    std::uint16_t reload = 0, count = 0, latched = 0;
    std::uint8_t mode = 0, access = 3;  // 3 = lobyte/hibyte
    bool latch_valid = false, read_high = false, write_high = false;
  };
  std::array<Channel, 3> channels_{};
};

class IoBus {
public:
  /// Reads `size` bytes (1, 2 or 4) from consecutive ports; unclaimed ports read as 0xFF.
  std::uint32_t read(std::uint16_t port, int size);
  void write(std::uint16_t port, int size, std::uint32_t value);
  Uart16550& uart() { return uart_; }
  Pit8254& pit() { return pit_; }

private:
  std::uint8_t read8(std::uint16_t port);
  void write8(std::uint16_t port, std::uint8_t value);
  Uart16550 uart_;
  Pit8254 pit_;
};

}  // namespace openkd::sim
