// One end of a KDNET session as an I/O-free state machine (docs/protocol.md
// section 6, docs/architecture.md section 1): datagrams, data payloads and
// time go in; datagrams to send (with their destination), data payloads
// delivered, events and counters come out; next_deadline() says when
// on_timer is due. It reads no clock, opens no socket and draws no random
// bytes of its own (a RandomFill is given: tests pass a seeded one,
// production OpenSSL's RAND_bytes). The KD packets themselves are the link's
// business (link::Link with IdScheme::Kdnet): the endpoint moves one link
// frame per data datagram.
//
// What it does, per role:
// - Target: POKEs the debugger (hostip) every poke_interval with fresh random
//   bytes, before and through the session. A RESPONSE that echoes one of its
//   two latest POKEs starts a session (the data key from it; a session that
//   replaces one is a new debugger); its first data datagram is the pseudo
//   packet carrying the debugger's address. A target without hostip waits
//   for a debugger's SOLICIT (below) and POKEs whoever sent it.
// - Debugger: answers a POKE when it has no session, when its session has
//   carried no data from the target yet, or when the POKE's sequence number
//   is not above the last one seen (the target booted again and counts from
//   the start); keep-alive POKEs of a running session are not answered.
//   Every RESPONSE gives a candidate data key; the target's first data
//   datagram under a newer one than the session's switches to it, which is a
//   target restart when the old key had carried data (SessionStarted{restart}).
// - With `target=` the debugger SOLICITs every solicit_interval until a POKE
//   arrives: a control datagram of openkd's own (payload 01 03, its 32 random
//   bytes, its address entry, zeros to 344 bytes; direction bit set, key K).
//   The target answers with a POKE, and the handshake goes on as above.
//
// Replay protection: data sequence numbers are checked per session and per
// direction against a sliding window (a duplicate or a datagram older than
// the window is dropped and counted, never delivered twice); a POKE seen
// before (same random bytes) and a RESPONSE to a POKE no longer outstanding
// are dropped and counted. Authentication failures and malformed datagrams
// are counted and reported as events at most once per report_interval per
// kind (the count since the last report rides along).
#pragma once
#include <array>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "core/link/link_types.hpp"
#include "core/wire/kdnet.hpp"

namespace openkd::link::kdnet {

namespace wk = wire::kdnet;

/// An IPv4 UDP endpoint, host byte order (127.0.0.1 is 0x7F000001).
struct Address {
  std::uint32_t ipv4 = 0;
  std::uint16_t port = 0;
  bool operator==(const Address&) const = default;
};
/// "127.0.0.2:50000".
std::string to_string(const Address& a);
/// Parses a dotted IPv4 address ("192.168.2.1"); nothing for anything else.
std::optional<std::uint32_t> parse_ipv4(std::string_view text);

enum class Role { Debugger, Target };

/// openkd's SOLICIT (control channel, debugger to target): what a debugger
/// with `target=` sends until the target POKEs it. Not a Windows message.
inline constexpr std::uint8_t kSolicitKind = 0x03;

struct EndpointConfig {
  Role role = Role::Debugger;
  wk::Key key{};
  /// Our own address, as POKE entries and the pseudo packet carry it.
  Address self;
  /// Target: the debugger (hostip:port); none: wait for a SOLICIT.
  /// Debugger: the target to SOLICIT (`target=`); none: wait for a POKE.
  std::optional<Address> peer;
  std::chrono::milliseconds poke_interval{3000};
  std::chrono::milliseconds solicit_interval{1000};
  /// Authentication failures (and, apart, malformed datagrams) are reported
  /// at most once per interval; the rest are counted.
  std::chrono::milliseconds report_interval{10000};
  /// Delivered payloads held at most; beyond it they are dropped and counted
  /// (the link retransmits what matters).
  std::size_t max_payloads = 256;
  /// Datagrams waiting to be sent at most; beyond it they are dropped and counted.
  std::size_t max_datagrams = 256;
};

/// Fills the span with unpredictable bytes (RAND_bytes in production).
using RandomFill = std::function<void(std::span<std::uint8_t>)>;

struct OutDatagram {
  Address to;
  wire::Bytes bytes;
};

/// A session started: the handshake completed (target), or the target's data
/// arrived under a new key (debugger; `restart` when an older session had
/// carried data: the target booted again). Target: `restart` when the new
/// session replaces one (a new debugger). The link above starts afresh.
struct SessionStarted {
  Address peer;
  bool restart = false;
};
/// A datagram that did not authenticate (a wrong key, or an altered datagram).
/// Reported at most once per report_interval; `suppressed` failures since the
/// previous report were only counted.
struct AuthFailed {
  Address from;
  std::uint64_t suppressed = 0;
};
/// A datagram that is not KDNET, or authentic but wrong inside. Rate-limited like AuthFailed.
struct Malformed {
  Address from;
  std::string what;
  std::uint64_t suppressed = 0;
};
using EndpointEvent = std::variant<SessionStarted, AuthFailed, Malformed>;
/// One line: "KDNET: authentication failed from 127.0.0.2:50000: check the key".
std::string describe(const EndpointEvent& e);

struct EndpointCounters {
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagrams_dropped = 0;   // the send queue was full
  std::uint64_t auth_failures = 0;       // tag mismatch: wrong key or altered
  std::uint64_t not_kdnet = 0;           // wrong magic, channel or length
  std::uint64_t malformed = 0;           // authentic but wrong inside (direction, payload)
  std::uint64_t replays_dropped = 0;     // duplicate or too old: never delivered twice
  std::uint64_t no_session = 0;          // data with no session (dropped, either way)
  std::uint64_t payloads_dropped = 0;    // the delivery queue was full, or a session ended before they were taken
  std::uint64_t pokes_sent = 0, pokes_received = 0, pokes_answered = 0;
  std::uint64_t responses_sent = 0, responses_received = 0, stale_responses = 0;
  std::uint64_t solicits_sent = 0, solicits_received = 0;
  std::uint64_t sessions = 0, restarts = 0, rekeys = 0;
  std::uint64_t data_sent = 0, data_received = 0;
};

/// Sliding-window replay check for one direction of one session's sequence numbers.
class ReplayWindow {
public:
  static constexpr std::uint64_t kWidth = 1024;
  /// True (and recorded) when `seq` is new; false for a duplicate or a number
  /// older than the window.
  bool accept(std::uint64_t seq);
  void reset() { *this = ReplayWindow{}; }

private:
  std::uint64_t highest_ = 0;  // 0: nothing seen (sequence numbers start at 1)
  std::bitset<kWidth> seen_;   // bit i: highest_ - i was seen
};

class Endpoint {
public:
  Endpoint(EndpointConfig config, RandomFill random);

  // ---- inputs ----
  /// Begins: a target with a known debugger POKEs now; a debugger with `target=` SOLICITs.
  void start(TimePoint now);
  void on_datagram(wire::ByteView datagram, const Address& from, TimePoint now);
  /// One link frame as one data datagram. False (dropped, counted) with no session.
  bool send_data(wire::ByteView payload, TimePoint now);
  void on_timer(TimePoint now);

  // ---- outputs ----
  std::optional<OutDatagram> take_datagram();
  /// A data payload (one link frame), in arrival order, each delivered once.
  std::optional<wire::Bytes> take_payload();
  std::optional<EndpointEvent> take_event();
  std::optional<TimePoint> next_deadline() const;

  // ---- state ----
  bool has_session() const { return session_.has_value(); }
  /// Where data goes: the session's peer, else the configured one.
  std::optional<Address> peer() const;
  const EndpointCounters& counters() const { return counters_; }
  const EndpointConfig& config() const { return config_; }

private:
  struct Session {
    wk::Keys keys;
    Address peer;
    std::uint64_t send_seq = 0;  // last data sequence number sent
    ReplayWindow window;
    bool carried_data = false;   // debugger: an authentic data datagram arrived under this key
  };
  struct Candidate {
    wk::Keys keys;
    Address peer;
  };
  struct Limiter {
    std::optional<TimePoint> last;
    std::uint64_t suppressed = 0;
    bool due(TimePoint now, std::chrono::milliseconds interval);
  };

  bool debugger() const { return config_.role == Role::Debugger; }
  void on_control(const wk::Datagram& d, const Address& from, TimePoint now);
  void on_poke(const wk::Datagram& d, const Address& from, TimePoint now);
  void on_response(const wk::Datagram& d, const Address& from, TimePoint now);
  void on_solicit(const wk::Datagram& d, const Address& from, TimePoint now);
  void on_data(wire::ByteView datagram, const Address& from, TimePoint now);
  void accept_data(Session& s, wk::Datagram d, const Address& from, TimePoint now);
  void send_poke(TimePoint now);  // the periodic POKE to config_.peer
  void poke(const Address& to);
  void send_solicit(TimePoint now);
  void send_control(const Address& to, std::uint64_t seq, wire::Bytes payload);
  /// False when it could not be sealed or the queue is full (counted as dropped).
  bool send_datagram(const Address& to, const wk::Datagram& d, const wk::Keys& keys);
  void start_session(wk::Keys keys, const Address& peer, bool restart);
  void auth_failed(const Address& from, TimePoint now);
  void malformed(const Address& from, std::string what, TimePoint now, bool not_kdnet = false);
  wk::Random fresh_random();

  EndpointConfig config_;
  RandomFill random_;
  wk::Keys control_keys_;
  std::optional<Session> session_;
  std::deque<Candidate> candidates_;  // debugger: keys of RESPONSEs not yet used by the target
  // Target: the random bytes of the latest POKEs (newest last) a RESPONSE may echo.
  std::deque<wk::Random> outstanding_;
  // Debugger: random bytes of POKEs seen lately (a repeat is a replay).
  std::deque<wk::Random> seen_pokes_;
  std::optional<std::uint64_t> last_poke_seq_;  // debugger: of the session's target
  std::uint64_t control_seq_ = 0;               // last control sequence number we sent
  std::optional<TimePoint> next_poke_, next_solicit_;
  bool solicited_ = false;  // debugger: a POKE arrived, so SOLICITs stop
  Limiter auth_limiter_, malformed_limiter_;
  std::deque<OutDatagram> datagrams_;
  std::deque<wire::Bytes> payloads_;
  std::deque<EndpointEvent> events_;
  EndpointCounters counters_;
};

}  // namespace openkd::link::kdnet
