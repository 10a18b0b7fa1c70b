// PE32+ headers and export directories, read from target memory through
// TargetMemory::read_virtual. Everything read is untrusted: every RVA and count is
// checked against the image size and fixed limits before it is used.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/debugger/target.hpp"

namespace openkd::debugger {

/// Reads exactly out.size() bytes, looping over partial reads; an Error if any
/// byte is unreadable.
Result<void> read_exact(TargetMemory& memory, std::uint64_t address, std::span<std::uint8_t> out);

/// The fields of the DOS, COFF and optional headers the debugger uses.
struct PeHeaders {
  std::uint16_t machine = 0;
  std::uint32_t timestamp = 0;
  std::uint16_t characteristics = 0;
  bool pe32_plus = false;
  std::uint64_t preferred_base = 0;
  std::uint32_t entry_point_rva = 0;
  std::uint32_t size_of_image = 0;
  std::uint32_t checksum = 0;
  std::uint32_t export_rva = 0, export_size = 0;
  std::uint32_t debug_rva = 0, debug_size = 0;  // IMAGE_DIRECTORY_ENTRY_DEBUG
};

struct PeExport {
  std::string name;          // empty for an export by ordinal only
  std::uint32_t rva = 0;
  std::uint32_t ordinal = 0;  // biased by the directory's Base
};

struct PeExports {
  std::string image_name;  // the directory's Name field ("simkrnl.exe")
  std::vector<PeExport> exports;  // forwarders left out
};

// Limits against garbage: no real image comes near them.
inline constexpr std::uint32_t kMaxPeExports = 1u << 16;
inline constexpr std::uint32_t kMaxPeExportName = 512;
inline constexpr std::uint32_t kMaxPeImageSize = 1u << 30;

/// Parses the headers from the first page of an image (pure; for tests and callers with bytes).
Result<PeHeaders> parse_pe_headers(std::span<const std::uint8_t> first_page);
/// Reads the image's first page at `base` and parses it.
Result<PeHeaders> read_pe_headers(TargetMemory& memory, std::uint64_t base);
/// Reads the export directory of the image at `base`.
Result<PeExports> read_pe_exports(TargetMemory& memory, std::uint64_t base, const PeHeaders& headers);

/// The image's CodeView debug record (for a PDB: 'RSDS', GUID, age, PDB path), read
/// from the debug directory in target memory; bounded to 4 KiB.
Result<std::vector<std::uint8_t>> read_pe_codeview(TargetMemory& memory, std::uint64_t base, const PeHeaders& headers);

}  // namespace openkd::debugger
