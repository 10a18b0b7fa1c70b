// What goes into and comes out of a Link: its configuration, its events and
// its counters. The Link itself is in link.hpp.
#pragma once
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <variant>

#include "core/link/packet_ids.hpp"
#include "core/wire/kdcom.hpp"

namespace openkd::link {

/// The link reads no clock: every input carries the caller's time.
using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

struct LinkConfig {
  Role role = Role::Host;
  IdScheme scheme = IdScheme::Kdcom;
  /// How long a sent data packet waits for its ACK before it is sent again.
  std::chrono::milliseconds retry_timeout{1000};
  /// Retransmissions after the first send before the peer counts as gone.
  /// The target's default is ReactOS's KdpDefaultRetries (20); a debugger
  /// waits (practically) forever.
  int max_retries = std::numeric_limits<int>::max();
  /// KDCOM: a packet still incomplete after the line has been quiet this long
  /// is abandoned and the parser looks for a new leader. A damaged ByteCount
  /// or a cut-off packet would otherwise swallow up to 4000 bytes of what
  /// follows (every retransmission included), like a serial stub's byte
  /// timeout. Keep it below retry_timeout.
  std::chrono::milliseconds partial_packet_timeout{500};
  /// Host: the period of RESET while it waits to synchronise (WinDbg: ~1 s).
  std::chrono::milliseconds reset_interval{1000};
  /// Host: RESETs to send before giving up (PeerGone); 0 keeps resetting
  /// forever, like WinDbg's `resets=0`.
  int max_resets = 0;
  /// Target: a new data packet arriving while a send waits for its ACK
  /// counts as that ACK and is answered with RESEND, so the debugger sends it
  /// again (ReactOS kddll). Sound only for KD's request/reply turn-taking (a
  /// debugger sends only after it has everything the target sent); turn it
  /// off for a link whose sides send independently. Not applied to the
  /// first packet after a RESET (the debugger re-sends its pending one).
  bool data_counts_as_ack = true;
  /// Host: the link carries KD's turn-taking (the target answers, or runs and
  /// reports, only after it took our packet), as a debugger session does.
  /// Then (a) an in-flight packet is held across a mid-session RESET rather
  /// than sent again at once (see Replay), and (b) a KDCOM RESET arriving
  /// while synchronised more than late_answer_window after the last RESET we
  /// sent answers nothing we sent: control packets carry no checksum, so it is
  /// most likely an ACK (type 4) with one flipped bit (type 6), and the link
  /// resynchronises both sides instead of restarting only its own ids
  /// (docs/protocol.md section 1). Off for links whose sides send independently.
  bool turn_taking = false;
  std::chrono::milliseconds late_answer_window{3000};

  static LinkConfig host(IdScheme scheme) {
    LinkConfig c;
    c.role = Role::Host;
    c.scheme = scheme;
    return c;
  }
  static LinkConfig target(IdScheme scheme) {
    LinkConfig c;
    c.role = Role::Target;
    c.scheme = scheme;
    c.max_retries = 20;  // KdpDefaultRetries
    return c;
  }
  /// KDNET's timing: over UDP a lost datagram shows only as a missing ACK, so
  /// the wait is short (a LAN answers in well under a millisecond; a needless
  /// retransmission is a duplicate the ids drop); a target still retries for
  /// about as long as a KDCOM target does (100 x 100 ms).
  void use_datagram_timing() {
    retry_timeout = std::chrono::milliseconds(100);
    partial_packet_timeout = std::chrono::milliseconds(50);
    if (role == Role::Target) max_retries = 100;
  }
};

/// A data packet from the peer, delivered once and in order.
struct PacketReceived {
  wire::kdcom::Packet packet;
};
/// The peer acknowledged the data packet sent with this id (explicitly, or,
/// for a target with data_counts_as_ack, by sending a new packet).
struct SendComplete {
  std::uint32_t id = 0;
  wire::kdcom::PacketType type{};
};
/// Target: the debugger's break-in byte.
struct BreakInReceived {};
/// Target: the debugger reset the link; the RESET is answered and the
/// pending packet (if any) sent again.
struct ResetReceived {};
/// Host: the link is synchronised: by the target's RESET answer, by a target
/// packet carrying SYNC (a debugger that never synchronised meeting a fresh
/// target; while synchronised, a SYNC packet means the target restarted its
/// ids on its own, e.g. a reboot: call start_sync), or by the first packet
/// of a target already mid-session.
struct Synchronized {
  enum class By { ResetAnswer, SyncPacket, FirstPacket } by = By::ResetAnswer;
};
/// A data packet went out again (timeout or the peer's RESEND).
struct Retransmitted {
  std::uint32_t id = 0;
  int attempt = 0;  // retransmissions of this packet so far, this one included
  bool requested = false;  // the peer asked with RESEND (otherwise a timeout)
};
/// The peer did not answer within the retries (or RESETs): the pending and
/// queued data packets are dropped.
struct PeerGone {
  std::size_t dropped = 0;
};
/// Bytes that were not a good packet. The parser resynchronises on its own.
struct FramingError {
  wire::kdcom::FrameError error{};
  std::uint32_t expected = 0, got = 0;
};

using LinkEvent = std::variant<PacketReceived, SendComplete, BreakInReceived, ResetReceived,
                               Synchronized, Retransmitted, PeerGone, FramingError>;

/// One line for a log: "PacketReceived type=StateManipulate id=0x80800000 bytes=56".
std::string describe(const LinkEvent& event);

/// What happened on the link since it was made. Every figure only grows.
struct LinkCounters {
  std::uint64_t packets_sent = 0;        // data packets handed to the wire (first sends)
  std::uint64_t packets_received = 0;    // data packets delivered
  std::uint64_t bytes_sent = 0;          // body bytes of packets_sent
  std::uint64_t bytes_received = 0;      // body bytes of packets_received
  std::uint64_t retransmissions = 0;     // data packets sent again (timeouts + resends)
  std::uint64_t timeouts = 0;            // ACK waits that ran out
  std::uint64_t acks_sent = 0;
  std::uint64_t acks_received = 0;       // ACKs that completed a send
  std::uint64_t stale_acks = 0;          // ACKs for nothing we wait for
  std::uint64_t implicit_acks = 0;       // target: data packets taken as the ACK
  std::uint64_t resends_sent = 0;
  std::uint64_t resends_received = 0;
  std::uint64_t resets_sent = 0;         // RESETs (host) and RESET answers (target)
  std::uint64_t resets_received = 0;
  std::uint64_t duplicates_dropped = 0;  // data packets seen before: ACKed again, not delivered
  std::uint64_t ignored_packets = 0;     // host: target data while a RESET is unanswered
  std::uint64_t break_ins_sent = 0;
  std::uint64_t break_ins_received = 0;
  std::uint64_t peer_gone = 0;
  // Framing errors by kind (wire::kdcom::FrameError).
  std::uint64_t garbage_runs = 0;
  std::uint64_t bad_checksums = 0;
  std::uint64_t missing_trailers = 0;
  std::uint64_t bodies_too_large = 0;
  std::uint64_t unknown_types = 0;
  std::uint64_t bad_controls = 0;
  std::uint64_t truncated_datagrams = 0;  // KDNET: a datagram that ended mid-packet
  std::uint64_t pseudo_packets = 0;       // KDNET: the target's 12-byte leader-0 hello
  std::uint64_t unexpected_resets = 0;    // host: RESETs that answered nothing we sent (resynchronised)
  std::uint64_t held_sends = 0;           // host: in-flight packets held across a RESET
  std::uint64_t evidence_acks = 0;        // host: held packets completed by the target's next packet

  std::uint64_t framing_errors() const {
    return garbage_runs + bad_checksums + missing_trailers + bodies_too_large + unknown_types +
           bad_controls + truncated_datagrams;
  }
};

/// What a host does with its in-flight packet when a RESET restarts the ids
/// mid-session. The target may already have taken (and acted on) it, so it is
/// held: a data packet from the target is the evidence that it arrived and
/// completes it; without evidence it goes again after retry_timeout
/// (AfterTimeout) or never (Never: a Continue, which must not run twice).
enum class Replay { AfterTimeout, Never };

/// Why send() refused a packet.
enum class SendError {
  NotADataType,  // ACK/RESEND/RESET/POLL_BREAKIN are the link's own business
  BodyTooLarge,  // over 4000 bytes (PACKET_MAX_SIZE)
};
std::string_view to_string(SendError e);

}  // namespace openkd::link
