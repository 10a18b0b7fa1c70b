// KDNET (KD over UDP): key strings, the authenticated and encrypted datagram,
// the control channel's POKE/RESPONSE handshake and the data key.
// Wire facts: docs/protocol.md section 6. Crypto is OpenSSL EVP only.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/wire/bytes.hpp"

namespace openkd::wire::kdnet {

// ---- datagram layout -------------------------------------------------------
// "MDBG" | version u8 | channel u8 | ciphertext | tag (16).
inline constexpr std::array<std::uint8_t, 4> kMagic = {'M', 'D', 'B', 'G'};
inline constexpr std::uint8_t kVersion = 4;     // WinDbg traffic of the Windows 10 era (2 in older)
inline constexpr std::size_t kHeaderSize = 6;   // magic + version + channel, covered by the tag
inline constexpr std::size_t kTagSize = 16;     // HMAC-SHA256 truncated to its first 16 bytes
inline constexpr std::size_t kBlockSize = 16;   // AES block: the plaintext is a multiple of it
// Plaintext: 7-byte big-endian sequence number, then one byte of direction bit
// and padding length, then the payload and zero padding.
inline constexpr std::size_t kPlaintextHeaderSize = 8;
inline constexpr std::uint8_t kFromDebuggerBit = 0x80;
inline constexpr std::uint8_t kPaddingMask = 0x7F;
inline constexpr std::uint64_t kMaxSeq = (std::uint64_t{1} << 56) - 1;  // 7 bytes
// Smallest datagram: header, one block (the 8-byte plaintext header padded), tag.
inline constexpr std::size_t kMinDatagramSize = kHeaderSize + kBlockSize + kTagSize;  // 38

enum class Channel : std::uint8_t { Data = 0, Control = 1 };

// ---- keys ------------------------------------------------------------------
inline constexpr std::size_t kKeySize = 32;  // AES-256 and the HMAC key
using Key = std::array<std::uint8_t, kKeySize>;

/// Parses a key string `w.x.y.z`: four base-36 numbers ([0-9a-z], upper case
/// accepted), each below 2^64, stored as little-endian u64s at K[8*i]. Errors
/// are one line naming the offending character and position, or the part.
std::expected<Key, DecodeError> parse_key(std::string_view text);
/// The canonical key string (lower case, no leading zeros) of a root key.
std::string format_key(const Key& root);
/// Fills `out` from OpenSSL's CSPRNG (RAND_bytes); false when it cannot.
bool random_bytes(std::uint8_t* out, std::size_t size);
/// A fresh random root key (RAND_bytes), for `--new-kdnet-key`.
std::optional<Key> random_key();
/// The HMAC key of both channels: the root key with every byte inverted.
Key hmac_key_of(const Key& root);
/// Data key = SHA-256(root key || the RESPONSE payload as sent, 322 bytes).
Key derive_data_key(const Key& root, ByteView response_payload);

/// The keys of one session. The control channel is encrypted with `root`, the
/// data channel with `data` (known after the handshake); both are authenticated
/// with `hmac` (inverted root, never the inverted data key).
struct Keys {
  Key root{};
  Key hmac{};
  std::optional<Key> data;

  static Keys from_root(const Key& root);
  static std::expected<Keys, DecodeError> from_string(std::string_view text);
  /// Derives and stores the data key from the RESPONSE payload.
  void set_data_key_from_response(ByteView response_payload);
  /// The key that encrypts `channel`, or nothing (data channel before the handshake).
  const Key* encryption_key(Channel channel) const;
};

// ---- datagrams -------------------------------------------------------------
struct Datagram {
  std::uint8_t version = kVersion;
  Channel channel = Channel::Data;
  std::uint64_t seq = 0;       // 56 bits on the wire
  bool from_debugger = false;  // direction bit: debugger -> target
  Bytes payload;
  bool operator==(const Datagram&) const = default;
};

/// The unauthenticated 6-byte header, so a receiver can tell the channel before
/// it decodes. Nothing read here is trustworthy until decode() succeeds.
struct Header {
  std::uint8_t version = 0;
  std::uint8_t channel = 0;
};
std::expected<Header, DecodeError> peek_header(ByteView datagram);

/// Seals a datagram: pads, MACs (tag), encrypts with IV = tag. Deterministic.
/// Fails for a sequence number over 56 bits or a data datagram without a data key.
std::expected<Bytes, DecodeError> encode(const Datagram& datagram, const Keys& keys);
/// Checks magic, channel and lengths, decrypts, verifies the tag in constant time
/// and only then reads the plaintext header. A datagram changed in any byte is
/// rejected; its plaintext is never returned.
std::expected<Datagram, DecodeError> decode(ByteView datagram, const Keys& keys);
/// decode() with the reason sorted, for a receiver that counts them apart:
/// not a KDNET datagram at all (magic, channel, lengths), no data key yet, not
/// authentic (the tag does not match: a wrong key or an altered datagram), or
/// authentic but inconsistent inside (padding).
enum class OpenFailure { NotKdnet, NoKey, Unauthentic, Malformed };
struct OpenError {
  OpenFailure kind = OpenFailure::NotKdnet;
  std::string message;
};
std::expected<Datagram, OpenError> open(ByteView datagram, const Keys& keys);

// ---- control channel: POKE and RESPONSE -------------------------------------
inline constexpr std::size_t kRandomSize = 32;
using Random = std::array<std::uint8_t, kRandomSize>;
inline constexpr std::uint8_t kHandshakeTag = 0x01;   // first payload byte of both
inline constexpr std::uint8_t kPokeKind = 0x01;
inline constexpr std::uint8_t kResponseKind = 0x02;
inline constexpr std::size_t kPokeSize = 344;      // 8 + 344 = 352 = 22 blocks: padding 0
inline constexpr std::size_t kResponseSize = 322;  // 8 + 322 = 330: padding 6, byte 7 = 0x80|6 = 0x86
inline constexpr std::size_t kAddressEntrySize = 18;  // 16-byte IPv6 address + big-endian u16 port

/// One POKE address entry: an IPv6 address (IPv4-mapped for IPv4, ::ffff:a.b.c.d)
/// and a port. An entry of 0.0.0.0 (IPv4-mapped) and port 0 ends the list.
struct PokeAddress {
  std::array<std::uint8_t, 16> address{};
  std::uint16_t port = 0;

  /// `ipv4` as a number: 192.168.2.1 is 0xC0A80201.
  static PokeAddress from_ipv4(std::uint32_t ipv4, std::uint16_t port);
  /// The IPv4 address when the entry is IPv4-mapped.
  std::optional<std::uint32_t> ipv4() const;
  bool operator==(const PokeAddress&) const = default;
};

/// The target's POKE: its random bytes, its own address and the host's.
struct Poke {
  Random target_random{};
  PokeAddress target;
  PokeAddress host;
  bool operator==(const Poke&) const = default;
};
/// 01 01 | random | target entry | host entry | ::ffff:0.0.0.0 port 0 | zeros to 344.
Bytes build_poke(const Poke& poke);
/// Accepts any payload of at least the two addresses (later entries ignored).
std::expected<Poke, DecodeError> parse_poke(ByteView payload);

/// The debugger's RESPONSE: the POKE's random bytes echoed, then its own.
struct Response {
  Random target_random{};
  Random debugger_random{};
  bool operator==(const Response&) const = default;
};
/// 01 02 | POKE random | debugger random | zeros to 322.
Bytes build_response(const Response& response);
/// Exactly 322 bytes: the data key is derived from all of them.
std::expected<Response, DecodeError> parse_response(ByteView payload);

// ---- data channel: the target's first datagram ------------------------------
// A 12-byte pseudo KD packet: leader 0 (u32), type 0 (u16), length 0 (u16), then
// the host's IPv4 address as a little-endian u32 (192.168.2.1 is 01 02 a8 c0).
inline constexpr std::size_t kPseudoPacketSize = 12;
/// `host_ipv4` as a number: 192.168.2.1 is 0xC0A80201.
Bytes build_pseudo_packet(std::uint32_t host_ipv4);
std::expected<std::uint32_t, DecodeError> parse_pseudo_packet(ByteView payload);

}  // namespace openkd::wire::kdnet
