// The machine's physical memory: one host buffer shared by every CPU's Unicorn
// engine, with a page allocator for the loader and the page tables.
#pragma once
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

namespace openkd::sim {

inline constexpr std::uint64_t kPageSize = 0x1000;

constexpr std::uint64_t page_round_up(std::uint64_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

class PhysicalMemory {
public:
  /// `bytes` is rounded up to whole pages. Host pages are zero until touched.
  explicit PhysicalMemory(std::uint64_t bytes);
  ~PhysicalMemory();
  PhysicalMemory(const PhysicalMemory&) = delete;
  PhysicalMemory& operator=(const PhysicalMemory&) = delete;

  std::uint64_t size() const { return size_; }
  /// Host address of physical address `pa`, or nullptr when out of range.
  std::uint8_t* host(std::uint64_t pa) const { return pa < size_ ? base_ + pa : nullptr; }

  /// Copies bytes; returns how many were inside physical memory.
  std::size_t read(std::uint64_t pa, std::span<std::uint8_t> out) const;
  std::size_t write(std::uint64_t pa, std::span<const std::uint8_t> data);
  std::uint64_t read_u64(std::uint64_t pa) const;
  void write_u64(std::uint64_t pa, std::uint64_t value);

  /// Contiguous, zeroed, page-aligned physical pages (first fit). Page 0 is
  /// never handed out, so physical address 0 means "none".
  std::expected<std::uint64_t, std::string> allocate(std::uint64_t bytes);
  void release(std::uint64_t pa, std::uint64_t bytes);
  std::uint64_t bytes_free() const;

private:
  struct Range {
    std::uint64_t start, size;
    bool zero;  // never handed out since mmap: already zero, no need to clear
  };
  std::uint8_t* base_ = nullptr;
  std::uint64_t size_ = 0;
  std::vector<Range> free_;  // sorted by start, coalesced
};

}  // namespace openkd::sim
