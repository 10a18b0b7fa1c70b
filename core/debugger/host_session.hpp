// The KD host session as an I/O-free state machine (docs/architecture.md,
// core/debugger), shaped like core/link and the simulator's stub: bytes, time
// and requests go in; frames to write and typed events come out. It reads no
// clock, owns no thread and does no I/O, so a test drives it with a scripted
// target and a fake clock, and the Asio runner (host_runner.hpp) is thin.
//
// What it adds to the link:
// - requests and their answers: one request at a time, matched by API number;
//   a failure reply, a malformed reply or a missing reply fails the request at
//   once (or at its deadline) with an Error that says which;
// - stops matched to the resume that asked for them: a state change counts
//   for a resume only once the resume is on the wire; any other state change
//   (a re-sent one after a
//   RESET, one on a break-in byte while already stopped, a flood) is reported
//   as a stray stop and never returned as the next resume's result;
// - DbgPrint, DbgPrompt and FILE_IO as events, answered through inputs;
// - bounds on everything the target can make it hold.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <variant>

#include "core/debugger/target.hpp"
#include "core/link/link.hpp"
#include "core/wire/dbgkd.hpp"

namespace openkd::debugger {

using link::TimePoint;
using RequestId = std::uint64_t;

struct HostConfig {
  link::IdScheme scheme = link::IdScheme::Kdcom;
  /// RESETs to send before the target counts as gone; 0 keeps resetting (KD's resets=0).
  int resets = 0;
  /// How long a request that expects a reply waits for it.
  std::chrono::milliseconds request_timeout{10000};
  /// Undelivered DbgPrint text held at most; beyond it text is dropped and counted.
  std::size_t max_print_bytes = 1 << 20;
  /// Undelivered notices held at most; beyond it they are counted and summarised.
  std::size_t max_notices = 256;
  link::LinkConfig link_config() const;
};

/// What a request waits for.
enum class Expect {
  Reply,  // a manipulate reply with the same API number
  Stop,   // a state change (Continue2, SwitchProcessor, Reboot, CauseBugCheck)
};

// ---- events -----------------------------------------------------------------
/// A request's reply (its ReturnStatus may still be a failure: the caller decides).
struct ReplyReady {
  RequestId id = 0;
  wire::Manipulate reply;
};
/// A request ended without a usable answer.
struct RequestFailed {
  RequestId id = 0;
  Error error;
};
/// The target stopped. `id` is the resume this stop answers, or 0 for a stray
/// stop that no pending resume asked for (reported, never kept for later).
struct Stopped {
  RequestId id = 0;
  wire::StateChange change;
  bool break_requested = false;  // a break-in was pending when it came (StopEvent::break_requested)
};
struct Printed {
  std::string text;
};
/// The target waits in DbgPrompt; answer with answer_prompt(id, ...). A new
/// prompt replaces an unanswered one (the target asks one at a time).
struct PromptAsked {
  std::uint64_t id = 0;
  std::string prompt;
  std::uint32_t max_length = 0;
};
/// The unanswered DbgPrompt `id` is gone with its target (lost, or a new session).
struct PromptWithdrawn {
  std::uint64_t id = 0;
};
/// A FILE_IO request (.kdfiles); answer with answer_file().
struct FileRequested {
  wire::FileIo request;
};
/// One line about the link or the protocol (resync, retries, ignored packets).
struct Notice {
  std::string line;
  /// The connection itself changed (lost, reconnected): a user is told
  /// without asking for verbose output.
  bool connection = false;
};
/// The link is synchronised (first time or again).
struct Connected {};
/// The target stopped answering (the link gave up) or the transport closed.
struct TargetLost {
  std::string why;
};

using HostEvent =
    std::variant<ReplyReady, RequestFailed, Stopped, Printed, PromptAsked, PromptWithdrawn, FileRequested, Notice,
                 Connected, TargetLost>;

struct HostCounters {
  std::uint64_t stray_stops = 0;         // state changes no resume asked for
  std::uint64_t unexpected_replies = 0;  // replies no request waits for
  std::uint64_t malformed_packets = 0;
  std::uint64_t print_bytes_dropped = 0;
  std::uint64_t notices_dropped = 0;
  std::uint64_t prompts = 0;
  std::uint64_t file_requests = 0;
};

/// One data packet as the session saw it, for a bounded traffic record (the
/// Python API shows its tail when a test fails). Cheap: no body is kept.
struct TrafficEntry {
  bool outgoing = false;
  wire::kdcom::PacketType type = wire::kdcom::PacketType::Unused;
  std::uint32_t id = 0;      // the packet id (received packets; 0 for sent ones: the link numbers them)
  std::uint32_t api = 0;     // StateManipulate: ApiNumber; DebugIo/FileIo: their ApiNumber; StateChange: NewState
  std::uint32_t status = 0;  // StateManipulate replies: ReturnStatus
  std::uint32_t length = 0;  // body bytes
};
/// "-> KD_STATE_MANIPULATE ReadVirtualMemory len 56", "<- KD_STATE_MANIPULATE id 0x80800001 ReadVirtualMemory status 00000000 len 1246".
std::string to_string(const TrafficEntry& e);

class HostSession {
public:
  explicit HostSession(HostConfig config = {});

  // ---- inputs ----
  /// The transport is (re)open: a fresh link starts synchronising (RESET).
  void on_connected(TimePoint now);
  /// The transport closed: the pending request fails; the target is lost.
  void on_disconnected(std::string why, TimePoint now);
  void on_bytes(wire::ByteView bytes, TimePoint now);
  /// The transport stays open but the target started a new session on it (a
  /// KDNET target that booted again): a fresh link synchronises; a pending
  /// request that expects a reply fails (the new target never saw it), a
  /// pending resume stays and takes the new target's first stop.
  void on_new_session(TimePoint now);
  void on_timer(TimePoint now);
  /// Sends a request. Its answer comes as ReplyReady/Stopped (with the returned
  /// id) or RequestFailed, possibly at once (not connected, busy, running).
  /// `deadline` bounds a Stop request (none: wait until the target stops);
  /// a Reply request always has request_timeout.
  RequestId submit(wire::Manipulate request, Expect expect, TimePoint now,
                   std::optional<TimePoint> deadline = std::nullopt);
  /// Fails the pending request (if it is `id`) with `error`, e.g. Ctrl-C while
  /// the engine waits. A resume stays sent: its stop, when it comes, is stray.
  void abandon(RequestId id, Error error);
  /// The break-in byte, and again every second until the target stops: a
  /// target busy in a packet exchange (FILE_IO, DbgPrompt) takes the byte for
  /// line noise, as KDCOM stubs do.
  void break_in(TimePoint now);
  /// RESET now (both sides restart their ids), as after a reboot the session did not ask for.
  void resync(TimePoint now);
  /// A data packet exactly as given, outside any request: for protocol tests
  /// and tools that validate a target stub with packets of their own making.
  /// A reply to it is reported as unexpected; a state change as a stray stop.
  void send_raw(wire::kdcom::PacketType type, wire::Bytes body, TimePoint now);
  void answer_prompt(std::uint64_t prompt_id, std::string text, TimePoint now);
  void answer_file(wire::FileIo reply, TimePoint now);

  // ---- outputs ----
  std::optional<wire::Bytes> take_frame();
  std::optional<HostEvent> take_event();
  std::optional<TimePoint> next_deadline() const;

  // ---- state ----
  bool connected() const { return connected_; }
  /// The target reported a stop and no resume went out since.
  bool stopped() const { return stopped_; }
  bool busy() const { return pending_.has_value(); }
  const link::LinkCounters& link_counters() const { return link_.counters(); }
  const HostCounters& counters() const { return counters_; }
  const HostConfig& config() const { return config_; }
  /// The last data packets sent and received (at most kTrafficRecord), oldest first.
  const std::deque<TrafficEntry>& traffic() const { return traffic_; }
  static constexpr std::size_t kTrafficRecord = 256;

private:
  void record(bool outgoing, wire::kdcom::PacketType type, std::uint32_t id, wire::ByteView body);
  struct Pending {
    RequestId id = 0;
    Expect expect = Expect::Reply;
    std::uint32_t api = 0;
    std::optional<TimePoint> deadline;
    // On the wire: from here on a state change is taken as this request's stop
    // (the target may report before our ACK arrives, when the ACK is lost).
    bool transmitted = false;
  };
  /// What each data packet handed to the link was, in the link's order.
  enum class Sent { Request, Other };

  void send(wire::kdcom::PacketType type, wire::Bytes body, Sent what, TimePoint now, link::Replay replay);
  void drain_link(TimePoint now);
  void on_packet(const wire::kdcom::Packet& p, TimePoint now);
  void on_state_change(const wire::kdcom::Packet& p);
  void on_manipulate(const wire::kdcom::Packet& p);
  void on_debug_io(const wire::kdcom::Packet& p);
  void on_file_io(const wire::kdcom::Packet& p);
  void fail_pending(Error error);
  void withdraw_prompt();
  void emit(HostEvent e);
  void notice(std::string line);

  HostConfig config_;
  link::Link link_;
  bool connected_ = false;
  bool stopped_ = false;
  RequestId next_id_ = 1;
  std::optional<Pending> pending_;
  std::deque<Sent> sent_;
  std::optional<wire::DebugIo> prompt_;  // the unanswered DbgPrompt
  std::optional<TimePoint> break_again_;  // a break-in not yet answered by a stop: when to repeat it
  std::uint64_t prompt_id_ = 0;
  std::deque<HostEvent> events_;
  std::size_t print_bytes_queued_ = 0;
  std::size_t notices_queued_ = 0;
  HostCounters counters_;
  std::deque<TrafficEntry> traffic_;  // bounded by kTrafficRecord
};

/// "ReadVirtualMemory" or "API 0x3199".
std::string api_label(std::uint32_t api);

}  // namespace openkd::debugger
