#include "core/debugger/modules.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "core/debugger/pe.hpp"
#include "core/wire/bytes.hpp"

namespace openkd::debugger {
namespace {

constexpr std::uint16_t kMaxUnicodeStringBytes = 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// UNICODE_STRING {u16 Length, u16 MaximumLength, u32 pad, u64 Buffer}; UTF-16 to UTF-8
// (surrogates become '?': module names are ASCII in practice).
std::string read_unicode_string(TargetMemory& target, wire::Reader header) {
  const std::uint16_t length = header.u16();
  header.skip(6);
  const std::uint64_t buffer = header.u64();
  if (!header.ok() || length == 0 || buffer == 0) return {};
  std::vector<std::uint8_t> raw(std::min<std::uint16_t>(length, kMaxUnicodeStringBytes) & ~1u);
  if (!read_exact(target, buffer, raw)) return {};
  std::string out;
  for (std::size_t i = 0; i + 1 < raw.size(); i += 2) {
    const std::uint32_t unit = raw[i] | (raw[i + 1] << 8);
    if (unit == 0) break;
    append_utf8(out, unit >= 0xD800 && unit < 0xE000 ? '?' : unit);
  }
  return out;
}

}  // namespace

std::string module_name_from_image(std::string_view image_name) {
  if (auto slash = image_name.find_last_of("\\/"); slash != std::string_view::npos)
    image_name.remove_prefix(slash + 1);
  if (auto dot = image_name.rfind('.'); dot != std::string_view::npos && dot > 0) image_name = image_name.substr(0, dot);
  return std::string(image_name);
}

ModuleWalk walk_loaded_modules(TargetMemory& target, std::uint64_t list_head, std::uint64_t kern_base) {
  ModuleWalk walk;
  auto& modules = walk.modules;
  std::array<std::uint8_t, 8> link{};
  if (auto r = read_exact(target, list_head, link); !r) {
    walk.error = fmt::format("cannot read PsLoadedModuleList at {:#x}", list_head);
    return walk;
  }
  std::uint64_t entry = wire::Reader(link).u64();
  std::set<std::uint64_t> visited;
  while (entry != list_head) {
    if (entry == 0 || !visited.insert(entry).second || modules.size() >= kMaxModules) {
      walk.error = fmt::format("module list is corrupt at {:#x}", entry);
      break;
    }
    std::array<std::uint8_t, kLdrEntrySize> raw{};
    if (auto r = read_exact(target, entry, raw); !r) {
      walk.error = fmt::format("cannot read module entry at {:#x}", entry);
      break;
    }
    wire::Reader ldr(raw);
    const std::uint64_t next = ldr.u64();
    ldr.seek(kLdrDllBase);
    Module m;
    m.base = ldr.u64();
    m.entry = ldr.u64();
    m.size = ldr.u32();
    m.full_path = read_unicode_string(target, wire::Reader(std::span(raw).subspan(kLdrFullDllName, 16)));
    m.image_name = read_unicode_string(target, wire::Reader(std::span(raw).subspan(kLdrBaseDllName, 16)));
    if (m.image_name.empty()) m.image_name = module_name_from_image(m.full_path);
    if (m.base != 0 && m.size != 0 && m.size <= kMaxPeImageSize) modules.push_back(std::move(m));
    entry = next;
  }

  // KD's names: nt for the kernel; duplicates get their base appended.
  std::set<std::string> taken;
  for (auto& m : modules) {
    m.name = m.contains(kern_base) ? "nt" : module_name_from_image(m.image_name);
    if (m.name.empty()) m.name = fmt::format("image{:x}", m.base);
    std::string lower = m.name;
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!taken.insert(lower).second) m.name = fmt::format("{}_{:x}", m.name, m.base);
  }
  return walk;
}

std::optional<std::vector<UnloadedModule>> read_unloaded_modules(TargetMemory& target, std::uint64_t debugger_data) {
  if (debugger_data == 0) return std::nullopt;
  std::array<std::uint8_t, 16> where{};
  if (!read_exact(target, debugger_data + kDebuggerDataMmUnloadedDrivers, where)) return std::nullopt;
  wire::Reader r(where);
  const std::uint64_t array_variable = r.u64(), count_variable = r.u64();
  if (array_variable == 0 || count_variable == 0) return std::nullopt;
  std::array<std::uint8_t, 8> pointer{};
  std::array<std::uint8_t, 4> count_raw{};
  if (!read_exact(target, array_variable, pointer) || !read_exact(target, count_variable, count_raw)) return std::nullopt;
  const std::uint64_t array = wire::Reader(pointer).u64();
  if (array == 0) return std::nullopt;
  const std::uint32_t count = std::min(wire::Reader(count_raw).u32(), kMaxUnloadedDrivers);
  std::vector<UnloadedModule> out;
  constexpr std::size_t kEntry = 40;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::array<std::uint8_t, kEntry> raw{};
    if (!read_exact(target, array + i * kEntry, raw)) break;
    wire::Reader e(raw);
    e.seek(16);
    UnloadedModule m;
    m.base = e.u64();
    m.end = e.u64();
    m.name = read_unicode_string(target, wire::Reader(std::span(raw).subspan(0, 16)));
    if (m.base != 0 && !m.name.empty()) out.push_back(std::move(m));
  }
  return out;
}

const std::vector<Module>& ModuleList::modules() {
  if (loaded_) return modules_;
  loaded_ = true;
  modules_.clear();
  last_error_.clear();
  const auto& v = where_;
  if (v.module_list != 0) {
    auto walk = walk_loaded_modules(memory_, v.module_list, v.kern_base);
    modules_ = std::move(walk.modules);
    last_error_ = std::move(walk.error);
  }
  // Without a usable list, the kernel alone is still known from KernBase and its headers.
  const bool have_kernel = std::ranges::any_of(modules_, [&](const Module& m) { return m.contains(v.kern_base); });
  if (!have_kernel && v.kern_base != 0) {
    if (auto h = read_pe_headers(memory_, v.kern_base)) {
      Module nt{"nt", "", "", v.kern_base, h->size_of_image, v.kern_base + h->entry_point_rva};
      if (auto e = read_pe_exports(memory_, v.kern_base, *h)) nt.image_name = e->image_name;
      if (nt.image_name.empty()) nt.image_name = "ntoskrnl.exe";
      modules_.insert(modules_.begin(), std::move(nt));
    }
  }
  return modules_;
}

const Module* ModuleList::find(std::string_view name) {
  for (const auto& m : modules())
    if (iequals(m.name, name)) return &m;
  for (const auto& m : modules())
    if (iequals(m.image_name, name)) return &m;
  return nullptr;
}

const Module* ModuleList::containing(std::uint64_t address) {
  for (const auto& m : modules())
    if (m.contains(address)) return &m;
  return nullptr;
}

}  // namespace openkd::debugger
