// The target's I/O packets: KD_DEBUG_IO (3), KD_TRACE_IO (9), KD_CONTROL_REQUEST
// (10) and KD_FILE_IO (11) (docs/protocol.md section 4, layouts from windbgkd.h).
#include <algorithm>

#include "core/wire/codec_util.hpp"
#include "core/wire/dbgkd.hpp"

namespace openkd::wire {

namespace {

constexpr std::string_view kDebugIo = "DBGKD_DEBUG_IO";
constexpr std::string_view kFileIo = "DBGKD_FILE_IO";
constexpr std::string_view kTraceIo = "DBGKD_TRACE_IO";
constexpr std::string_view kControlRequest = "DBGKD_CONTROL_REQUEST";

ByteView view(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

}  // namespace

// ---- KD_DEBUG_IO: ApiNumber @0, ProcessorLevel @4, Processor @6, union @8, text @16 ----

Bytes encode(const DebugIo& d) {
  Bytes out;
  out.reserve(kDebugIoHeaderSize + d.text.size());
  Writer w(out);
  w.u32(d.api).u16(d.processor_level).u16(d.processor).u32(static_cast<std::uint32_t>(d.text.size()));
  if (d.api == kDebugIoGetString) w.u32(d.length_of_string_read);
  w.pad_to(kDebugIoHeaderSize).bytes(view(d.text));
  return out;
}

std::expected<DebugIo, DecodeError> decode_debug_io(ByteView body) {
  if (body.size() < kDebugIoHeaderSize) return detail::too_short(kDebugIo, kDebugIoHeaderSize, body.size());
  Reader r(body);
  DebugIo d;
  d.api = r.u32();
  d.processor_level = r.u16();
  d.processor = r.u16();
  const std::uint32_t first = r.u32();   // LengthOfString / LengthOfPromptString
  const std::uint32_t second = r.u32();  // GetString: LengthOfStringRead
  ByteView text = body.subspan(kDebugIoHeaderSize);
  if (d.api == kDebugIoPrintString) {
    if (first != text.size()) return detail::length_mismatch(std::string(kDebugIo) + " PrintString", "LengthOfString", first, text.size());
  } else if (d.api == kDebugIoGetString) {
    // The target sends its prompt (LengthOfPromptString); the debugger answers
    // with the same header, LengthOfStringRead set to what it read, and that text.
    if (first != text.size() && second != text.size())
      return detail::fail(std::string(kDebugIo) + " GetString: " + std::to_string(text.size()) +
                          " bytes follow, but LengthOfPromptString is " + std::to_string(first) +
                          " and LengthOfStringRead is " + std::to_string(second));
    d.length_of_string_read = second;
  } else {
    return detail::fail(std::string(kDebugIo) + ": ApiNumber " + detail::hex(d.api) +
                        " is neither 0x3230 (PrintString) nor 0x3231 (GetString)");
  }
  d.text.assign(text.begin(), text.end());
  return d;
}

// ---- KD_FILE_IO: ApiNumber @0, Status @4, 56-byte union @8 ----

Bytes encode(const FileIo& f) {
  Bytes out;
  out.reserve(kFileIoHeaderSize + f.path.size() * 2 + 2 + f.data.size());
  Writer w(out);
  w.u32(f.api).u32(f.status);
  if (const auto* c = std::get_if<CreateFileArgs>(&f.args)) {
    w.u32(c->desired_access).u32(c->file_attributes).u32(c->share_access).u32(c->create_disposition);
    w.u32(c->create_options).u32(0).u64(c->handle).u64(c->length);  // Handle is 8-aligned: @24 in the union
  } else if (const auto* t = std::get_if<FileTransferArgs>(&f.args)) {
    w.u64(t->handle).u64(t->offset).u32(t->length);
  } else if (const auto* cl = std::get_if<CloseFileArgs>(&f.args)) {
    w.u64(cl->handle);
  }
  w.pad_to(kFileIoHeaderSize);
  // Only CreateFile carries a path and only ReadFile/WriteFile carry data.
  if (std::holds_alternative<CreateFileArgs>(f.args) && !f.path.empty()) {
    for (char16_t ch : f.path) w.u16(static_cast<std::uint16_t>(ch));
    w.u16(0);
  }
  if (std::holds_alternative<FileTransferArgs>(f.args)) w.bytes(f.data);
  return out;
}

std::expected<FileIo, DecodeError> decode_file_io(ByteView body) {
  if (body.size() < kFileIoHeaderSize) return detail::too_short(kFileIo, kFileIoHeaderSize, body.size());
  Reader r(body);
  FileIo f;
  f.api = r.u32();
  f.status = r.u32();
  ByteView rest = body.subspan(kFileIoHeaderSize);
  switch (f.api) {
    case kFileIoCreateFile: {
      CreateFileArgs c;
      c.desired_access = r.u32();
      c.file_attributes = r.u32();
      c.share_access = r.u32();
      c.create_disposition = r.u32();
      c.create_options = r.u32();
      r.skip(4);
      c.handle = r.u64();
      c.length = r.u64();
      f.args = c;
      if (rest.size() % 2 != 0)
        return detail::fail(std::string(kFileIo) + " CreateFile: UTF-16 path of odd length " + std::to_string(rest.size()));
      if (!rest.empty() && (rest[rest.size() - 2] != 0 || rest[rest.size() - 1] != 0))
        return detail::fail(std::string(kFileIo) + " CreateFile: path of " + std::to_string(rest.size() / 2) +
                            " UTF-16 units does not end in NUL");
      for (std::size_t i = 0; i + 1 < rest.size(); i += 2) {
        const auto unit = static_cast<char16_t>(rest[i] | (rest[i + 1] << 8));
        if (unit == 0) break;
        f.path.push_back(unit);
      }
      break;
    }
    case kFileIoReadFile:
    case kFileIoWriteFile: {
      FileTransferArgs t;
      t.handle = r.u64();
      t.offset = r.u64();
      t.length = r.u32();
      f.args = t;
      if (!rest.empty() && t.length != rest.size())
        return detail::length_mismatch(std::string(kFileIo) + (f.api == kFileIoReadFile ? " ReadFile" : " WriteFile"),
                                       "Length", t.length, rest.size());
      f.data.assign(rest.begin(), rest.end());
      break;
    }
    case kFileIoCloseFile:
      f.args = CloseFileArgs{r.u64()};
      break;  // nothing follows a close; extra bytes are ignored
    default:
      return detail::fail(std::string(kFileIo) + ": ApiNumber " + detail::hex(f.api) +
                          " is none of 0x3430..0x3433 (CreateFile, ReadFile, WriteFile, CloseFile)");
  }
  return f;
}

// ---- KD_TRACE_IO: ApiNumber @0, ProcessorLevel @4, Processor @6, LengthOfData @8, data @64 ----

Bytes encode(const TraceIo& t) {
  Bytes out;
  out.reserve(kTraceIoHeaderSize + t.data.size());
  Writer w(out);
  w.u32(t.api).u16(t.processor_level).u16(t.processor).u32(static_cast<std::uint32_t>(t.data.size()));
  w.pad_to(kTraceIoHeaderSize).bytes(t.data);
  return out;
}

std::expected<TraceIo, DecodeError> decode_trace_io(ByteView body) {
  if (body.size() < kTraceIoHeaderSize) return detail::too_short(kTraceIo, kTraceIoHeaderSize, body.size());
  Reader r(body);
  TraceIo t;
  t.api = r.u32();
  t.processor_level = r.u16();
  t.processor = r.u16();
  const std::uint32_t length = r.u32();
  ByteView data = body.subspan(kTraceIoHeaderSize);
  if (length != data.size()) return detail::length_mismatch(kTraceIo, "LengthOfData", length, data.size());
  t.data.assign(data.begin(), data.end());
  return t;
}

// ---- KD_CONTROL_REQUEST: ApiNumber @0, ReturnStatus @4, HardwareBreakPointNumber @8,
//      Available / Released @12, rest of the 56-byte union reserved ----

Bytes encode(const ControlRequest& c) {
  Bytes out;
  out.reserve(kControlRequestSize);
  Writer w(out);
  w.u32(c.api).u32(c.return_status).u32(c.hardware_break_point_number).u32(c.available);
  w.pad_to(kControlRequestSize);
  return out;
}

std::expected<ControlRequest, DecodeError> decode_control_request(ByteView body) {
  if (body.size() < kControlRequestSize) return detail::too_short(kControlRequest, kControlRequestSize, body.size());
  Reader r(body);
  ControlRequest c;
  c.api = r.u32();
  c.return_status = r.u32();
  c.hardware_break_point_number = r.u32();
  c.available = r.u32();
  return c;
}

}  // namespace openkd::wire
