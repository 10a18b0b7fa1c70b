// DBGKD_ANY_WAIT_STATE_CHANGE (packet type 7): 240 bytes, the union picked by
// NewState, the AMD64 control report, and the data that follows (docs/protocol.md section 3).
#include <algorithm>

#include "core/wire/codec_util.hpp"
#include "core/wire/dbgkd.hpp"

namespace openkd::wire {

namespace {

constexpr std::size_t kUnionOffset = 32;
constexpr std::size_t kUnionSize = 160;
constexpr std::size_t kControlReportOffset = 192;
constexpr std::size_t kExceptionParameters = 15;  // EXCEPTION_MAXIMUM_PARAMETERS
constexpr std::string_view kStateChange = "DBGKD_ANY_WAIT_STATE_CHANGE";

// EXCEPTION_RECORD64: Code @0, Flags @4, Record @8, Address @16, NumberParameters
// @24, Information[15] @32 (8-aligned); DBGKM_EXCEPTION64 adds FirstChance @152.
void put(Writer& w, const ExceptionState& e) {
  const ExceptionRecord64& x = e.record;
  w.u32(x.code).u32(x.flags).u64(x.record).u64(x.address).u32(x.number_parameters).u32(0);
  for (std::uint64_t info : x.information) w.u64(info);
  w.u32(e.first_chance);
}

// DBGKD_LOAD_SYMBOLS64: PathNameLength @0, BaseOfDll @8, ProcessId @16, CheckSum
// @24, SizeOfImage @28, UnloadSymbols @32. PathNameLength counts the path's NUL.
void put(Writer& w, const LoadSymbolsState& l) {
  const auto path_length = static_cast<std::uint32_t>(l.path.empty() ? 0 : l.path.size() + 1);
  w.u32(path_length).u32(0).u64(l.base_of_dll).u64(l.process_id).u32(l.checksum).u32(l.size_of_image);
  w.u8(l.unload ? 1 : 0);
}

void put(Writer& w, const CommandStringState& c) { w.u32(c.flags).u32(c.reserved); }

std::uint32_t new_state(const StateChange& s) {
  switch (s.state.index()) {
    case 0: return kStateException;
    case 1: return kStateLoadSymbols;
    default: return kStateCommandString;
  }
}

// AMD64_DBGKD_CONTROL_REPORT at @192: Dr6, Dr7, EFlags, InstructionCount,
// ReportFlags, InstructionStream[16], SegCs, SegDs, SegEs, SegFs.
void put(Writer& w, const ControlReport& c) {
  w.u64(c.dr6).u64(c.dr7).u32(c.eflags).u16(c.instruction_count).u16(c.report_flags).bytes(c.instruction_stream);
  w.u16(c.seg_cs).u16(c.seg_ds).u16(c.seg_es).u16(c.seg_fs);
}

ControlReport get_control_report(Reader& r) {
  ControlReport c;
  c.dr6 = r.u64();
  c.dr7 = r.u64();
  c.eflags = r.u32();
  c.instruction_count = r.u16();
  c.report_flags = r.u16();
  ByteView stream = r.bytes(c.instruction_stream.size());
  std::copy(stream.begin(), stream.end(), c.instruction_stream.begin());
  c.seg_cs = r.u16();
  c.seg_ds = r.u16();
  c.seg_es = r.u16();
  c.seg_fs = r.u16();
  return c;
}

std::expected<ExceptionState, DecodeError> get_exception(Reader& u) {
  ExceptionState e;
  ExceptionRecord64& x = e.record;
  x.code = u.u32();
  x.flags = u.u32();
  x.record = u.u64();
  x.address = u.u64();
  x.number_parameters = u.u32();
  u.skip(4);
  for (std::uint64_t& info : x.information) info = u.u64();
  e.first_chance = u.u32();
  if (x.number_parameters > kExceptionParameters)
    return detail::fail(std::string(kStateChange) + " Exception: NumberParameters is " +
                        std::to_string(x.number_parameters) + ", at most 15");
  return e;
}

std::expected<LoadSymbolsState, DecodeError> get_load_symbols(Reader& u, ByteView data) {
  LoadSymbolsState l;
  const std::uint32_t path_length = u.u32();
  u.skip(4);
  l.base_of_dll = u.u64();
  l.process_id = u.u64();
  l.checksum = u.u32();
  l.size_of_image = u.u32();
  l.unload = u.u8() != 0;
  if (path_length != data.size())
    return detail::length_mismatch(std::string(kStateChange) + " LoadSymbols", "PathNameLength", path_length,
                                   data.size());
  if (!data.empty()) {
    if (data.back() != 0)
      return detail::fail(std::string(kStateChange) + " LoadSymbols: path of " + std::to_string(data.size()) +
                          " bytes does not end in NUL");
    auto end = std::find(data.begin(), data.end(), std::uint8_t{0});
    l.path.assign(data.begin(), end);
  }
  return l;
}

std::expected<CommandStringState, DecodeError> get_command_string(Reader& u, ByteView data) {
  CommandStringState c;
  c.flags = u.u32();
  c.reserved = u.u32();
  // "name\0command\0": two NUL-terminated strings; anything after them is ignored.
  auto name_end = std::find(data.begin(), data.end(), std::uint8_t{0});
  auto command_end = name_end == data.end() ? data.end() : std::find(name_end + 1, data.end(), std::uint8_t{0});
  if (command_end == data.end())
    return detail::fail(std::string(kStateChange) + " CommandString: expected \"name\\0command\\0\" after 240 bytes, got " +
                        std::to_string(data.size()) + " bytes without two NULs");
  c.name.assign(data.begin(), name_end);
  c.command.assign(name_end + 1, command_end);
  return c;
}

}  // namespace

Bytes encode(const StateChange& s) {
  Bytes out;
  out.reserve(kStateChangeSize + 64);
  Writer w(out);
  w.u32(new_state(s)).u16(s.processor_level).u16(s.processor).u32(s.number_processors).u32(0);
  w.u64(s.thread).u64(s.program_counter);
  std::visit([&](const auto& state) { put(w, state); }, s.state);
  w.pad_to(kControlReportOffset);
  put(w, s.control);
  if (const auto* l = std::get_if<LoadSymbolsState>(&s.state); l && !l->path.empty()) {
    w.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(l->path.data()), l->path.size())).u8(0);
  } else if (const auto* c = std::get_if<CommandStringState>(&s.state)) {
    w.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(c->name.data()), c->name.size())).u8(0);
    w.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(c->command.data()), c->command.size())).u8(0);
  }
  return out;
}

std::expected<StateChange, DecodeError> decode_state_change(ByteView body) {
  if (body.size() < kStateChangeSize) return detail::too_short(kStateChange, kStateChangeSize, body.size());
  Reader r(body);
  StateChange s;
  const std::uint32_t state = r.u32();
  s.processor_level = r.u16();
  s.processor = r.u16();
  s.number_processors = r.u32();
  r.skip(4);
  s.thread = r.u64();
  s.program_counter = r.u64();
  Reader control(body.subspan(kControlReportOffset, kStateChangeSize - kControlReportOffset));
  s.control = get_control_report(control);

  Reader u(body.subspan(kUnionOffset, kUnionSize));
  ByteView data = body.subspan(kStateChangeSize);
  switch (state) {
    case kStateException: {
      auto e = get_exception(u);
      if (!e) return std::unexpected(e.error());
      s.state = std::move(*e);
      break;
    }
    case kStateLoadSymbols: {
      auto l = get_load_symbols(u, data);
      if (!l) return std::unexpected(l.error());
      s.state = std::move(*l);
      break;
    }
    case kStateCommandString: {
      auto c = get_command_string(u, data);
      if (!c) return std::unexpected(c.error());
      s.state = std::move(*c);
      break;
    }
    default:
      return detail::fail(std::string(kStateChange) + ": NewState " + detail::hex(state) +
                          " is none of 0x3030 (exception), 0x3031 (load symbols), 0x3032 (command string)");
  }
  return s;
}

}  // namespace openkd::wire
