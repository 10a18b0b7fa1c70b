// KDCOM framing: packet writer and the push parser (docs/protocol.md section 1).
#include "core/wire/kdcom.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace openkd::wire::kdcom {

namespace {

constexpr std::uint8_t kDataLeaderByte = 0x30;     // '0'
constexpr std::uint8_t kControlLeaderByte = 0x69;  // 'i'
constexpr int kLeaderLength = 4;

bool is_known_type(std::uint16_t type) {
  // 0 is unused, 8 (KD_POLL_BREAKIN) never leaves the target, 12 is PACKET_TYPE_MAX.
  return type != 0 && type != 8 && type < static_cast<std::uint16_t>(PacketType::Max);
}

}  // namespace

std::string_view to_string(PacketType t) {
  switch (t) {
    case PacketType::Unused: return "KD_UNUSED";
    case PacketType::StateChange32: return "KD_STATE_CHANGE32";
    case PacketType::StateManipulate: return "KD_STATE_MANIPULATE";
    case PacketType::DebugIo: return "KD_DEBUG_IO";
    case PacketType::Acknowledge: return "KD_ACKNOWLEDGE";
    case PacketType::Resend: return "KD_RESEND";
    case PacketType::Reset: return "KD_RESET";
    case PacketType::StateChange64: return "KD_STATE_CHANGE64";
    case PacketType::PollBreakin: return "KD_POLL_BREAKIN";
    case PacketType::TraceIo: return "KD_TRACE_IO";
    case PacketType::ControlRequest: return "KD_CONTROL_REQUEST";
    case PacketType::FileIo: return "KD_FILE_IO";
    case PacketType::Max: return "KD_MAX";
  }
  return "KD_UNKNOWN";
}

bool is_control(PacketType t) {
  return t == PacketType::Acknowledge || t == PacketType::Resend || t == PacketType::Reset;
}

std::uint32_t checksum(ByteView body) {
  std::uint32_t sum = 0;
  for (std::uint8_t b : body) sum += b;
  return sum;
}

std::expected<Header, DecodeError> decode_header(ByteView bytes) {
  Reader r(bytes);
  Header h;
  h.leader = r.u32();
  h.type = r.u16();
  h.byte_count = r.u16();
  h.id = r.u32();
  h.checksum = r.u32();
  if (!r.ok())
    return std::unexpected(DecodeError{"KD_PACKET: header needs 16 bytes, got " + std::to_string(bytes.size())});
  return h;
}

Bytes encode_control(PacketType t, std::uint32_t id) {
  Bytes out;
  out.reserve(kHeaderSize);
  Writer(out).u32(kControlLeader).u16(static_cast<std::uint16_t>(t)).u16(0).u32(id).u32(0);
  return out;
}

Bytes encode(const Packet& p, bool trailer) {
  if (is_control(p.type)) return encode_control(p.type, p.id);
  Bytes out;
  out.reserve(kHeaderSize + p.body.size() + 1);
  Writer w(out);
  w.u32(kDataLeader)
      .u16(static_cast<std::uint16_t>(p.type))
      .u16(static_cast<std::uint16_t>(p.body.size()))
      .u32(p.id)
      .u32(checksum(p.body))
      .bytes(p.body);
  if (trailer) w.u8(kTrailer);
  return out;
}

std::string_view to_string(FrameError e) {
  switch (e) {
    case FrameError::GarbageSkipped: return "garbage skipped";
    case FrameError::BadChecksum: return "bad checksum";
    case FrameError::MissingTrailer: return "missing trailer";
    case FrameError::BodyTooLarge: return "body too large";
    case FrameError::UnknownType: return "unknown packet type";
    case FrameError::BadControl: return "bad control packet";
  }
  return "unknown frame error";
}

// ---- Parser ---------------------------------------------------------------

Parser::Parser(Sink sink, bool expect_trailer) : sink_(std::move(sink)), expect_trailer_(expect_trailer) {}

void Parser::push(ByteView bytes) {
  for (std::uint8_t b : bytes) on_byte(b);
}

void Parser::reset() {
  state_ = State::Hunt;
  leader_count_ = 0;
  header_len_ = 0;
  body_.clear();
  in_garbage_run_ = false;
  replaying_ = false;
}

void Parser::on_byte(std::uint8_t b) {
  switch (state_) {
    case State::Hunt:
      hunt(b);
      return;
    case State::LeaderDone:
      // A packet type's low byte is below 12, so a fifth leader byte cannot start
      // the header: the leader slides and its oldest byte was garbage. This is
      // how "000i" followed by "iiii" still finds the control leader.
      if (b == leader_byte_) {
        skip_garbage(1, b);
        return;
      }
      in_garbage_run_ = false;  // a packet starts: the garbage run (if any) is over
      header_[header_len_++] = b;
      state_ = State::Header;
      return;
    case State::Header:
      header_[header_len_++] = b;
      if (header_len_ == kHeaderSize) on_header();
      return;
    case State::Body:
      body_.push_back(b);
      if (body_.size() == header_fields_.byte_count) on_body_complete();
      return;
    case State::Trailer:
      if (b != kTrailer) {
        state_ = State::Hunt;
        error(FrameError::MissingTrailer, kTrailer, b);
        // The byte may be the first of the next packet's leader (a body cut short).
        std::array<std::uint8_t, 1> one{b};
        replay(one);
        return;
      }
      finish_packet();
      return;
  }
}

void Parser::hunt(std::uint8_t b) {
  if (b == kDataLeaderByte || b == kControlLeaderByte) {
    if (leader_count_ > 0 && b != leader_byte_) {
      skip_garbage(static_cast<std::size_t>(leader_count_), leader_byte_);
      leader_count_ = 0;
    }
    leader_byte_ = b;
    header_[leader_count_++] = b;
    if (leader_count_ == kLeaderLength) {
      header_len_ = kLeaderLength;
      leader_count_ = 0;
      state_ = State::LeaderDone;
    }
    return;
  }
  if (leader_count_ > 0) {
    skip_garbage(static_cast<std::size_t>(leader_count_), leader_byte_);
    leader_count_ = 0;
  }
  // Bytes re-read from a refused header are never break-ins: a checksum or id
  // byte of 0x62 must not stop a running target.
  if (b == kBreakIn && !replaying_) {
    in_garbage_run_ = false;
    ++counters_.break_ins;
    sink_(FrameEvent{FrameEvent::Kind::BreakIn, {}, {}, 0, 0});
    return;
  }
  skip_garbage(1, b);
}

void Parser::skip_garbage(std::size_t n, std::uint8_t first) {
  counters_.garbage_bytes += n;
  if (in_garbage_run_) return;
  in_garbage_run_ = true;
  sink_(FrameEvent{FrameEvent::Kind::Error, {}, FrameError::GarbageSkipped, 0, first});
}

void Parser::error(FrameError e, std::uint32_t expected, std::uint32_t got) {
  switch (e) {
    case FrameError::GarbageSkipped: break;  // counted by skip_garbage
    case FrameError::BadChecksum: ++counters_.bad_checksum; break;
    case FrameError::MissingTrailer: ++counters_.missing_trailer; break;
    case FrameError::BodyTooLarge: ++counters_.too_large; break;
    case FrameError::UnknownType: ++counters_.unknown_type; break;
    case FrameError::BadControl: ++counters_.bad_control; break;
  }
  FrameEvent ev{FrameEvent::Kind::Error, {}, e, expected, got};
  ev.packet.type = static_cast<PacketType>(header_fields_.type);
  ev.packet.id = header_fields_.id;
  sink_(ev);
}

void Parser::replay(ByteView bytes) {
  const bool outer = replaying_;
  replaying_ = true;
  for (std::uint8_t b : bytes) on_byte(b);
  replaying_ = outer;
}

void Parser::on_header() {
  // header_ is complete: decoding 16 bytes cannot fail.
  header_fields_ = *decode_header(ByteView(header_, kHeaderSize));
  const Header& h = header_fields_;
  const bool control_leader = h.leader == kControlLeader;
  const bool control_type = is_control(static_cast<PacketType>(h.type));

  std::optional<FrameError> refused;
  std::uint32_t expected = 0, got = 0;
  if (!is_known_type(h.type)) {
    refused = FrameError::UnknownType;
    got = h.type;
  } else if (control_leader && (!control_type || h.byte_count != 0)) {
    refused = FrameError::BadControl;
    got = h.byte_count;
  } else if (!control_leader && control_type) {
    refused = FrameError::BadControl;
    got = h.type;
  } else if (h.byte_count > kMaxBody) {
    refused = FrameError::BodyTooLarge;
    expected = kMaxBody;
    got = h.byte_count;
  }

  if (refused) {
    state_ = State::Hunt;
    error(*refused, expected, got);
    // The header may really be garbage followed by a packet whose leader sits
    // inside these 12 bytes: look for it there before reading further input.
    std::array<std::uint8_t, kHeaderSize - kLeaderLength> rest{};
    std::copy(header_ + kLeaderLength, header_ + kHeaderSize, rest.begin());
    replay(rest);
    return;
  }

  if (control_leader) {
    // Control packets carry no body, no checksum and no trailer.
    state_ = State::Hunt;
    ++counters_.packets;
    FrameEvent ev{FrameEvent::Kind::Packet, {}, {}, 0, 0};
    ev.packet.type = static_cast<PacketType>(h.type);
    ev.packet.id = h.id;
    sink_(ev);
    return;
  }
  body_.clear();
  body_.reserve(h.byte_count);
  state_ = State::Body;
  if (h.byte_count == 0) on_body_complete();
}

void Parser::on_body_complete() {
  if (expect_trailer_)
    state_ = State::Trailer;
  else
    finish_packet();
}

void Parser::finish_packet() {
  state_ = State::Hunt;
  const std::uint32_t sum = checksum(body_);
  if (sum != header_fields_.checksum) {
    error(FrameError::BadChecksum, header_fields_.checksum, sum);
    return;
  }
  ++counters_.packets;
  FrameEvent ev{FrameEvent::Kind::Packet, {}, {}, 0, 0};
  ev.packet.type = static_cast<PacketType>(header_fields_.type);
  ev.packet.id = header_fields_.id;
  ev.packet.body = std::move(body_);
  body_.clear();
  sink_(ev);
}

}  // namespace openkd::wire::kdcom
