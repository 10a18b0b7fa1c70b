// Virtual memory: db dw dd dq dp dc da du dps dqs dds, eb ew ed eq ep ea eza eu ezu, f, s.
#include <bit>
#include <algorithm>
#include <array>
#include <vector>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

constexpr std::uint64_t kDefaultDumpBytes = 0x80;
// KD refuses a display range past 512 KiB unless it is written with L?.
constexpr std::uint64_t kMaxDumpBytes = 0x80000;
constexpr std::uint64_t kMaxSearchBytes = 0x10000000;
constexpr std::uint64_t kMaxFillBytes = 0x10000000;
constexpr std::size_t kMaxSearchHits = 4096;
constexpr std::size_t kStringLineChars = 48;  // da/du continue on a new line after this many

char printable(std::uint8_t b) { return b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '.'; }

struct DumpFormat {
  unsigned size;      // bytes per element
  unsigned per_line;  // elements per line
  bool ascii;         // trailing characters column
};

DumpFormat dump_format(std::string_view name) {
  if (name == "db") return {1, 16, true};
  if (name == "dw") return {2, 8, false};
  if (name == "dd") return {4, 4, false};
  if (name == "dc") return {4, 4, true};
  return {8, 2, false};  // dq, dp
}

std::string element_text(const MemoryBlock& block, std::size_t offset, unsigned size) {
  auto v = block.value(offset, size);
  if (size == 8) return v ? hex64(*v) : "????????`????????";
  if (!v) return std::string(2 * size, '?');
  return fmt::format("{:0{}x}", *v, 2 * size);
}

std::string ascii_text(const MemoryBlock& block, std::size_t offset, std::size_t count) {
  std::string s;
  for (std::size_t i = offset; i < offset + count && i < block.bytes.size(); ++i)
    s.push_back(block.valid[i] ? printable(block.bytes[i]) : '?');
  return s;
}

// The lines of db/dw/dd/dq/dc for `block` (whose size is a multiple of the element size).
void print_dump(EngineCore& core, const MemoryBlock& block, const DumpFormat& f) {
  const std::size_t line_bytes = std::size_t(f.size) * f.per_line;
  for (std::size_t offset = 0; offset < block.bytes.size(); offset += line_bytes) {
    const std::size_t n = std::min(line_bytes, block.bytes.size() - offset);
    std::string line = hex64(block.address + offset) + " ";
    for (std::size_t i = 0; i < n; i += f.size) {
      // db separates the two halves of a line with '-'.
      line += (f.size == 1 && i == 8) ? '-' : ' ';
      line += element_text(block, offset + i, f.size);
    }
    if (f.ascii) {
      const std::size_t width = f.size == 1 ? 3 : 2 * f.size + 1;
      line += std::string((line_bytes - n) / f.size * width, ' ');
      line += "  " + ascii_text(block, offset, n);
    }
    core.printf("{}\n", line);
  }
}

CommandResult<> cmd_dump(EngineCore& core, Invocation& call) {
  std::string name = call.name;
  // dD (doubles) is dd (dwords) but for the case of its D.
  if (name == "dd" && call.command.text.starts_with("dD")) name = "dD";
  if (name == "d") name = core.last_dump_command;
  const bool floats = name == "df" || name == "dD";
  std::optional<std::uint64_t> default_address;
  if (core.have_dump_address) {
    default_address = core.next_dump_address;
  } else if (auto ctx = core.context()) {
    default_address = ctx->rip;
  }
  const bool pointers = name == "dps" || name == "dqs" || name == "dds";
  const bool strings = name == "da" || name == "du";
  const unsigned size = name == "dds" || name == "df" ? 4 : pointers || name == "dD" ? 8 : name == "du" ? 2 : strings ? 1 : dump_format(name).size;
  const std::uint64_t default_count = strings ? 0x100 / size : kDefaultDumpBytes / size;
  auto range = core.range(call.args, default_address, default_count, size, kMaxDumpBytes);
  if (!range) return std::unexpected(range.error());
  if (auto r = core.expect_end(call.args); !r) return r;

  const auto block = core.read_block(range->address, range->count * size);
  std::uint64_t consumed = range->count * size;
  if (pointers) {
    for (std::uint64_t i = 0; i < range->count; ++i) {
      const std::uint64_t at = range->address + i * size;
      auto v = block.value(i * size, size);
      std::string line = hex64(at) + "  " + (v ? (size == 8 ? hex64(*v) : fmt::format("{:08x}", *v)) : std::string(size == 8 ? "????????`????????" : "????????"));
      if (v) {
        if (auto name_at = core.describe(*v); !name_at.empty()) line += " " + name_at;
      }
      core.printf("{}\n", line);
    }
  } else if (strings) {
    if (!block.value(0, size)) {
      core.printf("{}  ????\n", hex64(range->address));
    } else {
      // Up to the terminating NUL (or the range end), 48 characters a line.
      std::size_t i = 0;
      bool terminated = false;
      while (i < range->count && !terminated) {
        std::string text;
        std::vector<std::uint16_t> units;  // du: UTF-16, shown as UTF-8
        const std::uint64_t line_address = range->address + i * size;
        while (i < range->count && text.size() + units.size() < kStringLineChars) {
          auto c = block.value(i * size, size);
          if (!c || *c == 0) {
            terminated = true;
            ++i;
            break;
          }
          if (size == 2)
            units.push_back(*c < 0x20 || *c == 0x7F ? '.' : static_cast<std::uint16_t>(*c));
          else
            text.push_back(*c < 0x80 ? printable(static_cast<std::uint8_t>(*c)) : '.');
          ++i;
        }
        if (size == 2) text = utf16_to_utf8(units);
        core.printf("{}  \"{}\"\n", hex64(line_address), text);
      }
      consumed = i * size;
    }
  } else if (floats) {
    // df: 4 floats a line; dD: 3 doubles a line.
    const unsigned per_line = size == 4 ? 4 : 3;
    for (std::uint64_t i = 0; i < range->count; i += per_line) {
      std::string line = hex64(range->address + i * size);
      for (std::uint64_t k = i; k < std::min<std::uint64_t>(range->count, i + per_line); ++k) {
        auto v = block.value(k * size, size);
        if (!v) line += fmt::format(" {:>22}", "????????");
        else if (size == 4) line += fmt::format(" {:>15.7g}", std::bit_cast<float>(static_cast<std::uint32_t>(*v)));
        else line += fmt::format(" {:>22.15g}", std::bit_cast<double>(*v));
      }
      core.printf("{}\n", line);
    }
  } else {
    print_dump(core, block, dump_format(name));
  }
  core.next_dump_address = range->address + consumed;
  core.have_dump_address = true;
  core.last_dump_command = name;
  return {};
}

// ---- e*: edit ----------------------------------------------------------------------

void append_le(wire::Bytes& out, std::uint64_t v, unsigned size) {
  for (unsigned i = 0; i < size; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

CommandResult<> write_all(EngineCore& core, std::uint64_t address, const wire::Bytes& data, std::size_t column) {
  auto written = core.target.write_virtual(address, data);
  core.forget_state();  // the write may have touched a stack the context cache mirrors
  if (!written || *written < data.size()) return std::unexpected(CommandError::at("Memory access error", column));
  return {};
}

CommandResult<> cmd_edit(EngineCore& core, Invocation& call) {
  const std::size_t address_column = call.args.next_column();
  auto address = core.expression(call.args);
  if (!address) return std::unexpected(address.error());
  wire::Bytes data;
  const std::string_view name = call.name;
  if (name == "ea" || name == "eza" || name == "eu" || name == "ezu") {
    const std::size_t column = call.args.next_column();
    auto text = call.args.take_quoted();
    if (!text) return std::unexpected(CommandError::syntax(column));
    const bool wide = name == "eu" || name == "ezu";
    for (unsigned char c : *text) append_le(data, c, wide ? 2 : 1);
    if (name == "eza" || name == "ezu") append_le(data, 0, wide ? 2 : 1);
  } else {
    const unsigned size = name == "eb" ? 1 : name == "ew" ? 2 : name == "ed" ? 4 : 8;
    while (!call.args.at_end()) {
      auto v = core.expression(call.args);
      if (!v) return std::unexpected(v.error());
      append_le(data, *v, size);
    }
    if (data.empty()) return std::unexpected(CommandError::syntax(call.args.column()));
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  if (data.empty()) return {};
  return write_all(core, *address, data, address_column);
}

// ---- f: fill -------------------------------------------------------------------------

CommandResult<wire::Bytes> byte_pattern(EngineCore& core, ArgCursor& args, unsigned size) {
  wire::Bytes pattern;
  if (auto text = args.take_quoted()) {
    for (unsigned char c : *text) append_le(pattern, c, size == 2 ? 2 : 1);
  } else {
    while (!args.at_end()) {
      auto v = core.expression(args);
      if (!v) return std::unexpected(v.error());
      append_le(pattern, *v, size);
    }
  }
  if (pattern.empty()) return std::unexpected(CommandError::syntax(args.column()));
  return pattern;
}

CommandResult<> cmd_fill(EngineCore& core, Invocation& call) {
  const std::size_t column = call.args.next_column();
  auto range = core.range(call.args, std::nullopt, 0, 1, kMaxFillBytes);
  if (!range) return std::unexpected(range.error());
  if (range->count == 0) return std::unexpected(CommandError::syntax(call.args.column()));
  auto pattern = byte_pattern(core, call.args, 1);
  if (!pattern) return std::unexpected(pattern.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  auto filled = core.target.fill_memory(range->address, static_cast<std::uint32_t>(range->count), *pattern, false);
  if (!filled) {
    // A stub without FillMemory: write the repeated pattern ourselves.
    wire::Bytes data(range->count);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = (*pattern)[i % pattern->size()];
    if (auto r = write_all(core, range->address, data, column); !r) return r;
    filled = static_cast<std::uint32_t>(range->count);
  }
  core.forget_state();
  // KD's f is silent; only a short fill is worth a line.
  if (*filled < range->count) core.printf("Fill stopped after 0x{:x} of 0x{:x} bytes\n", *filled, range->count);
  return {};
}

// ---- s: search -----------------------------------------------------------------------

// `s` and DbgKdSearchMemoryApi. The target searches when it can: one round trip
// per 64 KiB window instead of one read per page, and Ctrl-C still stops it between
// windows. It answers the first match in [start, start + length) at any alignment,
// so a -w/-d/-q search starts at each aligned address and searches past an
// unaligned match, and a match that starts in the overlap is left to the next
// window: the hits, their order and the output are exactly those of the local
// scan (cpp_tests/commands/test_golden.cpp runs the golden transcripts both ways). A target is trusted to search only after
// it has found the "MZ" at KernBase: some stubs answer a search they do not
// implement with STATUS_UNSUCCESSFUL, which would read as "not found". Without
// that, after STATUS_NOT_IMPLEMENTED, or for a long pattern, `s` reads and scans.
constexpr std::uint64_t kSearchWindow = 0x10000;
constexpr std::size_t kMaxTargetSearchPattern = 0x100;

/// Whether the target's SearchMemory can be trusted (asked once per engine, until
/// the target model is forgotten).
bool target_searches(EngineCore& core) {
  if (core.target_search_trusted) return *core.target_search_trusted;
  const std::uint64_t kern_base = core.target.version().kern_base;
  if (kern_base == 0) return false;
  constexpr std::array<std::uint8_t, 2> kMz{'M', 'Z'};
  auto r = core.target.search_memory(kern_base, kMz.size(), kMz);
  using debugger::ErrorKind;
  if (!r && r.error().kind != ErrorKind::Status && r.error().kind != ErrorKind::Failed &&
      r.error().kind != ErrorKind::Unsupported)
    return false;  // the link, not the target's ability: ask again next time
  core.target_search_trusted = r && *r == kern_base;
  return *core.target_search_trusted;
}

/// The target's matches in one window, as offsets below kSearchWindow, at most
/// `limit` of them; false if the target cannot search (scan locally instead).
bool target_window_hits(EngineCore& core, std::uint64_t base, std::uint64_t length, wire::ByteView pattern,
                        unsigned alignment, std::size_t limit, std::vector<std::uint64_t>& found) {
  using debugger::ErrorKind;
  const std::uint64_t last = length - pattern.size();  // the last offset a match may start at
  // Only aligned addresses can hit, so each search starts at the next one.
  auto next_aligned = [&](std::uint64_t offset) { return offset + (alignment - (base + offset) % alignment) % alignment; };
  std::uint64_t from = next_aligned(0);
  while (from <= last && from < kSearchWindow && found.size() < limit) {
    if (core.cancel_requested.load()) return true;  // the caller reports the cancel
    auto r = core.target.search_memory(base + from, length - from, pattern);
    if (!r) {
      const auto& e = r.error();
      if (e.ntstatus == wire::kStatusNotImplemented || e.kind == ErrorKind::Unsupported) return false;
      if (e.kind == ErrorKind::Status) return true;  // no (more) match in this window
      if (e.kind == ErrorKind::Failed) return false;
      core.link_failure(e);  // says why, once; the caller stops
      return true;
    }
    if (*r < base + from || *r - base > last) return false;  // an answer outside what was asked
    const std::uint64_t at = *r - base;
    if (at >= kSearchWindow) return true;  // in the overlap: the next window has it
    if (*r % alignment == 0) found.push_back(at);
    from = next_aligned(at + 1);
  }
  return true;
}

CommandResult<> cmd_search(EngineCore& core, Invocation& call) {
  char kind = 'b';
  while (call.args.peek() == '-') {
    const std::size_t column = call.args.next_column();
    call.args.consume('-');
    const auto flag = call.args.take_token();
    if (flag.size() != 1 || std::string_view("bwdqau").find(flag[0]) == std::string_view::npos)
      return std::unexpected(CommandError::caret("Syntax error", column));
    kind = flag[0];
  }
  const unsigned size = kind == 'w' ? 2 : kind == 'd' ? 4 : kind == 'q' ? 8 : kind == 'u' ? 2 : 1;
  auto range = core.range(call.args, std::nullopt, 0, 1, kMaxSearchBytes);
  if (!range) return std::unexpected(range.error());
  if (range->count == 0) return std::unexpected(CommandError::caret("Range error", call.args.column()));
  const std::size_t pattern_column = call.args.next_column();
  wire::Bytes pattern;
  if (kind == 'a' || kind == 'u') {
    auto text = call.args.take_quoted();
    if (!text || text->empty()) return std::unexpected(CommandError::syntax(pattern_column));
    for (unsigned char c : *text) append_le(pattern, c, size);
  } else {
    auto p = byte_pattern(core, call.args, size);
    if (!p) return std::unexpected(p.error());
    pattern = std::move(*p);
  }
  if (auto r = core.expect_end(call.args); !r) return r;

  // Window by window (overlapping by the pattern length), Ctrl-C checked between
  // them. The target searches each window when it can (see target_window_hits);
  // otherwise the window is read and scanned here. Both find the same hits.
  const DumpFormat format = kind == 'w' ? DumpFormat{2, 8, false}
                            : kind == 'd' ? DumpFormat{4, 4, false}
                            : kind == 'q' ? DumpFormat{8, 2, false}
                                          : DumpFormat{1, 16, true};
  // -w/-d/-q match only at addresses aligned to their size, as KD does.
  const unsigned alignment = kind == 'a' || kind == 'u' ? 1 : size;
  bool remote = pattern.size() <= kMaxTargetSearchPattern && target_searches(core);
  std::size_t hits = 0;
  std::vector<std::uint64_t> found;  // offsets in the window
  for (std::uint64_t offset = 0; offset < range->count; offset += kSearchWindow) {
    if (core.take_cancel() || core.link_failure_reported) break;  // Ctrl-C, or the link failed
    const std::uint64_t length = std::min(kSearchWindow + pattern.size() - 1, range->count - offset);
    if (length < pattern.size()) break;
    const std::uint64_t base = range->address + offset;
    found.clear();
    if (remote && !target_window_hits(core, base, length, pattern, alignment, kMaxSearchHits + 1 - hits, found)) {
      remote = false;  // the target cannot search after all: scan here from now on
      found.clear();
    }
    if (!remote) {
      const auto block = core.read_block(base, length);
      for (std::uint64_t i = 0; i + pattern.size() <= length && i < kSearchWindow; ++i) {
        if ((base + i) % alignment != 0) continue;
        bool match = true;
        for (std::size_t k = 0; k < pattern.size() && match; ++k)
          match = block.valid[i + k] && block.bytes[i + k] == pattern[k];
        if (match) found.push_back(i);
      }
    }
    for (const std::uint64_t i : found) {
      if (++hits > kMaxSearchHits) {
        core.printf("Search stopped after {} hits\n", kMaxSearchHits);
        return {};
      }
      print_dump(core, core.read_block(base + i, std::size_t(format.size) * format.per_line), format);
    }
  }
  return {};
}

}  // namespace

void add_memory_commands(std::vector<CommandSpec>& table) {
  for (std::string_view name : {"db", "dw", "dd", "dq", "dp", "dc"})
    table.push_back({name, cmd_dump, "d{b|w|d|q|p|c} [range]        display bytes/words/dwords/qwords/pointers/dwords+chars"});
  table.push_back({"d", cmd_dump, "d [range]                     repeat the last display command"});
  table.push_back({"da", cmd_dump, "da [range]                    display an ASCII string"});
  table.push_back({"du", cmd_dump, "du [range]                    display a UTF-16 string"});
  table.push_back({"df", cmd_dump, "df [range] | dD [range]       display floats | doubles"});
  table.push_back({"dps", cmd_dump, "dps [range]                   display pointers with symbols"});
  table.push_back({"dqs", cmd_dump, "dqs [range]                   display qwords with symbols"});
  table.push_back({"dds", cmd_dump, "dds [range]                   display dwords with symbols"});
  for (std::string_view name : {"eb", "ew", "ed", "eq", "ep"})
    table.push_back({name, cmd_edit, "e{b|w|d|q|p} address values   enter bytes/words/dwords/qwords/pointers"});
  table.push_back({"ea", cmd_edit, "ea address \"text\"             enter an ASCII string (eza: NUL-terminated)"});
  table.push_back({"eza", cmd_edit, "eza address \"text\"            enter a NUL-terminated ASCII string"});
  table.push_back({"eu", cmd_edit, "eu address \"text\"             enter a UTF-16 string (ezu: NUL-terminated)"});
  table.push_back({"ezu", cmd_edit, "ezu address \"text\"            enter a NUL-terminated UTF-16 string"});
  table.push_back({"f", cmd_fill, "f range pattern               fill memory"});
  table.push_back({"s", cmd_search, "s [-b|-w|-d|-q|-a|-u] range pattern   search memory"});
}

}  // namespace openkd::commands
