// Helpers for the wire tests: hex, hand-written byte strings, parser event capture.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/bytes.hpp"
#include "core/wire/kdcom.hpp"

namespace wiretest {

using openkd::wire::Bytes;
using openkd::wire::ByteView;

inline Bytes unhex(std::string_view hex) {
  Bytes out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int high = -1;
  for (char c : hex) {
    int v = nibble(c);
    if (v < 0) continue;  // spaces and separators are allowed in literals
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

inline std::string tohex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t x : b) {
    s.push_back(kDigits[x >> 4]);
    s.push_back(kDigits[x & 15]);
  }
  return s;
}

/// "0x" and `width` bytes' worth of lowercase hex digits, as the vectors write fields.
inline std::string field_hex(std::uint64_t v, std::size_t width) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(width * 2, '0');
  for (std::size_t i = 0; i < width * 2; ++i) s[width * 2 - 1 - i] = kDigits[(v >> (4 * i)) & 15];
  return "0x" + s;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

/// A hand-written structure: zeros, then little-endian values poked at the
/// documented offsets. Deliberately independent of wire::Writer.
class Raw {
public:
  explicit Raw(std::size_t size) : bytes_(size, 0) {}
  Raw& le(std::size_t offset, std::uint64_t value, std::size_t width) {
    if (bytes_.size() < offset + width) bytes_.resize(offset + width, 0);
    for (std::size_t i = 0; i < width; ++i) bytes_[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
    return *this;
  }
  Raw& u8(std::size_t o, std::uint64_t v) { return le(o, v, 1); }
  Raw& u16(std::size_t o, std::uint64_t v) { return le(o, v, 2); }
  Raw& u32(std::size_t o, std::uint64_t v) { return le(o, v, 4); }
  Raw& u64(std::size_t o, std::uint64_t v) { return le(o, v, 8); }
  Raw& raw(std::size_t offset, ByteView b) {
    if (bytes_.size() < offset + b.size()) bytes_.resize(offset + b.size(), 0);
    std::copy(b.begin(), b.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(offset));
    return *this;
  }
  Raw& append(ByteView b) { return raw(bytes_.size(), b); }
  const Bytes& bytes() const { return bytes_; }
  operator ByteView() const { return bytes_; }

private:
  Bytes bytes_;
};

/// One line per parser event, so a test row can list what it expects.
inline std::string describe(const openkd::wire::kdcom::FrameEvent& e) {
  using openkd::wire::kdcom::FrameError;
  using Kind = openkd::wire::kdcom::FrameEvent::Kind;
  switch (e.kind) {
    case Kind::Packet:
      return "packet " + std::string(to_string(e.packet.type)) + " id=" + field_hex(e.packet.id, 4) +
             " body=" + tohex(e.packet.body);
    case Kind::BreakIn: return "break-in";
    case Kind::Error:
      if (e.error == FrameError::GarbageSkipped) return "error garbage skipped first=" + field_hex(e.got, 1);
      return "error " + std::string(to_string(e.error)) + " expected=" + field_hex(e.expected, 4) +
             " got=" + field_hex(e.got, 4);
  }
  return "?";
}

/// Feeds `input` split at the given offsets (ascending) and returns the events.
inline std::vector<std::string> parse_split(ByteView input, const std::vector<std::size_t>& cuts,
                                            bool trailer = true) {
  std::vector<std::string> events;
  openkd::wire::kdcom::Parser parser([&](const auto& e) { events.push_back(describe(e)); }, trailer);
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    // Each piece is copied into its own buffer so a read past it would be caught by ASan.
    Bytes piece(input.begin() + static_cast<std::ptrdiff_t>(from), input.begin() + static_cast<std::ptrdiff_t>(cut));
    parser.push(piece);
    from = cut;
  }
  Bytes last(input.begin() + static_cast<std::ptrdiff_t>(from), input.end());
  parser.push(last);
  return events;
}

inline std::vector<std::string> parse_all(ByteView input, bool trailer = true) { return parse_split(input, {}, trailer); }

}  // namespace wiretest
