// Physical memory: !db !dw !dd !dq, and !pte (a 4-level page-table walk from
// CR3 through physical reads, printed as KD's PXE/PPE/PDE/PTE block).
#include <array>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

constexpr std::uint64_t kDefaultBytes = 0x80;
constexpr std::uint64_t kMaxBytes = 0x80000;
constexpr std::uint64_t kPfnMask = 0x000FFFFFFFFFF000ull;  // entry bits 12..51
constexpr std::uint64_t kPresent = 1, kLargePage = 1ull << 7;

std::uint64_t sign_extend48(std::uint64_t v) { return (v & (1ull << 47)) ? (v | 0xFFFF000000000000ull) : v; }

CommandResult<> cmd_physical_dump(EngineCore& core, Invocation& call) {
  const unsigned size = call.name == "!db" ? 1 : call.name == "!dw" ? 2 : call.name == "!dd" ? 4 : 8;
  auto range = core.range(call.args, std::nullopt, kDefaultBytes / size, size, kMaxBytes);
  if (!range) return std::unexpected(range.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  const auto block = core.read_block(range->address, range->count * size, true);
  const std::size_t line_bytes = 16;
  for (std::size_t offset = 0; offset < block.bytes.size(); offset += line_bytes) {
    const std::size_t n = std::min(line_bytes, block.bytes.size() - offset);
    std::string line = fmt::format("#{:8x}", block.address + offset);
    for (std::size_t i = 0; i < n; i += size) {
      line += (size == 1 && i == 8) ? '-' : ' ';
      auto v = block.value(offset + i, size);
      if (size == 8)
        line += v ? hex64(*v) : "????????`????????";
      else
        line += v ? fmt::format("{:0{}x}", *v, 2 * size) : std::string(2 * size, '?');
    }
    if (size == 1) {
      line += std::string((line_bytes - n) * 3, ' ') + " ";
      for (std::size_t i = offset; i < offset + n; ++i)
        line += !block.valid[i] ? '?' : (block.bytes[i] >= 0x20 && block.bytes[i] < 0x7F) ? char(block.bytes[i]) : '.';
    }
    core.printf("{}\n", line);
  }
  return {};
}

// KD's 11 flag characters: - G L D A N T K|U W|R E V (see the pfn line of !pte).
std::string pte_flags(std::uint64_t e, bool leaf_level_allows_large) {
  std::string s = "-----------";
  if (e & (1ull << 8)) s[1] = 'G';
  if (leaf_level_allows_large && (e & kLargePage)) s[2] = 'L';
  if (e & (1ull << 6)) s[3] = 'D';
  if (e & (1ull << 5)) s[4] = 'A';
  if (e & (1ull << 4)) s[5] = 'N';
  if (e & (1ull << 3)) s[6] = 'T';
  s[7] = (e & (1ull << 2)) ? 'U' : 'K';
  s[8] = (e & (1ull << 1)) ? 'W' : 'R';
  s[9] = (e & (1ull << 63)) ? '-' : 'E';
  s[10] = (e & kPresent) ? 'V' : '-';
  return s;
}

CommandResult<> cmd_pte(EngineCore& core, Invocation& call) {
  auto va = core.expression(call.args);
  if (!va) return std::unexpected(va.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  auto special = core.target.get_special_registers();
  if (!special) return std::unexpected(CommandError::plain("Unable to read CR3: " + special.error().message));
  const std::uint64_t pml4 = special->cr3 & kPfnMask;

  auto read_entry = [&](std::uint64_t physical) -> std::optional<std::uint64_t> {
    auto block = core.read_block(physical, 8, true);
    return block.value(0, 8);
  };

  // KD shows where each entry sits in the self-map; find the PML4 slot that maps the PML4.
  std::optional<std::uint64_t> self_index;
  for (std::uint64_t i = 0x100; i < 0x200 && !self_index; ++i)
    if (auto e = read_entry(pml4 + 8 * i); e && (*e & kPresent) && (*e & kPfnMask) == pml4) self_index = i;

  const std::uint64_t canonical = *va & 0x0000FFFFFFFFFFFFull;
  std::array<std::uint64_t, 4> indices{(canonical >> 39) & 0x1FF, (canonical >> 30) & 0x1FF, (canonical >> 21) & 0x1FF,
                                       (canonical >> 12) & 0x1FF};
  std::array<std::uint64_t, 4> entry_va{};
  if (self_index) {
    const std::uint64_t pte_base = sign_extend48(*self_index << 39);
    const std::uint64_t pde_base = pte_base + (*self_index << 30);
    const std::uint64_t ppe_base = pde_base + (*self_index << 21);
    const std::uint64_t pxe_base = ppe_base + (*self_index << 12);
    entry_va = {pxe_base + (canonical >> 39) * 8, ppe_base + (canonical >> 30) * 8, pde_base + (canonical >> 21) * 8,
                pte_base + (canonical >> 12) * 8};
  }

  static constexpr std::array<std::string_view, 4> kNames{"PXE", "PPE", "PDE", "PTE"};
  std::string at_line, contains_line, pfn_line;
  std::uint64_t table = pml4;
  for (std::size_t level = 0; level < 4; ++level) {
    const std::uint64_t entry_physical = table + 8 * indices[level];
    at_line += fmt::format("{} at {:016X}    ", kNames[level], self_index ? entry_va[level] : entry_physical);
    auto entry = read_entry(entry_physical);
    if (!entry) {
      contains_line += "contains ????????????????  ";
      pfn_line += fmt::format("{:<27}", "unreadable");
      break;
    }
    contains_line += fmt::format("contains {:016X}  ", *entry);
    if (!(*entry & kPresent)) {
      pfn_line += fmt::format("{:<27}", "not valid");
      break;
    }
    const bool large_possible = level == 1 || level == 2;
    pfn_line += fmt::format("pfn {:<10x}{}  ", (*entry & kPfnMask) >> 12, pte_flags(*entry, large_possible));
    if (large_possible && (*entry & kLargePage)) break;  // a 1 GiB or 2 MiB page ends the walk
    table = *entry & kPfnMask;
  }
  core.printf("{:>43}VA {:x}\n", "", *va);
  auto trim = [](std::string s) {
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  core.printf("{}\n{}\n{}\n", trim(at_line), trim(contains_line), trim(pfn_line));
  if (!self_index) core.print("(no self-map entry in the PML4: the addresses above are physical)\n");
  return {};
}

}  // namespace

void add_physical_commands(std::vector<CommandSpec>& table) {
  for (std::string_view name : {"!db", "!dw", "!dd", "!dq"})
    table.push_back({name, cmd_physical_dump, "!d{b|w|d|q} range             display physical memory"});
  table.push_back({"!pte", cmd_pte, "!pte address                  page-table entries that map a virtual address"});
}

}  // namespace openkd::commands
