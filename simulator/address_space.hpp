// The kernel's virtual address space: regions of virtual pages backed by
// physical pages, described by real x86-64 4-level page tables written into
// physical memory (rooted at CR3). A debugger that walks the tables from CR3
// finds the same physical bytes the CPUs use.
#pragma once
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "simulator/physical_memory.hpp"

namespace openkd::sim {

/// Page protections as the page tables record them.
enum Protection : std::uint32_t { kProtRead = 1, kProtWrite = 2, kProtExecute = 4, kProtAll = 7 };
/// The end of the canonical user half (x64: 0x00007FFF`FFFFFFFF is the last byte).
inline constexpr std::uint64_t kUserSpaceEnd = 0x0000800000000000ull;

struct Region {
  std::string name;
  std::uint64_t va = 0, size = 0;  // page aligned
  std::uint64_t pa = 0;            // contiguous physical backing
  std::uint32_t protection = kProtAll;
  bool contains(std::uint64_t a) const { return a >= va && a - va < size; }
};

class AddressSpace {
public:
  /// Called after a region is mapped (true) or before it is unmapped (false),
  /// so every CPU engine maps the same host bytes.
  using Listener = std::function<void(const Region&, bool mapped)>;

  /// Allocates the PML4 from `memory`.
  explicit AddressSpace(PhysicalMemory& memory);

  std::uint64_t cr3() const { return pml4_; }
  PhysicalMemory& physical() { return memory_; }
  void set_listener(Listener l) { listener_ = std::move(l); }

  /// Maps `size` bytes (rounded up to pages) at `va` onto fresh physical pages.
  std::expected<Region, std::string> map(std::string name, std::uint64_t va, std::uint64_t size,
                                         std::uint32_t protection = kProtAll);
  /// Unmaps the region that starts at `va` and frees its physical pages.
  bool unmap(std::uint64_t va);
  const Region* find(std::uint64_t va) const;
  const std::vector<Region>& regions() const { return regions_; }

  /// A process's address space: a new PML4 whose kernel half (entries 256-511) is
  /// this space's, so kernel mappings are shared; returns its physical address (the
  /// process's DirectoryTableBase / CR3). The user half is filled with map_user.
  std::expected<std::uint64_t, std::string> create_process_root();
  /// Maps `bytes` (rounded up to pages) as user pages at `va` in the tables rooted at
  /// `root` (from create_process_root) and copies them in. Never shown to the CPU
  /// engines' region list: the same user address means another page in another process.
  std::expected<void, std::string> map_user(std::uint64_t root, std::uint64_t va, std::span<const std::uint8_t> bytes,
                                            std::uint32_t protection = kProtRead | kProtWrite);
  /// Walks the tables rooted at `root` (a process's CR3).
  std::optional<std::uint64_t> translate_in(std::uint64_t root, std::uint64_t va) const;
  const std::vector<std::uint64_t>& process_roots() const { return process_roots_; }

  /// Walks the page tables in physical memory (not the region list).
  std::optional<std::uint64_t> translate(std::uint64_t va) const;
  /// The page table entry's protection for the page holding `va`.
  std::optional<std::uint32_t> protection(std::uint64_t va) const;

  /// Reads/writes through the page tables; stop at the first unmapped page and
  /// return how many bytes were transferred.
  std::size_t read(std::uint64_t va, std::span<std::uint8_t> out) const;
  std::size_t write(std::uint64_t va, std::span<const std::uint8_t> data);
  std::uint64_t read_u64(std::uint64_t va) const;
  std::uint32_t read_u32(std::uint64_t va) const;
  void write_u64(std::uint64_t va, std::uint64_t v);
  void write_u32(std::uint64_t va, std::uint32_t v);

private:
  std::expected<void, std::string> map_page(std::uint64_t va, std::uint64_t pa, std::uint32_t protection);
  void unmap_page(std::uint64_t va);
  std::expected<void, std::string> map_page_in(std::uint64_t root, std::uint64_t va, std::uint64_t pa,
                                               std::uint32_t protection, bool user);
  std::optional<std::uint64_t> walk(std::uint64_t va) const;  // the PTE's value
  std::optional<std::uint64_t> walk_in(std::uint64_t root, std::uint64_t va) const;

  PhysicalMemory& memory_;
  std::uint64_t pml4_ = 0;
  std::vector<Region> regions_;
  std::vector<std::uint64_t> process_roots_;  // PML4s of process address spaces
  Listener listener_;
};

}  // namespace openkd::sim
