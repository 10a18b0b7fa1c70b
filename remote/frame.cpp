#include "remote/frame.hpp"

#include <fmt/format.h>

namespace openkd::remote {
namespace {

using wire::Reader;
using wire::Writer;

void put_string(Writer& w, std::string_view s) {
  w.u32(static_cast<std::uint32_t>(s.size()));
  w.bytes(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

// A string field; the size is checked against what remains before anything is copied.
std::string get_string(Reader& r) {
  std::uint32_t size = r.u32();
  if (size > r.remaining()) {
    r.skip(r.remaining() + 1);  // makes the failure sticky
    return {};
  }
  ByteView b = r.bytes(size);
  return std::string(b.begin(), b.end());
}

template <std::size_t N>
void get_array(Reader& r, std::array<std::uint8_t, N>& out) {
  ByteView b = r.bytes(N);
  if (b.size() == N) std::copy(b.begin(), b.end(), out.begin());
}

struct Encoder {
  Writer& w;
  void operator()(const ClientHello& m) { w.u32(protocol_magic).u16(m.version); put_string(w, m.identity); }
  void operator()(const ServerHello& m) {
    w.u16(m.version).u8(m.auth_required ? 1 : 0).bytes(m.nonce);
  }
  void operator()(const AuthResponse& m) { w.bytes(m.mac); }
  void operator()(const Welcome& m) { put_string(w, m.peer_name); put_string(w, m.prompt); }
  void operator()(const Rejected& m) { put_string(w, m.reason); }
  void operator()(const Command& m) { put_string(w, m.line); }
  void operator()(const Output& m) { put_string(w, m.text); }
  void operator()(const CommandEcho& m) { w.u8(m.own ? 1 : 0); put_string(w, m.text); }
  void operator()(const Prompt& m) { put_string(w, m.text); }
  void operator()(const BreakRequest&) {}
  void operator()(const Bye& m) { w.u8(static_cast<std::uint8_t>(m.reason)); put_string(w, m.message); }
  void operator()(const ProtocolError& m) { put_string(w, m.message); }
  void operator()(const Keepalive&) {}
  void operator()(const CommandDone&) {}
};

std::expected<bool, DecodeError> get_bool(Reader& r, std::string_view field) {
  std::uint8_t v = r.u8();
  if (r.ok() && v > 1) return std::unexpected(DecodeError{fmt::format("{}: {} is not 0 or 1", field, v)});
  return v == 1;
}

}  // namespace

FrameType frame_type(const Message& m) {
  // The variant's alternatives are declared in FrameType order, starting at 1.
  return static_cast<FrameType>(m.index() + 1);
}

Bytes encode_frame(const Message& m) {
  Bytes out;
  Writer w(out);
  w.u32(0).u8(static_cast<std::uint8_t>(frame_type(m)));
  std::visit(Encoder{w}, m);
  std::uint32_t length = static_cast<std::uint32_t>(out.size() - 4);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(length >> (8 * i));
  return out;
}

std::expected<Message, DecodeError> decode_payload(FrameType type, ByteView payload) {
  Reader r(payload);
  Message m;
  auto bad = [&](std::string_view what) {
    return std::unexpected(DecodeError{fmt::format("frame type {}: {}", static_cast<int>(type), what)});
  };
  switch (type) {
    case FrameType::client_hello: {
      ClientHello h;
      std::uint32_t magic = r.u32();
      h.version = r.u16();
      h.identity = get_string(r);
      if (r.ok() && magic != protocol_magic)
        return bad(fmt::format("client hello: bad magic {:#010x} (not an openkd client)", magic));
      m = std::move(h);
      break;
    }
    case FrameType::server_hello: {
      ServerHello h;
      h.version = r.u16();
      auto auth = get_bool(r, "server hello auth flag");
      if (!auth) return std::unexpected(auth.error());
      h.auth_required = *auth;
      get_array(r, h.nonce);
      m = h;
      break;
    }
    case FrameType::auth_response: {
      AuthResponse a;
      get_array(r, a.mac);
      m = a;
      break;
    }
    case FrameType::welcome: {
      Welcome w;
      w.peer_name = get_string(r);
      w.prompt = get_string(r);
      m = std::move(w);
      break;
    }
    case FrameType::rejected: m = Rejected{get_string(r)}; break;
    case FrameType::command: m = Command{get_string(r)}; break;
    case FrameType::output: m = Output{get_string(r)}; break;
    case FrameType::command_echo: {
      auto own = get_bool(r, "command echo own flag");
      if (!own) return std::unexpected(own.error());
      m = CommandEcho{*own, get_string(r)};
      break;
    }
    case FrameType::prompt: m = Prompt{get_string(r)}; break;
    case FrameType::break_request: m = BreakRequest{}; break;
    case FrameType::bye: {
      std::uint8_t reason = r.u8();
      if (r.ok() && reason > static_cast<std::uint8_t>(ByeReason::server_stopped))
        return bad(fmt::format("bye: unknown reason {}", reason));
      m = Bye{static_cast<ByeReason>(reason), get_string(r)};
      break;
    }
    case FrameType::error: m = ProtocolError{get_string(r)}; break;
    case FrameType::keepalive: m = Keepalive{}; break;
    case FrameType::command_done: m = CommandDone{}; break;
    default: return bad("unknown frame type");
  }
  if (!r.ok()) return bad("truncated payload");
  if (r.remaining() != 0) return bad(fmt::format("{} unexpected trailing bytes", r.remaining()));
  return m;
}

void FrameDecoder::push(ByteView bytes) {
  if (failed_) return;
  // Compact before growing so a long session does not keep consumed bytes.
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 65536) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

std::expected<std::optional<Message>, DecodeError> FrameDecoder::next() {
  if (failed_) return std::unexpected(*failed_);
  ByteView avail = ByteView(buffer_).subspan(start_);
  if (avail.size() < 4) return std::nullopt;
  Reader r(avail);
  std::uint32_t length = r.u32();
  if (length == 0 || length > max_frame_length) {
    failed_ = DecodeError{fmt::format("frame length {} outside 1..{}", length, max_frame_length)};
    return std::unexpected(*failed_);
  }
  if (avail.size() - 4 < length) return std::nullopt;
  auto type = static_cast<FrameType>(avail[4]);
  auto msg = decode_payload(type, avail.subspan(5, length - 1));
  if (!msg) {
    failed_ = msg.error();
    return std::unexpected(*failed_);
  }
  start_ += 4 + length;
  return std::optional<Message>(std::move(*msg));
}

}  // namespace openkd::remote
