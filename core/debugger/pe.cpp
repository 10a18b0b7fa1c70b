#include "core/debugger/pe.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <fmt/format.h>

#include "core/wire/bytes.hpp"

namespace openkd::debugger {
namespace {

constexpr std::size_t kPage = 0x1000;
constexpr std::uint16_t kOptionalMagicPe32 = 0x10B, kOptionalMagicPe32Plus = 0x20B;
constexpr std::size_t kExportDirectorySize = 40;
// An export directory is the directory table plus its three arrays and the
// name strings; past this size we read names one by one instead of in one go.
constexpr std::uint32_t kMaxBulkExportRead = 4u << 20;

Error error(std::string message) { return Error{std::move(message), 0}; }

// A NUL-terminated string inside `blob` at `offset`, at most kMaxPeExportName long.
std::optional<std::string> string_in(std::span<const std::uint8_t> blob, std::size_t offset) {
  if (offset >= blob.size()) return std::nullopt;
  std::string s;
  for (std::size_t i = offset; i < blob.size() && s.size() < kMaxPeExportName; ++i) {
    if (blob[i] == 0) return s;
    s.push_back(static_cast<char>(blob[i]));
  }
  return std::nullopt;
}

Result<std::string> read_c_string(TargetMemory& target, std::uint64_t address) {
  std::string s;
  std::array<std::uint8_t, 64> chunk{};
  while (s.size() < kMaxPeExportName) {
    auto got = target.read_virtual(address + s.size(), chunk);
    if (!got) return std::unexpected(got.error());
    for (std::size_t i = 0; i < *got; ++i) {
      if (chunk[i] == 0) return s;
      s.push_back(static_cast<char>(chunk[i]));
    }
  }
  return std::unexpected(error(fmt::format("string at {:#x} is too long", address)));
}

}  // namespace

Result<void> read_exact(TargetMemory& target, std::uint64_t address, std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    auto got = target.read_virtual(address + done, out.subspan(done));
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return std::unexpected(error(fmt::format("Memory access error at {:#x}", address + done)));
    done += std::min(*got, out.size() - done);
  }
  return {};
}

Result<PeHeaders> parse_pe_headers(std::span<const std::uint8_t> page) {
  wire::Reader dos(page);
  if (dos.u16() != 0x5A4D) return std::unexpected(error("no MZ signature"));
  dos.seek(0x3C);
  const std::uint32_t nt_offset = dos.u32();
  if (!dos.ok() || nt_offset > page.size() - 24) return std::unexpected(error("e_lfanew out of range"));

  wire::Reader nt(page.subspan(nt_offset));
  if (nt.u32() != 0x00004550) return std::unexpected(error("no PE signature"));
  PeHeaders h;
  h.machine = nt.u16();
  nt.skip(2);  // NumberOfSections
  h.timestamp = nt.u32();
  nt.skip(8);  // PointerToSymbolTable, NumberOfSymbols
  const std::uint16_t optional_size = nt.u16();
  h.characteristics = nt.u16();
  if (!nt.ok()) return std::unexpected(error("COFF header truncated"));

  const std::size_t opt_offset = nt_offset + 24;
  if (optional_size > page.size() - opt_offset) return std::unexpected(error("optional header truncated"));
  wire::Reader opt(page.subspan(opt_offset, optional_size));
  const std::uint16_t magic = opt.u16();
  if (magic != kOptionalMagicPe32 && magic != kOptionalMagicPe32Plus)
    return std::unexpected(error(fmt::format("unknown optional header magic {:#x}", magic)));
  h.pe32_plus = magic == kOptionalMagicPe32Plus;
  opt.seek(16);
  h.entry_point_rva = opt.u32();
  if (h.pe32_plus) {
    opt.seek(24);
    h.preferred_base = opt.u64();
  } else {
    opt.seek(28);
    h.preferred_base = opt.u32();
  }
  opt.seek(56);
  h.size_of_image = opt.u32();
  opt.seek(64);
  h.checksum = opt.u32();
  opt.seek(h.pe32_plus ? 108 : 92);
  const std::uint32_t directories = opt.u32();
  if (!opt.ok()) return std::unexpected(error("optional header truncated"));
  if (directories > 0) {  // entry 0 is the export directory
    h.export_rva = opt.u32();
    h.export_size = opt.u32();
    if (!opt.ok()) h.export_rva = h.export_size = 0;
  }
  if (directories > 6) {  // entry 6 is the debug directory
    opt.seek((h.pe32_plus ? 112 : 96) + 6 * 8);
    h.debug_rva = opt.u32();
    h.debug_size = opt.u32();
    if (!opt.ok()) h.debug_rva = h.debug_size = 0;
  }
  if (h.size_of_image == 0 || h.size_of_image > kMaxPeImageSize)
    return std::unexpected(error(fmt::format("implausible SizeOfImage {:#x}", h.size_of_image)));
  return h;
}

Result<PeHeaders> read_pe_headers(TargetMemory& target, std::uint64_t base) {
  std::vector<std::uint8_t> page(kPage);
  auto got = target.read_virtual(base, page);
  if (!got) return std::unexpected(got.error());
  page.resize(std::min(*got, page.size()));
  return parse_pe_headers(page);
}

Result<PeExports> read_pe_exports(TargetMemory& target, std::uint64_t base, const PeHeaders& h) {
  PeExports result;
  if (h.export_rva == 0 || h.export_size < kExportDirectorySize) return result;  // no exports
  if (h.export_rva >= h.size_of_image || h.export_size > h.size_of_image - h.export_rva)
    return std::unexpected(error("export directory outside the image"));

  // Read the whole directory (table, arrays and names usually sit inside it) at once.
  const bool bulk = h.export_size <= kMaxBulkExportRead;
  std::vector<std::uint8_t> blob(bulk ? h.export_size : kExportDirectorySize);
  if (auto r = read_exact(target, base + h.export_rva, blob); !r) return std::unexpected(r.error());

  wire::Reader dir(blob);
  dir.seek(12);
  const std::uint32_t name_rva = dir.u32();
  const std::uint32_t ordinal_base = dir.u32();
  const std::uint32_t function_count = dir.u32();
  const std::uint32_t name_count = dir.u32();
  const std::uint32_t functions_rva = dir.u32();
  const std::uint32_t names_rva = dir.u32();
  const std::uint32_t ordinals_rva = dir.u32();
  if (function_count > kMaxPeExports || name_count > kMaxPeExports)
    return std::unexpected(error("export directory counts are implausible"));

  auto array_fits = [&](std::uint32_t rva, std::uint64_t bytes) {
    return rva < h.size_of_image && bytes <= h.size_of_image - rva;
  };
  if ((function_count && !array_fits(functions_rva, 4ull * function_count)) ||
      (name_count && (!array_fits(names_rva, 4ull * name_count) || !array_fits(ordinals_rva, 2ull * name_count))))
    return std::unexpected(error("export arrays outside the image"));

  // An array inside the blob is taken from it; one outside is read from the target.
  auto fetch = [&](std::uint32_t rva, std::size_t bytes) -> Result<std::vector<std::uint8_t>> {
    if (rva >= h.export_rva && rva - h.export_rva + bytes <= blob.size()) {
      const auto* p = blob.data() + (rva - h.export_rva);
      return std::vector<std::uint8_t>(p, p + bytes);
    }
    std::vector<std::uint8_t> out(bytes);
    if (auto r = read_exact(target, base + rva, out); !r) return std::unexpected(r.error());
    return out;
  };
  auto string_at = [&](std::uint32_t rva) -> Result<std::string> {
    if (rva >= h.export_rva && rva - h.export_rva < blob.size())
      if (auto s = string_in(blob, rva - h.export_rva)) return *s;
    if (rva >= h.size_of_image) return std::unexpected(error("name outside the image"));
    return read_c_string(target, base + rva);
  };

  if (name_rva) {
    if (auto n = string_at(name_rva)) result.image_name = *n;
  }
  auto functions = fetch(functions_rva, 4ull * function_count);
  auto names = fetch(names_rva, 4ull * name_count);
  auto ordinals = fetch(ordinals_rva, 2ull * name_count);
  if (!functions) return std::unexpected(functions.error());
  if (!names) return std::unexpected(names.error());
  if (!ordinals) return std::unexpected(ordinals.error());

  wire::Reader fr(*functions), nr(*names), orr(*ordinals);
  std::vector<std::uint32_t> function_rvas(function_count);
  for (auto& f : function_rvas) f = fr.u32();
  std::vector<bool> named(function_count, false);

  auto is_forwarder = [&](std::uint32_t rva) { return rva >= h.export_rva && rva < h.export_rva + h.export_size; };
  for (std::uint32_t i = 0; i < name_count; ++i) {
    const std::uint32_t rva = nr.u32();
    const std::uint16_t index = orr.u16();
    if (index >= function_count) continue;  // garbage ordinal: skip the name
    const std::uint32_t target_rva = function_rvas[index];
    if (target_rva == 0 || target_rva >= h.size_of_image || is_forwarder(target_rva)) continue;
    auto name = string_at(rva);
    if (!name || name->empty()) continue;
    named[index] = true;
    result.exports.push_back(PeExport{std::move(*name), target_rva, ordinal_base + index});
  }
  for (std::uint32_t i = 0; i < function_count; ++i) {
    const std::uint32_t rva = function_rvas[i];
    if (named[i] || rva == 0 || rva >= h.size_of_image || is_forwarder(rva)) continue;
    result.exports.push_back(PeExport{{}, rva, ordinal_base + i});
  }
  return result;
}

Result<std::vector<std::uint8_t>> read_pe_codeview(TargetMemory& target, std::uint64_t base, const PeHeaders& h) {
  // IMAGE_DEBUG_DIRECTORY: 28 bytes each; Type at 12 (2 = CODEVIEW), SizeOfData at 16,
  // AddressOfRawData (an RVA) at 20.
  constexpr std::uint32_t kEntry = 28, kCodeView = 2, kMaxEntries = 32, kMaxRecord = 4096;
  if (h.debug_rva == 0 || h.debug_size < kEntry) return std::unexpected(error("the image has no debug directory"));
  const std::uint32_t count = std::min(h.debug_size / kEntry, kMaxEntries);
  if (h.debug_rva >= h.size_of_image || count * kEntry > h.size_of_image - h.debug_rva)
    return std::unexpected(error("the debug directory lies outside the image"));
  std::vector<std::uint8_t> dir(count * kEntry);
  if (auto r = read_exact(target, base + h.debug_rva, dir); !r) return std::unexpected(r.error());
  for (std::uint32_t i = 0; i < count; ++i) {
    wire::Reader e{std::span<const std::uint8_t>(dir).subspan(i * kEntry, kEntry)};
    e.seek(12);
    const std::uint32_t type = e.u32(), size = e.u32(), rva = e.u32();
    if (type != kCodeView || size < 4 || size > kMaxRecord || rva == 0 || rva >= h.size_of_image ||
        size > h.size_of_image - rva)
      continue;
    std::vector<std::uint8_t> record(size);
    if (auto r = read_exact(target, base + rva, record); !r) return std::unexpected(r.error());
    return record;
  }
  return std::unexpected(error("the image has no CodeView debug record"));
}

}  // namespace openkd::debugger
