#include "simulator/io_ports.hpp"

namespace openkd::sim {

// ---- 16550 (register map from the National Semiconductor PC16550D data sheet)
std::uint8_t Uart16550::read(std::uint16_t offset) {
  switch (offset) {
    case 0: return dlab() ? static_cast<std::uint8_t>(divisor_) : 0;  // RBR: nothing received
    case 1: return dlab() ? static_cast<std::uint8_t>(divisor_ >> 8) : ier_;
    case 2: return (fcr_ & 1) ? 0xC1 : 0x01;  // IIR: no interrupt pending; FIFOs enabled bits
    case 3: return lcr_;
    case 4: return mcr_;
    case 5: return 0x60;  // LSR: THR empty (0x20) and transmitter empty (0x40), no data ready
    case 6: return (mcr_ & 0x10) ? static_cast<std::uint8_t>((mcr_ & 0x0F) << 4) : 0xB0;  // MSR (loopback aware)
    case 7: return scr_;
  }
  return 0xFF;
}

void Uart16550::write(std::uint16_t offset, std::uint8_t value) {
  switch (offset) {
    case 0:
      if (dlab()) divisor_ = static_cast<std::uint16_t>((divisor_ & 0xFF00) | value);
      else if (transmitted_.size() < (1u << 20)) transmitted_.push_back(static_cast<char>(value));
      break;
    case 1:
      if (dlab()) divisor_ = static_cast<std::uint16_t>((divisor_ & 0x00FF) | (value << 8));
      else ier_ = value & 0x0F;
      break;
    case 2: fcr_ = value; break;
    case 3: lcr_ = value; break;
    case 4: mcr_ = value & 0x1F; break;
    case 7: scr_ = value; break;
    default: break;  // LSR and MSR are read-only
  }
}

// ---- 8254 PIT (Intel 8254 data sheet): ports 0x40-0x42 counters, 0x43 control word.
std::uint8_t Pit8254::read(std::uint16_t offset) {
  if (offset > 2) return 0xFF;  // the control word register is write-only
  Channel& c = channels_[offset];
  std::uint16_t v = c.latch_valid ? c.latched : c.count;
  std::uint8_t out;
  if (c.access == 1) out = static_cast<std::uint8_t>(v);
  else if (c.access == 2) out = static_cast<std::uint8_t>(v >> 8);
  else {
    out = c.read_high ? static_cast<std::uint8_t>(v >> 8) : static_cast<std::uint8_t>(v);
    c.read_high = !c.read_high;
    if (c.read_high) return out;
  }
  c.latch_valid = false;
  return out;
}

void Pit8254::write(std::uint16_t offset, std::uint8_t value) {
  if (offset == 3) {
    unsigned sel = value >> 6;
    if (sel == 3) return;  // read-back command: not emulated
    Channel& c = channels_[sel];
    unsigned access = (value >> 4) & 3;
    if (access == 0) {  // counter latch command
      c.latched = c.count;
      c.latch_valid = true;
      return;
    }
    c.access = static_cast<std::uint8_t>(access);
    c.mode = (value >> 1) & 7;
    c.read_high = c.write_high = false;
    return;
  }
  if (offset > 2) return;
  Channel& c = channels_[offset];
  if (c.access == 1) c.reload = static_cast<std::uint16_t>((c.reload & 0xFF00) | value);
  else if (c.access == 2) c.reload = static_cast<std::uint16_t>((c.reload & 0x00FF) | (value << 8));
  else if (!c.write_high) {
    c.reload = static_cast<std::uint16_t>((c.reload & 0xFF00) | value);
    c.write_high = true;
    return;
  } else {
    c.reload = static_cast<std::uint16_t>((c.reload & 0x00FF) | (value << 8));
    c.write_high = false;
  }
  c.count = c.reload;
}

void Pit8254::tick(std::uint64_t n) {
  for (auto& c : channels_) {
    // A reload of 0 means 65536 (8254 data sheet).
    std::uint32_t period = c.reload ? c.reload : 0x10000u;
    std::uint32_t step = static_cast<std::uint32_t>(n % period);
    std::uint32_t count = c.count ? c.count : 0x10000u;
    count = count > step ? count - step : count + period - step;
    c.count = static_cast<std::uint16_t>(count);
  }
}

// ---- the bus
std::uint8_t IoBus::read8(std::uint16_t port) {
  if (port >= Uart16550::kBase && port < Uart16550::kBase + 8) return uart_.read(port - Uart16550::kBase);
  if (port >= Pit8254::kBase && port < Pit8254::kBase + 4) return pit_.read(port - Pit8254::kBase);
  return 0xFF;
}

void IoBus::write8(std::uint16_t port, std::uint8_t value) {
  if (port >= Uart16550::kBase && port < Uart16550::kBase + 8) uart_.write(port - Uart16550::kBase, value);
  else if (port >= Pit8254::kBase && port < Pit8254::kBase + 4) pit_.write(port - Pit8254::kBase, value);
}

std::uint32_t IoBus::read(std::uint16_t port, int size) {
  std::uint32_t v = 0;
  for (int i = 0; i < size && i < 4; ++i) v |= std::uint32_t(read8(static_cast<std::uint16_t>(port + i))) << (8 * i);
  return v;
}

void IoBus::write(std::uint16_t port, int size, std::uint32_t value) {
  for (int i = 0; i < size && i < 4; ++i) write8(static_cast<std::uint16_t>(port + i), static_cast<std::uint8_t>(value >> (8 * i)));
}

}  // namespace openkd::sim
