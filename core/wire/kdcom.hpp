// KDCOM framing: the 16-byte packet header, the writer and an I/O-free push parser.
// Wire facts: docs/protocol.md section 1.
#pragma once
#include <cstdint>
#include <expected>
#include <functional>
#include <string_view>

#include "core/wire/bytes.hpp"

namespace openkd::wire::kdcom {

inline constexpr std::uint32_t kDataLeader = 0x30303030;     // "0000"
inline constexpr std::uint32_t kControlLeader = 0x69696969;  // "iiii"
inline constexpr std::uint8_t kTrailer = 0xAA;               // ends a data packet (not over KDNET)
inline constexpr std::uint8_t kBreakIn = 0x62;               // 'b', outside any packet
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::size_t kMaxBody = 4000;                // PACKET_MAX_SIZE
inline constexpr std::uint32_t kInitialPacketId = 0x80800000;
inline constexpr std::uint32_t kSyncPacketId = 0x00000800;

enum class PacketType : std::uint16_t {
  Unused = 0,
  StateChange32 = 1,
  StateManipulate = 2,
  DebugIo = 3,
  Acknowledge = 4,
  Resend = 5,
  Reset = 6,
  StateChange64 = 7,
  PollBreakin = 8,  // internal to a target, never on the wire
  TraceIo = 9,
  ControlRequest = 10,
  FileIo = 11,
  Max = 12,
};

std::string_view to_string(PacketType t);
/// ACK, RESEND and RESET travel with the control leader and no body.
bool is_control(PacketType t);

struct Packet {
  PacketType type = PacketType::Unused;
  std::uint32_t id = 0;
  Bytes body;  // empty for control packets
  bool operator==(const Packet&) const = default;
};

/// Sum of the body bytes as unsigned bytes, mod 2^32.
std::uint32_t checksum(ByteView body);

/// The 16-byte KD_PACKET header exactly as on the wire (no validation).
struct Header {
  std::uint32_t leader = 0;
  std::uint16_t type = 0;        // a PacketType value, or anything received
  std::uint16_t byte_count = 0;  // body length
  std::uint32_t id = 0;
  std::uint32_t checksum = 0;
  bool operator==(const Header&) const = default;
};
/// Reads the header from the first 16 bytes; shorter input is an error.
std::expected<Header, DecodeError> decode_header(ByteView bytes);

/// Encodes a packet. Control types get the control leader, ByteCount 0 and
/// Checksum 0 (their body is ignored); data types get the data leader and,
/// when `trailer`, 0xAA (KDNET carries the same packets without it). The
/// body must fit ByteCount (u16); the parser refuses bodies over kMaxBody.
Bytes encode(const Packet& p, bool trailer = true);
Bytes encode_control(PacketType t, std::uint32_t id);

/// Named framing failures; each is counted by the parser and reported once.
enum class FrameError {
  GarbageSkipped,   // a run of bytes outside a packet that are neither a leader nor break-in
                    // (reported once, at the run's first byte; `got` = that byte)
  BadChecksum,      // body sum differs from the header's Checksum (expected = header, got = sum)
  MissingTrailer,   // byte after the body is not 0xAA (expected = 0xAA, got = the byte)
  BodyTooLarge,     // ByteCount over 4000 (expected = 4000, got = ByteCount)
  UnknownType,      // PacketType 0, 8 or 12 and over (got = PacketType)
  BadControl,       // control leader with a data type or a body (got = ByteCount),
                    // or a control type under the data leader (got = PacketType)
};
// After a refused header (BodyTooLarge, UnknownType, BadControl) the parser
// re-reads its 12 bytes after the leader, and after MissingTrailer the refused
// byte, looking for the next leader there; re-read bytes are never break-ins.
std::string_view to_string(FrameError e);

struct FrameEvent {
  enum class Kind { Packet, BreakIn, Error } kind;
  Packet packet;        // Kind::Packet
  FrameError error{};   // Kind::Error
  std::uint32_t expected = 0, got = 0;  // error detail: see each FrameError
};

struct ParserCounters {
  std::uint64_t packets = 0, break_ins = 0, garbage_bytes = 0, bad_checksum = 0,
                missing_trailer = 0, too_large = 0, unknown_type = 0, bad_control = 0;
};

/// Push parser: feed bytes in pieces of any size; it emits every complete
/// packet, break-in byte and framing error through the sink, resynchronises on
/// the next leader after an error, and never reads past what it was given.
/// The events do not depend on how the input was split.
/// A data packet with a bad checksum or trailer is reported as an Error whose
/// `packet` holds the header fields (type, id), so a receiver can answer RESEND.
/// With expect_trailer = false (KDNET: one packet per datagram, no 0xAA) a
/// packet ends with its body; the caller reset()s between datagrams.
class Parser {
public:
  using Sink = std::function<void(const FrameEvent&)>;
  explicit Parser(Sink sink, bool expect_trailer = true);
  void push(ByteView bytes);
  /// Forgets any partial packet (after a transport reconnect, or between datagrams).
  void reset();
  const ParserCounters& counters() const { return counters_; }

private:
  enum class State { Hunt, LeaderDone, Header, Body, Trailer };
  void on_byte(std::uint8_t b);
  void hunt(std::uint8_t b);
  void on_header();
  void on_body_complete();
  void finish_packet();
  void skip_garbage(std::size_t n, std::uint8_t first);
  void error(FrameError e, std::uint32_t expected, std::uint32_t got);
  void replay(ByteView bytes);
  Sink sink_;
  bool expect_trailer_;
  ParserCounters counters_;
  State state_ = State::Hunt;
  std::uint8_t leader_byte_ = 0;
  int leader_count_ = 0;               // identical leader bytes seen so far (0..4)
  std::uint8_t header_[kHeaderSize]{};
  std::size_t header_len_ = 0;
  Header header_fields_;
  Bytes body_;
  bool in_garbage_run_ = false;        // a GarbageSkipped event was sent for the current run
  bool replaying_ = false;             // re-reading bytes of a refused header or trailer
};

}  // namespace openkd::wire::kdcom
