#include "simulator/pe_image.hpp"

#include <fstream>
#include <iterator>

namespace openkd::sim {
namespace {
using wire::Reader;

// The image as mapped (RVA-addressed), for reading tables before it is in memory.
struct Rva {
  const PeImage& pe;
  // File offset of an RVA, or nullopt when it lies in no section's raw data.
  std::optional<std::size_t> offset(std::uint32_t rva, std::uint32_t len = 1) const {
    if (rva < pe.size_of_headers && rva + len <= pe.size_of_headers) return rva;
    for (const auto& s : pe.sections) {
      if (rva >= s.virtual_address && rva - s.virtual_address < s.raw_size &&
          std::uint64_t(rva - s.virtual_address) + len <= s.raw_size) {
        std::uint64_t off = std::uint64_t(s.raw_offset) + (rva - s.virtual_address);
        if (off + len <= pe.file.size()) return static_cast<std::size_t>(off);
      }
    }
    return std::nullopt;
  }
  std::optional<std::uint32_t> u32(std::uint32_t rva) const {
    auto off = offset(rva, 4);
    if (!off) return std::nullopt;
    Reader r(wire::ByteView(pe.file).subspan(*off, 4));
    return r.u32();
  }
  std::optional<std::uint64_t> u64(std::uint32_t rva) const {
    auto off = offset(rva, 8);
    if (!off) return std::nullopt;
    Reader r(wire::ByteView(pe.file).subspan(*off, 8));
    return r.u64();
  }
  std::optional<std::uint16_t> u16(std::uint32_t rva) const {
    auto off = offset(rva, 2);
    if (!off) return std::nullopt;
    return static_cast<std::uint16_t>(pe.file[*off] | (pe.file[*off + 1] << 8));
  }
  std::optional<std::string> cstring(std::uint32_t rva) const {
    std::string s;
    for (std::uint32_t i = 0; i < 512; ++i) {
      auto off = offset(rva + i, 1);
      if (!off) return std::nullopt;
      char c = static_cast<char>(pe.file[*off]);
      if (c == 0) return s;
      s.push_back(c);
    }
    return std::nullopt;
  }
};

std::expected<void, std::string> parse_exports(PeImage& pe, std::uint32_t dir_rva, std::uint32_t dir_size) {
  if (dir_rva == 0 || dir_size == 0) return {};
  Rva m{pe};
  auto n_functions = m.u32(dir_rva + 20), n_names = m.u32(dir_rva + 24), functions = m.u32(dir_rva + 28),
       names = m.u32(dir_rva + 32), ordinals = m.u32(dir_rva + 36);
  if (!n_functions || !n_names || !functions || !names || !ordinals) return std::unexpected("bad export directory");
  if (*n_names > 65536) return std::unexpected("too many exports");
  for (std::uint32_t i = 0; i < *n_names; ++i) {
    auto name_rva = m.u32(*names + 4 * i);
    auto ordinal = m.u16(*ordinals + 2 * i);
    if (!name_rva || !ordinal || *ordinal >= *n_functions) return std::unexpected("bad export entry");
    auto fn = m.u32(*functions + 4 * *ordinal);
    auto name = m.cstring(*name_rva);
    if (!fn || !name) return std::unexpected("bad export entry");
    pe.exports[*name] = *fn;
  }
  return {};
}

std::expected<void, std::string> parse_imports(PeImage& pe, std::uint32_t dir_rva) {
  if (dir_rva == 0) return {};
  Rva m{pe};
  for (std::uint32_t d = dir_rva;; d += 20) {
    auto lookup = m.u32(d), name_rva = m.u32(d + 12), iat = m.u32(d + 16);
    if (!lookup || !name_rva || !iat) return std::unexpected("bad import descriptor");
    if (*name_rva == 0 && *iat == 0) break;
    auto module = m.cstring(*name_rva);
    if (!module) return std::unexpected("bad import module name");
    std::uint32_t thunks = *lookup ? *lookup : *iat;
    for (std::uint32_t i = 0; i < 65536; ++i) {
      auto thunk = m.u64(thunks + 8 * i);
      if (!thunk) return std::unexpected("bad import thunk");
      if (*thunk == 0) break;
      if (*thunk >> 63) return std::unexpected("import by ordinal from " + *module + " is not supported");
      auto name = m.cstring(static_cast<std::uint32_t>(*thunk) + 2);  // skip the u16 hint
      if (!name) return std::unexpected("bad import name");
      pe.imports.push_back({*module, *name, *iat + 8 * i});
    }
    if (d - dir_rva > 20 * 4096) return std::unexpected("import directory too long");
  }
  return {};
}
}  // namespace

std::expected<PeImage, std::string> parse_pe(std::string file_name, wire::Bytes file) {
  PeImage pe;
  pe.file_name = std::move(file_name);
  pe.file = std::move(file);
  Reader dos(pe.file);
  if (dos.u16() != 0x5A4D) return std::unexpected(pe.file_name + ": not an MZ image");
  dos.seek(0x3C);
  std::uint32_t nt = dos.u32();
  Reader r(pe.file);
  r.seek(nt);
  if (r.u32() != 0x00004550) return std::unexpected(pe.file_name + ": no PE signature");
  std::uint16_t machine = r.u16();
  std::uint16_t n_sections = r.u16();
  r.skip(12);
  std::uint16_t optional_size = r.u16();
  r.skip(2);
  std::size_t optional_at = r.offset();
  if (r.u16() != 0x20B) return std::unexpected(pe.file_name + ": not PE32+");
  if (machine != 0x8664) return std::unexpected(pe.file_name + ": not an AMD64 image");
  r.seek(optional_at + 16);
  pe.entry_rva = r.u32();
  r.seek(optional_at + 24);
  pe.image_base = r.u64();
  r.seek(optional_at + 56);
  pe.size_of_image = r.u32();
  pe.size_of_headers = r.u32();
  pe.checksum = r.u32();
  r.seek(optional_at + 108);
  std::uint32_t n_dirs = r.u32();
  std::uint32_t dirs[16][2]{};
  for (std::uint32_t i = 0; i < n_dirs && i < 16; ++i) {
    dirs[i][0] = r.u32();
    dirs[i][1] = r.u32();
  }
  r.seek(optional_at + optional_size);
  for (unsigned i = 0; i < n_sections; ++i) {
    PeSection s;
    auto name = r.bytes(8);
    for (auto c : name) if (c) s.name.push_back(static_cast<char>(c));
    s.virtual_size = r.u32();
    s.virtual_address = r.u32();
    s.raw_size = r.u32();
    s.raw_offset = r.u32();
    r.skip(12);
    s.characteristics = r.u32();
    pe.sections.push_back(s);
  }
  if (!r.ok()) return std::unexpected(pe.file_name + ": truncated headers");
  if (pe.size_of_image == 0 || pe.size_of_image > (64u << 20)) return std::unexpected(pe.file_name + ": bad SizeOfImage");
  if (pe.size_of_headers > pe.file.size()) return std::unexpected(pe.file_name + ": bad SizeOfHeaders");
  for (const auto& s : pe.sections) {
    if (std::uint64_t(s.virtual_address) + std::max(s.virtual_size, s.raw_size) > pe.size_of_image ||
        std::uint64_t(s.raw_offset) + s.raw_size > pe.file.size())
      return std::unexpected(pe.file_name + ": section " + s.name + " out of bounds");
  }
  if (auto e = parse_exports(pe, dirs[0][0], dirs[0][1]); !e) return std::unexpected(pe.file_name + ": " + e.error());
  if (auto e = parse_imports(pe, dirs[1][0]); !e) return std::unexpected(pe.file_name + ": " + e.error());
  pe.reloc_rva = dirs[5][0];
  pe.reloc_size = dirs[5][1];
  return pe;
}

std::expected<PeImage, std::string> load_pe_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot open " + path);
  wire::Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string name = path.substr(path.find_last_of('/') + 1);
  return parse_pe(name, std::move(bytes));
}

std::expected<Region, std::string> map_pe(AddressSpace& space, const PeImage& pe, std::uint64_t base,
                                          const ImportResolver& resolve) {
  // Resolve before mapping so a failure leaves nothing behind.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> iat;
  for (const auto& imp : pe.imports) {
    auto va = resolve(imp.module, imp.name);
    if (!va) return std::unexpected(pe.file_name + ": unresolved import " + imp.module + "!" + imp.name);
    iat.emplace_back(imp.iat_rva, *va);
  }
  auto region = space.map(pe.file_name, base, pe.size_of_image, kProtAll);
  if (!region) return std::unexpected(region.error());
  std::uint8_t* host = space.physical().host(region->pa);  // the region's backing is contiguous
  std::copy_n(pe.file.begin(), pe.size_of_headers, host);
  for (const auto& s : pe.sections) {
    std::uint32_t n = std::min(s.raw_size, s.virtual_size ? s.virtual_size : s.raw_size);
    std::copy_n(pe.file.begin() + s.raw_offset, n, host + s.virtual_address);
  }
  // Base relocations: blocks of {u32 page RVA, u32 block size, u16 entries (type << 12 | offset)}.
  std::uint64_t delta = base - pe.image_base;
  if (delta != 0) {
    if (pe.reloc_rva == 0) {
      space.unmap(base);
      return std::unexpected(pe.file_name + ": needs relocation but has no .reloc");
    }
    std::uint32_t at = pe.reloc_rva, end = pe.reloc_rva + pe.reloc_size;
    while (at + 8 <= end && end <= pe.size_of_image) {
      wire::Reader r(wire::ByteView(host + at, end - at));
      std::uint32_t page = r.u32(), block = r.u32();
      if (block < 8 || at + block > end) break;
      for (std::uint32_t i = 8; i + 2 <= block; i += 2) {
        std::uint16_t entry = static_cast<std::uint16_t>(host[at + i] | (host[at + i + 1] << 8));
        std::uint32_t type = entry >> 12, rva = page + (entry & 0xFFF);
        if (type == 10 && rva + 8 <= pe.size_of_image) {  // IMAGE_REL_BASED_DIR64
          std::uint64_t v = 0;
          for (int b = 7; b >= 0; --b) v = (v << 8) | host[rva + b];
          v += delta;
          for (int b = 0; b < 8; ++b) host[rva + b] = static_cast<std::uint8_t>(v >> (8 * b));
        } else if (type == 3 && rva + 4 <= pe.size_of_image) {  // IMAGE_REL_BASED_HIGHLOW
          std::uint32_t v = 0;
          for (int b = 3; b >= 0; --b) v = (v << 8) | host[rva + b];
          v += static_cast<std::uint32_t>(delta);
          for (int b = 0; b < 4; ++b) host[rva + b] = static_cast<std::uint8_t>(v >> (8 * b));
        }
      }
      at += block;
    }
  }
  for (auto [rva, va] : iat)
    if (rva + 8 <= pe.size_of_image)
      for (int b = 0; b < 8; ++b) host[rva + b] = static_cast<std::uint8_t>(va >> (8 * b));
  return region;
}

}  // namespace openkd::sim
