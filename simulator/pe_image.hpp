// PE32+ images as the loader needs them: headers, sections, exports, imports
// and base relocations, parsed from the file bytes with bounds checks.
// Layouts: Microsoft PE/COFF specification ("Optional Header", ".edata",
// ".idata", ".reloc").
#pragma once
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/wire/bytes.hpp"
#include "simulator/address_space.hpp"

namespace openkd::sim {

struct PeSection {
  std::string name;
  std::uint32_t virtual_address = 0, virtual_size = 0;
  std::uint32_t raw_offset = 0, raw_size = 0;
  std::uint32_t characteristics = 0;
};

struct PeImport {
  std::string module, name;
  std::uint32_t iat_rva = 0;  // where the resolved address goes
};

struct PeImage {
  std::string file_name;
  wire::Bytes file;
  std::uint64_t image_base = 0;
  std::uint32_t size_of_image = 0, size_of_headers = 0, entry_rva = 0, checksum = 0;
  std::vector<PeSection> sections;
  std::map<std::string, std::uint32_t> exports;  // name -> RVA
  std::vector<PeImport> imports;
  std::uint32_t reloc_rva = 0, reloc_size = 0;
};

std::expected<PeImage, std::string> parse_pe(std::string file_name, wire::Bytes file);
std::expected<PeImage, std::string> load_pe_file(const std::string& path);

/// Resolves an import (module, name) to a virtual address; nullopt fails the load.
using ImportResolver = std::function<std::optional<std::uint64_t>(const std::string& module, const std::string& name)>;

/// Maps `image` at `base` into `space` (headers + sections), applies base
/// relocations for the difference from its preferred base and fills the IAT.
std::expected<Region, std::string> map_pe(AddressSpace& space, const PeImage& image, std::uint64_t base,
                                          const ImportResolver& resolve);

}  // namespace openkd::sim
