// openkd's remoting wire protocol: length-prefixed typed frames.
//
//   frame   = length:u32le type:u8 payload[length-1]
//   string  = size:u32le bytes[size]      (UTF-8, not NUL-terminated)
//
// length counts the type byte and the payload; it is 1..max_frame_length.
// Every message decodes exactly (trailing bytes are an error), so a malformed
// frame is refused and the connection dropped, never half-understood.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <expected>
#include <optional>
#include <string>
#include <variant>

#include "core/wire/bytes.hpp"

namespace openkd::remote {

using wire::ByteView;
using wire::Bytes;
using wire::DecodeError;

/// "OKDR": opens the client hello, so a stray connection (a browser, a KD
/// client) is told apart from an openkd client on the first frame.
constexpr std::uint32_t protocol_magic = 0x52444B4F;
constexpr std::uint16_t protocol_version = 1;
/// Output is split into frames well below this; 1 MiB bounds what a peer can
/// make us buffer for one frame.
constexpr std::uint32_t max_frame_length = 1u << 20;
constexpr std::size_t frame_header_size = 5;
constexpr std::size_t nonce_size = 32;  // SHA-256 sized challenge
constexpr std::size_t mac_size = 32;    // HMAC-SHA256 output

enum class FrameType : std::uint8_t {
  client_hello = 1,
  server_hello = 2,
  auth_response = 3,
  welcome = 4,
  rejected = 5,
  command = 6,
  output = 7,
  command_echo = 8,
  prompt = 9,
  break_request = 10,
  bye = 11,
  error = 12,
  keepalive = 13,
  command_done = 14,
};

enum class ByeReason : std::uint8_t {
  client_leaving = 0,
  session_ended = 1,  ///< q, or the debugger exited
  too_slow = 2,       ///< the client fell too far behind the output
  server_stopped = 3,
};

struct ClientHello {
  std::uint16_t version = protocol_version;
  std::string identity;  ///< HOST\user as the client sees itself
};
struct ServerHello {
  std::uint16_t version = protocol_version;
  bool auth_required = false;
  std::array<std::uint8_t, nonce_size> nonce{};
};
struct AuthResponse {
  std::array<std::uint8_t, mac_size> mac{};
};
struct Welcome {
  std::string peer_name;  ///< how the session names this client
  std::string prompt;
};
struct Rejected {
  std::string reason;
};
struct Command {
  std::string line;
};
struct Output {
  std::string text;
};
/// A command about to run, shown to everyone; `own` tells the issuer it is theirs.
struct CommandEcho {
  bool own = false;
  std::string text;
};
struct Prompt {
  std::string text;
};
struct BreakRequest {};
struct Bye {
  ByeReason reason = ByeReason::client_leaving;
  std::string message;
};
struct ProtocolError {
  std::string message;
};
struct Keepalive {};
/// Sent to the issuer when its command has finished.
struct CommandDone {};

using Message = std::variant<ClientHello, ServerHello, AuthResponse, Welcome, Rejected, Command,
                             Output, CommandEcho, Prompt, BreakRequest, Bye, ProtocolError,
                             Keepalive, CommandDone>;

FrameType frame_type(const Message& m);
/// The whole frame: header and payload.
Bytes encode_frame(const Message& m);
/// Decodes one frame's payload for its type.
std::expected<Message, DecodeError> decode_payload(FrameType type, ByteView payload);

/// Splits a byte stream into messages. Push what arrives, then pop until empty.
/// After an error the decoder stays failed (the caller drops the connection).
class FrameDecoder {
public:
  void push(ByteView bytes);
  /// The next complete message, nullopt when more bytes are needed, or the error.
  std::expected<std::optional<Message>, DecodeError> next();
  bool failed() const { return failed_.has_value(); }
  std::size_t buffered() const { return buffer_.size() - start_; }

private:
  Bytes buffer_;
  std::size_t start_ = 0;
  std::optional<DecodeError> failed_;
};

}  // namespace openkd::remote
