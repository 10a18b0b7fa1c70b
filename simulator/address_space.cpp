#include "simulator/address_space.hpp"

#include <algorithm>

namespace openkd::sim {
namespace {
// x86-64 paging entry bits (Intel SDM vol. 3, 4.5).
constexpr std::uint64_t kPresent = 1ull << 0;
constexpr std::uint64_t kWritable = 1ull << 1;
constexpr std::uint64_t kUser = 1ull << 2;
constexpr std::uint64_t kAccessed = 1ull << 5;
constexpr std::uint64_t kDirty = 1ull << 6;
constexpr std::uint64_t kGlobal = 1ull << 8;
constexpr std::uint64_t kNoExecute = 1ull << 63;
constexpr std::uint64_t kAddressMask = 0x000FFFFFFFFFF000ull;

unsigned index_at(std::uint64_t va, int level) {  // level 3 = PML4 ... 0 = PT
  return static_cast<unsigned>((va >> (12 + 9 * level)) & 0x1FF);
}
}  // namespace

AddressSpace::AddressSpace(PhysicalMemory& memory) : memory_(memory) {
  pml4_ = memory_.allocate(kPageSize).value_or(0);
}

std::expected<Region, std::string> AddressSpace::map(std::string name, std::uint64_t va, std::uint64_t size,
                                                     std::uint32_t protection) {
  size = page_round_up(size);
  if (va % kPageSize != 0 || size == 0) return std::unexpected("unaligned region " + name);
  for (const auto& r : regions_)
    if (va < r.va + r.size && r.va < va + size) return std::unexpected("region " + name + " overlaps " + r.name);
  auto pa = memory_.allocate(size);
  if (!pa) return std::unexpected(pa.error());
  for (std::uint64_t off = 0; off < size; off += kPageSize) {
    if (auto ok = map_page(va + off, *pa + off, protection); !ok) {
      for (std::uint64_t undo = 0; undo < off; undo += kPageSize) unmap_page(va + undo);
      memory_.release(*pa, size);
      return std::unexpected(ok.error());
    }
  }
  Region region{std::move(name), va, size, *pa, protection};
  regions_.push_back(region);
  if (listener_) listener_(region, true);
  return region;
}

bool AddressSpace::unmap(std::uint64_t va) {
  auto it = std::find_if(regions_.begin(), regions_.end(), [&](const Region& r) { return r.va == va; });
  if (it == regions_.end()) return false;
  if (listener_) listener_(*it, false);
  for (std::uint64_t off = 0; off < it->size; off += kPageSize) unmap_page(it->va + off);
  memory_.release(it->pa, it->size);
  regions_.erase(it);
  return true;
}

const Region* AddressSpace::find(std::uint64_t va) const {
  for (const auto& r : regions_)
    if (r.contains(va)) return &r;
  return nullptr;
}

std::expected<void, std::string> AddressSpace::map_page(std::uint64_t va, std::uint64_t pa, std::uint32_t protection) {
  return map_page_in(pml4_, va, pa, protection, false);
}

std::expected<void, std::string> AddressSpace::map_page_in(std::uint64_t root, std::uint64_t va, std::uint64_t pa,
                                                           std::uint32_t protection, bool user) {
  std::uint64_t table = root;
  for (int level = 3; level > 0; --level) {
    std::uint64_t entry_pa = table + 8 * index_at(va, level);
    std::uint64_t entry = memory_.read_u64(entry_pa);
    if (!(entry & kPresent)) {
      auto next = memory_.allocate(kPageSize);
      if (!next) return std::unexpected(next.error());
      // Upper levels allow everything; the leaf decides (as Windows does).
      entry = *next | kPresent | kWritable | kAccessed | (user ? kUser : 0);
      memory_.write_u64(entry_pa, entry);
    }
    table = entry & kAddressMask;
  }
  // User pages are per process: not global (a CR3 switch flushes them).
  std::uint64_t pte = (pa & kAddressMask) | kPresent | kAccessed | kDirty | (user ? kUser : kGlobal);
  if (protection & kProtWrite) pte |= kWritable;
  if (!(protection & kProtExecute)) pte |= kNoExecute;
  memory_.write_u64(table + 8 * index_at(va, 0), pte);
  return {};
}

void AddressSpace::unmap_page(std::uint64_t va) {
  std::uint64_t table = pml4_;
  for (int level = 3; level > 0; --level) {
    std::uint64_t entry = memory_.read_u64(table + 8 * index_at(va, level));
    if (!(entry & kPresent)) return;
    table = entry & kAddressMask;
  }
  memory_.write_u64(table + 8 * index_at(va, 0), 0);  // empty tables are kept: cheap and simple
}

std::optional<std::uint64_t> AddressSpace::walk(std::uint64_t va) const { return walk_in(pml4_, va); }

std::optional<std::uint64_t> AddressSpace::walk_in(std::uint64_t root, std::uint64_t va) const {
  std::uint64_t table = root;
  for (int level = 3; level >= 0; --level) {
    std::uint64_t entry = memory_.read_u64(table + 8 * index_at(va, level));
    if (!(entry & kPresent)) return std::nullopt;
    if (level == 0) return entry;
    table = entry & kAddressMask;
    if (table >= memory_.size()) return std::nullopt;  // a corrupted table entry
  }
  return std::nullopt;
}

std::expected<std::uint64_t, std::string> AddressSpace::create_process_root() {
  auto root = memory_.allocate(kPageSize);
  if (!root) return std::unexpected(root.error());
  // The kernel half (PML4 entries 256-511) is the system's: the same PDPTs, so every
  // kernel mapping made under an existing entry is seen by every process. The user
  // half starts empty.
  for (unsigned i = 256; i < 512; ++i) memory_.write_u64(*root + 8 * i, memory_.read_u64(pml4_ + 8 * i));
  process_roots_.push_back(*root);
  return *root;
}

std::expected<void, std::string> AddressSpace::map_user(std::uint64_t root, std::uint64_t va,
                                                        std::span<const std::uint8_t> bytes, std::uint32_t protection) {
  if (std::find(process_roots_.begin(), process_roots_.end(), root) == process_roots_.end())
    return std::unexpected("not a process address space");
  std::uint64_t size = page_round_up(bytes.size());
  if (va % kPageSize != 0 || size == 0 || va + size > kUserSpaceEnd || va + size < va)
    return std::unexpected("user range outside the user half");
  for (std::uint64_t off = 0; off < size; off += kPageSize)
    if (walk_in(root, va + off)) return std::unexpected("user page already mapped");
  auto pa = memory_.allocate(size);
  if (!pa) return std::unexpected(pa.error());
  for (std::uint64_t off = 0; off < size; off += kPageSize)
    if (auto ok = map_page_in(root, va + off, *pa + off, protection, true); !ok) return ok;  // pages stay: the process does
  memory_.write(*pa, bytes);
  return {};
}

std::optional<std::uint64_t> AddressSpace::translate_in(std::uint64_t root, std::uint64_t va) const {
  auto pte = walk_in(root, va);
  if (!pte) return std::nullopt;
  std::uint64_t pa = (*pte & kAddressMask) | (va & (kPageSize - 1));
  if (pa >= memory_.size()) return std::nullopt;
  return pa;
}

std::optional<std::uint64_t> AddressSpace::translate(std::uint64_t va) const {
  auto pte = walk(va);
  if (!pte) return std::nullopt;
  std::uint64_t pa = (*pte & kAddressMask) | (va & (kPageSize - 1));
  if (pa >= memory_.size()) return std::nullopt;
  return pa;
}

std::optional<std::uint32_t> AddressSpace::protection(std::uint64_t va) const {
  auto pte = walk(va);
  if (!pte) return std::nullopt;
  std::uint32_t p = kProtRead;
  if (*pte & kWritable) p |= kProtWrite;
  if (!(*pte & kNoExecute)) p |= kProtExecute;
  return p;
}

std::size_t AddressSpace::read(std::uint64_t va, std::span<std::uint8_t> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    auto pa = translate(va + done);
    if (!pa) break;
    std::size_t in_page = static_cast<std::size_t>(kPageSize - ((va + done) & (kPageSize - 1)));
    std::size_t n = std::min(in_page, out.size() - done);
    std::size_t got = memory_.read(*pa, out.subspan(done, n));
    done += got;
    if (got < n) break;
  }
  return done;
}

std::size_t AddressSpace::write(std::uint64_t va, std::span<const std::uint8_t> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto pa = translate(va + done);
    if (!pa) break;
    std::size_t in_page = static_cast<std::size_t>(kPageSize - ((va + done) & (kPageSize - 1)));
    std::size_t n = std::min(in_page, data.size() - done);
    std::size_t put = memory_.write(*pa, data.subspan(done, n));
    done += put;
    if (put < n) break;
  }
  return done;
}

std::uint64_t AddressSpace::read_u64(std::uint64_t va) const {
  std::uint8_t b[8]{};
  read(va, b);
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

std::uint32_t AddressSpace::read_u32(std::uint64_t va) const {
  std::uint8_t b[4]{};
  read(va, b);
  return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24;
}

void AddressSpace::write_u64(std::uint64_t va, std::uint64_t v) {
  std::uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
  write(va, b);
}

void AddressSpace::write_u32(std::uint64_t va, std::uint32_t v) {
  std::uint8_t b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
  write(va, b);
}

}  // namespace openkd::sim
