#include "simulator/physical_memory.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace openkd::sim {

PhysicalMemory::PhysicalMemory(std::uint64_t bytes) : size_(page_round_up(std::max<std::uint64_t>(bytes, 2 * kPageSize))) {
  // mmap gives lazily-zeroed pages: 256 MiB costs only what the guest touches.
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<std::uint8_t*>(p);
  free_.push_back({kPageSize, size_ - kPageSize, true});
}

PhysicalMemory::~PhysicalMemory() { ::munmap(base_, size_); }

std::size_t PhysicalMemory::read(std::uint64_t pa, std::span<std::uint8_t> out) const {
  if (pa >= size_) return 0;
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - pa));
  std::memcpy(out.data(), base_ + pa, n);
  return n;
}

std::size_t PhysicalMemory::write(std::uint64_t pa, std::span<const std::uint8_t> data) {
  if (pa >= size_) return 0;
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), size_ - pa));
  std::memcpy(base_ + pa, data.data(), n);
  return n;
}

std::uint64_t PhysicalMemory::read_u64(std::uint64_t pa) const {
  std::uint64_t v = 0;
  if (pa + 8 <= size_) std::memcpy(&v, base_ + pa, 8);  // host is little-endian x86-64 / arm64
  return v;
}

void PhysicalMemory::write_u64(std::uint64_t pa, std::uint64_t value) {
  if (pa + 8 <= size_) std::memcpy(base_ + pa, &value, 8);
}

std::expected<std::uint64_t, std::string> PhysicalMemory::allocate(std::uint64_t bytes) {
  std::uint64_t want = page_round_up(std::max<std::uint64_t>(bytes, 1));
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->size < want) continue;
    std::uint64_t pa = it->start;
    it->start += want;
    it->size -= want;
    bool zero = it->zero;
    if (it->size == 0) free_.erase(it);
    if (!zero) std::memset(base_ + pa, 0, want);
    return pa;
  }
  return std::unexpected("out of physical memory (" + std::to_string(want) + " bytes wanted)");
}

void PhysicalMemory::release(std::uint64_t pa, std::uint64_t bytes) {
  std::uint64_t size = page_round_up(bytes);
  auto it = std::lower_bound(free_.begin(), free_.end(), pa, [](const Range& r, std::uint64_t a) { return r.start < a; });
  it = free_.insert(it, {pa, size, false});
  // coalesce with the neighbours
  if (it + 1 != free_.end() && it->start + it->size == (it + 1)->start) {
    it->size += (it + 1)->size;
    it->zero = false;
    free_.erase(it + 1);
  }
  if (it != free_.begin() && (it - 1)->start + (it - 1)->size == it->start) {
    (it - 1)->size += it->size;
    (it - 1)->zero = false;
    free_.erase(it);
  }
}

std::uint64_t PhysicalMemory::bytes_free() const {
  std::uint64_t n = 0;
  for (const auto& r : free_) n += r.size;
  return n;
}

}  // namespace openkd::sim
