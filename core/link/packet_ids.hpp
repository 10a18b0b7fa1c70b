// Packet id arithmetic for the two id schemes KD uses (docs/protocol.md
// section 1 "Packet ids and retries" and section 6). Pure functions: the Link
// keeps the state, these say what the numbers are.
#pragma once
#include <cstdint>

#include "core/wire/kdcom.hpp"

namespace openkd::link {

/// Which side of the debugger connection a Link plays.
enum class Role {
  Host,    // the debugger
  Target,  // the kernel's debugger stub
};

/// How packet ids are numbered.
enum class IdScheme {
  /// Serial, pipe and TCP: ids alternate bit 0 around INITIAL_PACKET_ID; the
  /// target's first packet after boot or RESET carries SYNC_PACKET_ID.
  Kdcom,
  /// KDNET data channel: ids count up by 2 (target 0, 2, 4, ...; debugger
  /// 0x80000000, 0x80000002, ...) and survive a RESET.
  Kdnet,
};

namespace ids {

inline constexpr std::uint32_t kKdcomInitial = wire::kdcom::kInitialPacketId;  // 0x80800000
inline constexpr std::uint32_t kKdcomSync = wire::kdcom::kSyncPacketId;        // 0x00000800
/// The debugger's KDNET ids carry the top bit, so the two directions never collide.
inline constexpr std::uint32_t kKdnetHostBase = 0x80000000;
inline constexpr std::uint32_t kKdnetTargetBase = 0x00000000;
/// KDNET ids step by 2 (observed in WinDbg traffic; bit 0 is never used).
inline constexpr std::uint32_t kKdnetStep = 2;
/// A KDNET id counts as "not older than expected" when it lies less than a
/// quarter of the id space ahead: a stop-and-wait link is never more than one
/// packet apart, so anything further is a stale or duplicate id from behind.
inline constexpr std::uint32_t kKdnetWindow = 0x40000000;

/// The id of a side's first data packet.
constexpr std::uint32_t first_send_id(Role role, IdScheme scheme) {
  if (scheme == IdScheme::Kdcom)
    return role == Role::Target ? (kKdcomInitial | kKdcomSync) : kKdcomInitial;
  return role == Role::Target ? kKdnetTargetBase : kKdnetHostBase;
}

/// The id a side expects first from its peer. The host learns the target's
/// ids from the target's first packet (or its RESET answer over KDNET), so this
/// is only meaningful for the target role.
constexpr std::uint32_t first_receive_id(Role role, IdScheme scheme) {
  return first_send_id(role == Role::Host ? Role::Target : Role::Host, scheme) &
         (scheme == IdScheme::Kdcom ? ~kKdcomSync : ~0u);
}

/// The id after an acknowledged send. KDCOM flips bit 0 and drops SYNC
/// (0x80800800 -> 0x80800001 -> 0x80800000 ...); KDNET adds 2 and keeps the
/// direction bit if it ever wraps.
constexpr std::uint32_t after_send(IdScheme scheme, std::uint32_t id) {
  if (scheme == IdScheme::Kdcom) return (id ^ 1u) & ~kKdcomSync;
  return ((id + kKdnetStep) & 0x7FFFFFFFu) | (id & 0x80000000u);
}

/// The id an ACK for a packet carries: KDCOM never acknowledges with SYNC
/// (0x80800800 is ACKed as 0x80800000); KDNET echoes the id.
constexpr std::uint32_t ack_id(IdScheme scheme, std::uint32_t packet_id) {
  return scheme == IdScheme::Kdcom ? packet_id & ~kKdcomSync : packet_id;
}

constexpr bool has_sync(IdScheme scheme, std::uint32_t id) {
  return scheme == IdScheme::Kdcom && (id & kKdcomSync) != 0;
}

/// The id expected after accepting `id` from the peer.
constexpr std::uint32_t after_receive(IdScheme scheme, std::uint32_t id) {
  return after_send(scheme, id);
}

/// Whether a received data packet is new, given the id expected next. KDCOM
/// can only compare for equality (one bit of sequence); KDNET ids are
/// sequence numbers, so an id ahead of the expected one is new too (the peer
/// gave up on packets we never saw), and anything behind is a duplicate.
constexpr bool is_new(IdScheme scheme, std::uint32_t id, std::uint32_t expected) {
  if (scheme == IdScheme::Kdcom) return id == expected;
  return static_cast<std::uint32_t>(id - expected) < kKdnetWindow;
}

}  // namespace ids
}  // namespace openkd::link
