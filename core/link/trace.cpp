#include "core/link/trace.hpp"

#include <algorithm>
#include <cstdio>
#include <variant>

#include "core/wire/dbgkd.hpp"
#include "core/wire/kdnet.hpp"

namespace openkd::link::trace {

namespace kdcom = wire::kdcom;
using wire::ByteView;

namespace {

template <class... Args>
std::string fmt(const char* f, Args... args) {
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, f, args...);
  return std::string(buf, n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

// WinDbg's way of writing a 64-bit address: fffff800`00400000.
std::string addr(std::uint64_t a) {
  return fmt("%08x`%08x", static_cast<unsigned>(a >> 32), static_cast<unsigned>(a & 0xFFFFFFFFu));
}

// A string from the wire, quoted, quotes and control characters escaped, at most 160 characters.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  std::size_t shown = 0;
  for (unsigned char c : s) {
    if (shown++ == 160) {
      out += "...";
      break;
    }
    if (c == '"') out += "\\\"";  // backslashes stay as they are: Windows paths read as written
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c >= 0x7F) out += fmt("\\x%02x", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string u16_path(const std::u16string& p) {
  std::string s;
  for (char16_t c : p) s += c < 0x80 ? static_cast<char>(c) : '?';
  return s;
}

std::string api_label(std::uint32_t api) {
  if (auto n = wire::api_name(api)) return std::string(*n);
  return fmt("api 0x%x", api);
}

std::string describe_manipulate(ByteView body, Direction dir) {
  auto m = wire::decode_manipulate(body);
  if (!m) return "undecodable: " + m.error().message;
  bool reply = dir == Direction::ToDebugger;
  std::string s = api_label(m->api);
  std::string tail;  // what only the reply says
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, wire::MemoryTransfer>) {
          s += " " + addr(a.target_base_address) + fmt(" L 0x%x", a.transfer_count);
          if (reply) tail = fmt(" (0x%x bytes)", a.actual_bytes);
        } else if constexpr (std::is_same_v<T, wire::ContextExArgs>) {
          s += fmt(" offset 0x%x L 0x%x", a.offset, a.byte_count);
          if (reply) tail = fmt(" (0x%x bytes)", a.bytes_copied);
        } else if constexpr (std::is_same_v<T, wire::SetContextArgs>) {
          s += fmt(" flags 0x%x", a.context_flags);
        } else if constexpr (std::is_same_v<T, wire::WriteBreakPointArgs>) {
          s += " " + addr(a.break_point_address);
          if (reply) tail = fmt(" handle %u", a.break_point_handle);
        } else if constexpr (std::is_same_v<T, wire::RestoreBreakPointArgs>) {
          s += fmt(" handle %u", a.break_point_handle);
        } else if constexpr (std::is_same_v<T, wire::ContinueArgs>) {
          s += " " + status_name(a.continue_status);
        } else if constexpr (std::is_same_v<T, wire::Continue2Args>) {
          s += " " + status_name(a.continue_status) + (a.trace_flag ? " step" : "") + fmt(" dr7 %llx", (unsigned long long)a.dr7);
        } else if constexpr (std::is_same_v<T, wire::IoArgs>) {
          s += fmt(" port %llx size %u", (unsigned long long)a.io_address, a.data_size);
          tail = fmt(" value 0x%x", a.data_value);
        } else if constexpr (std::is_same_v<T, wire::IoExtendedArgs>) {
          s += fmt(" port %llx size %u", (unsigned long long)a.io_address, a.data_size);
          tail = fmt(" value 0x%x", a.data_value);
        } else if constexpr (std::is_same_v<T, wire::MsrArgs>) {
          s += fmt(" msr 0x%x", a.msr);
          tail = fmt(" value %08x`%08x", a.data_value_high, a.data_value_low);
        } else if constexpr (std::is_same_v<T, wire::QueryMemoryArgs>) {
          s += " " + addr(a.address);
        } else if constexpr (std::is_same_v<T, wire::SearchMemoryArgs>) {
          s += " " + addr(a.search_address) + fmt(" L 0x%llx pattern %u", (unsigned long long)a.search_length, a.pattern_length);
          if (reply) tail = " found " + addr(a.search_address);
        } else if constexpr (std::is_same_v<T, wire::FillMemoryArgs>) {
          s += " " + addr(a.address) + fmt(" L 0x%x", a.length);
        } else if constexpr (std::is_same_v<T, wire::BusDataArgs>) {
          s += fmt(" bus %u slot %u offset 0x%x L 0x%x", a.bus_number, a.slot_number, a.offset, a.length);
        } else if constexpr (std::is_same_v<T, wire::GetVersion64>) {
          if (reply)
            tail = fmt(" %u.%u protocol %u machine %x kernel ", a.major_version, a.minor_version, a.protocol_version,
                       a.machine_type) + addr(a.kern_base) + " PsLoadedModuleList " + addr(a.ps_loaded_module_list);
        } else if constexpr (std::is_same_v<T, wire::SwitchPartitionArgs>) {
          s += fmt(" partition %u", a.partition);
        }
      },
      m->args);
  if (m->processor) s += fmt(" cpu %u", m->processor);
  if (reply) s += " -> " + status_name(m->return_status) + tail;
  else if (!m->data.empty()) s += fmt(" +%zu bytes", m->data.size());
  return s;
}

std::string describe_state_change(ByteView body) {
  auto sc = wire::decode_state_change(body);
  if (!sc) return "undecodable: " + sc.error().message;
  std::string s;
  if (auto* e = std::get_if<wire::ExceptionState>(&sc->state)) {
    s = fmt("Exception %08x at ", e->record.code) + addr(e->record.address) +
        (e->first_chance ? " first-chance" : " second-chance");
  } else if (auto* l = std::get_if<wire::LoadSymbolsState>(&sc->state)) {
    s = std::string(l->unload ? "UnloadSymbols " : "LoadSymbols ") + addr(l->base_of_dll) +
        fmt(" size 0x%x ", l->size_of_image) + quoted(l->path);
  } else if (auto* c = std::get_if<wire::CommandStringState>(&sc->state)) {
    s = "CommandString " + quoted(c->name) + " " + quoted(c->command);
  }
  return s + fmt(" cpu %u/%u pc ", sc->processor, sc->number_processors) + addr(sc->program_counter) +
         " thread " + addr(sc->thread);
}

std::string describe_debug_io(ByteView body, Direction dir) {
  auto d = wire::decode_debug_io(body);
  if (!d) return "undecodable: " + d.error().message;
  if (d->api == wire::kDebugIoPrintString) return "PrintString " + quoted(d->text);
  if (d->api == wire::kDebugIoGetString)
    return std::string(dir == Direction::ToDebugger ? "GetString prompt " : "GetString answer ") + quoted(d->text);
  return api_label(d->api);
}

std::string describe_file_io(ByteView body, Direction dir) {
  auto f = wire::decode_file_io(body);
  if (!f) return "undecodable: " + f.error().message;
  bool reply = dir == Direction::ToTarget;  // the target asks, the debugger answers
  std::string s = api_label(f->api);
  if (auto* c = std::get_if<wire::CreateFileArgs>(&f->args)) {
    if (!f->path.empty()) s += " " + quoted(u16_path(f->path));
    if (reply) s += " -> " + status_name(f->status) + fmt(" handle %llx length %llu", (unsigned long long)c->handle,
                                                        (unsigned long long)c->length);
  } else if (auto* t = std::get_if<wire::FileTransferArgs>(&f->args)) {
    s += fmt(" handle %llx offset 0x%llx L 0x%x", (unsigned long long)t->handle, (unsigned long long)t->offset, t->length);
    if (reply) s += " -> " + status_name(f->status);
  } else if (auto* h = std::get_if<wire::CloseFileArgs>(&f->args)) {
    s += fmt(" handle %llx", (unsigned long long)h->handle);
    if (reply) s += " -> " + status_name(f->status);
  }
  return s;
}

std::string describe_body(const kdcom::Packet& p, Direction dir) {
  switch (p.type) {
    case kdcom::PacketType::StateManipulate: return describe_manipulate(p.body, dir);
    case kdcom::PacketType::StateChange64: return describe_state_change(p.body);
    case kdcom::PacketType::DebugIo: return describe_debug_io(p.body, dir);
    case kdcom::PacketType::FileIo: return describe_file_io(p.body, dir);
    case kdcom::PacketType::TraceIo: {
      auto t = wire::decode_trace_io(p.body);
      if (!t) return "undecodable: " + t.error().message;
      return api_label(t->api) + fmt(" %zu bytes", t->data.size());
    }
    case kdcom::PacketType::ControlRequest: {
      auto c = wire::decode_control_request(p.body);
      if (!c) return "undecodable: " + c.error().message;
      std::string s = api_label(c->api) + fmt(" bp %u", c->hardware_break_point_number);
      if (dir == Direction::ToDebugger) s += " -> " + status_name(c->return_status) + fmt(" %u", c->available);
      return s;
    }
    default: return fmt("%zu bytes", p.body.size());
  }
}

}  // namespace

const char* to_string(Direction d) {
  switch (d) {
    case Direction::ToTarget: return "dbg->tgt";
    case Direction::ToDebugger: return "tgt->dbg";
    default: return "--------";
  }
}

std::string status_name(std::uint32_t status) {
  switch (status) {
    case wire::kStatusSuccess: return "STATUS_SUCCESS";
    case wire::kStatusUnsuccessful: return "STATUS_UNSUCCESSFUL";
    case wire::kStatusNotImplemented: return "STATUS_NOT_IMPLEMENTED";
    case wire::kStatusNoSuchFile: return "STATUS_NO_SUCH_FILE";
    case wire::kDbgContinue: return "DBG_CONTINUE";
    case wire::kDbgExceptionHandled: return "DBG_EXCEPTION_HANDLED";
    case wire::kDbgExceptionNotHandled: return "DBG_EXCEPTION_NOT_HANDLED";
    case wire::kExceptionAccessViolation: return "STATUS_ACCESS_VIOLATION";
    default: return fmt("0x%08x", status);
  }
}

std::string describe(const kdcom::Packet& p, Direction d) {
  std::string s = std::string(kdcom::to_string(p.type)) + fmt(" id=%08x", p.id);
  if (kdcom::is_control(p.type)) return s;
  return s + " " + describe_body(p, d);
}

std::string format(const Line& l) {
  double secs = std::chrono::duration<double>(l.at).count();
  return fmt("%11.6f %s ", secs, to_string(l.dir)) + l.text;
}

Decoder::Decoder(TimePoint start, std::chrono::milliseconds partial_timeout)
    : start_(start), partial_timeout_(partial_timeout) {
  for (int i = 0; i < 2; ++i) {
    auto dir = static_cast<Direction>(i);
    sides_[i] = std::make_unique<Side>([this, dir](const kdcom::FrameEvent& e) { on_event(dir, e); });
  }
  datagram_parser_ = std::make_unique<kdcom::Parser>(
      [this](const kdcom::FrameEvent& e) { on_event(datagram_dir_, e); }, false);
}

void Decoder::reset() {
  for (auto& side : sides_) {
    side->parser.reset();
    side->bytes_since_event = 0;
    side->have_last = false;
    side->last_data = {};
  }
}

Line Decoder::line(Direction dir, std::string text) const { return Line{now_ - start_, dir, std::move(text)}; }

Line Decoder::note(Direction dir, std::string text, TimePoint now) const {
  return Line{now - start_, dir, std::move(text)};
}

std::vector<Line> Decoder::push(Direction dir, ByteView bytes, TimePoint now) {
  std::vector<Line> out;
  if (dir == Direction::None) return out;  // bytes always travel one way
  out_ = &out;
  now_ = now;
  Side& side = *sides_[static_cast<int>(dir)];
  // A packet left incomplete by a quiet line is abandoned, as the link does.
  if (side.have_last && side.bytes_since_event > 0 && now - side.last_bytes >= partial_timeout_) {
    side.parser.reset();
    counters_.abandoned_bytes += side.bytes_since_event;
    out.push_back(line(dir, fmt("partial packet abandoned after a quiet line (%llu bytes)",
                                (unsigned long long)side.bytes_since_event)));
    side.bytes_since_event = 0;
  }
  side.last_bytes = now;
  side.have_last = true;
  // Count the bytes after the last event, byte by byte, so a packet that completes
  // mid-chunk leaves only the bytes after it counted.
  for (std::uint8_t b : bytes) {
    ++side.bytes_since_event;
    side.parser.push(ByteView(&b, 1));
  }
  out_ = nullptr;
  return out;
}

std::vector<Line> Decoder::push_datagram(Direction dir, ByteView packet, TimePoint now) {
  std::vector<Line> out;
  if (dir == Direction::None) return out;
  out_ = &out;
  now_ = now;
  datagram_dir_ = dir;
  // The target's first KDNET data datagram is a 12-byte pseudo packet, not a KD packet.
  if (auto host = wire::kdnet::parse_pseudo_packet(packet)) {
    out.push_back(line(dir, fmt("KDNET pseudo packet (host %u.%u.%u.%u)", *host >> 24, (*host >> 16) & 255,
                                (*host >> 8) & 255, *host & 255)));
    out_ = nullptr;
    return out;
  }
  datagram_parser_->reset();
  datagram_parser_->push(packet);
  datagram_parser_->reset();
  out_ = nullptr;
  return out;
}

void Decoder::on_event(Direction dir, const kdcom::FrameEvent& e) {
  sides_[static_cast<int>(dir)]->bytes_since_event = 0;
  if (!out_) return;
  Side& side = *sides_[static_cast<int>(dir)];
  switch (e.kind) {
    case kdcom::FrameEvent::Kind::BreakIn:
      ++counters_.break_ins;
      out_->push_back(line(dir, "break-in byte"));
      return;
    case kdcom::FrameEvent::Kind::Error: {
      ++counters_.framing_errors;
      std::string s = std::string(kdcom::to_string(e.error));
      switch (e.error) {
        case kdcom::FrameError::GarbageSkipped:
          ++counters_.junk_runs;
          s += fmt(" (resync: junk starting with byte 0x%02x)", e.got);
          break;
        case kdcom::FrameError::BadChecksum:
          ++counters_.bad_checksum;
          s += " " + std::string(kdcom::to_string(e.packet.type)) +
               fmt(" id=%08x (header %08x, body sums to %08x)", e.packet.id, e.expected, e.got);
          break;
        case kdcom::FrameError::MissingTrailer:
          s += " " + std::string(kdcom::to_string(e.packet.type)) + fmt(" id=%08x (byte 0x%02x)", e.packet.id, e.got);
          break;
        default: s += fmt(" (expected %u, got %u)", e.expected, e.got); break;
      }
      out_->push_back(line(dir, s));
      return;
    }
    case kdcom::FrameEvent::Kind::Packet: break;
  }
  const kdcom::Packet& p = e.packet;
  ++counters_.packets;
  ++counters_.by_type[std::string(kdcom::to_string(p.type))];
  if (p.type == kdcom::PacketType::Reset) ++counters_.resets;
  if (p.type == kdcom::PacketType::Resend) ++counters_.resends;
  std::string text = describe(p, dir);
  if (!kdcom::is_control(p.type)) {
    ++counters_.data_packets;
    if (text.find(" undecodable: ") != std::string::npos) ++counters_.decode_errors;
    if (p.type == kdcom::PacketType::StateManipulate && dir == Direction::ToTarget && p.body.size() >= 4) {
      std::uint32_t api = p.body[0] | p.body[1] << 8 | p.body[2] << 16 | std::uint32_t(p.body[3]) << 24;
      ++counters_.by_api[api_label(api)];
    }
    if (p == side.last_data) {
      ++counters_.retransmissions;
      text += " (retransmission)";
    }
    side.last_data = p;
  }
  out_->push_back(line(dir, std::move(text)));
}

std::string Decoder::summary() const {
  const Counters& c = counters_;
  std::string s = fmt("packets %llu (data %llu)", (unsigned long long)c.packets, (unsigned long long)c.data_packets);
  for (auto& [k, v] : c.by_type) s += fmt(", %s %llu", k.c_str(), (unsigned long long)v);
  s += "\nmanipulate APIs:";
  if (c.by_api.empty()) s += " none";
  for (auto& [k, v] : c.by_api) s += fmt(" %s %llu", k.c_str(), (unsigned long long)v);
  s += fmt("\nlink: retransmissions %llu, resets %llu, resends %llu, break-ins %llu, bad checksums %llu, "
           "junk runs %llu, framing errors %llu, abandoned bytes %llu, decode errors %llu",
           (unsigned long long)c.retransmissions, (unsigned long long)c.resets, (unsigned long long)c.resends,
           (unsigned long long)c.break_ins, (unsigned long long)c.bad_checksum, (unsigned long long)c.junk_runs,
           (unsigned long long)c.framing_errors, (unsigned long long)c.abandoned_bytes,
           (unsigned long long)c.decode_errors);
  return s;
}

}  // namespace openkd::link::trace
