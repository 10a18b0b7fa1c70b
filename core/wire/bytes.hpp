// Bounds-checked little-endian byte cursors for every wire structure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace openkd::wire {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

/// Reads little-endian fields from a byte view. Failure is sticky: a read past
/// the end returns zeros and clears ok(), so a decoder checks once per header.
class Reader {
public:
  explicit Reader(ByteView data) : data_(data) {}

  std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  std::uint64_t u64() { return le(8); }
  /// The next n bytes, or an empty view (and !ok()) when fewer remain.
  ByteView bytes(std::size_t n) {
    if (!take(n)) return {};
    return data_.subspan(pos_ - n, n);
  }
  void skip(std::size_t n) { take(n); }
  /// Moves to an absolute offset; past the end fails.
  void seek(std::size_t offset) {
    if (offset > data_.size()) ok_ = false; else pos_ = offset;
  }
  ByteView rest() const { return ok_ ? data_.subspan(pos_) : ByteView{}; }
  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  bool ok() const { return ok_; }

private:
  bool take(std::size_t n) {
    if (!ok_ || data_.size() - pos_ < n) { ok_ = false; return false; }
    pos_ += n;
    return true;
  }
  std::uint64_t le(std::size_t n) {
    if (!take(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(data_[pos_ - n + i]) << (8 * i);
    return v;
  }
  ByteView data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

/// Appends little-endian fields to a byte vector.
class Writer {
public:
  explicit Writer(Bytes& out) : out_(out) {}
  Writer& u8(std::uint8_t v) { return le(v, 1); }
  Writer& u16(std::uint16_t v) { return le(v, 2); }
  Writer& u32(std::uint32_t v) { return le(v, 4); }
  Writer& u64(std::uint64_t v) { return le(v, 8); }
  Writer& bytes(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); return *this; }
  Writer& zeros(std::size_t n) { out_.insert(out_.end(), n, 0); return *this; }
  /// Pads with zeros up to an absolute size (no-op when already there).
  Writer& pad_to(std::size_t size) { if (out_.size() < size) out_.resize(size, 0); return *this; }
  std::size_t size() const { return out_.size(); }

private:
  Writer& le(std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& out_;
};

/// Why a decoder refused its input: one line naming the structure and the field.
struct DecodeError {
  std::string message;
};

}  // namespace openkd::wire
