// KD reliable delivery as an I/O-free state machine (docs/architecture.md section 1, core/link).
//
// Bytes and time go in (on_receive, send, on_timer, ...); frames to write and
// events come out (take_frame, take_event); next_deadline says when on_timer
// is due. The link never reads a clock, never blocks, never throws.
//
// Delivery is stop-and-wait: one data packet in flight, further ones queue.
// Every data packet is delivered once, in order, and never lost while the
// peer answers, with one exception: across a KDCOM RESET the packet pending
// at that moment (each way) may be delivered a second time, right after
// itself. KDCOM ids restart at a RESET, so a receiver cannot tell that
// re-send from a new packet; KD's own re-sent state change is the same case.
// KDNET ids survive a RESET, so there delivery stays exactly once.
//
// What a receiver can check is limited by the wire: KDCOM's checksum covers
// the body only, so a damaged PacketId or PacketType byte goes unnoticed by
// any KDCOM implementation (this one included); over KDNET the HMAC rejects
// any damage before the link sees it.
//
// KDCOM RESET rules this link follows (docs/protocol.md section 1 "RESET", plus what
// keeps delivery sound when RESETs or their answers are lost):
// - only the target's RESET answer restarts the debugger's send ids; a SYNC
//   packet restarts what the debugger expects, never what it sends (except
//   for a debugger that never synchronised, whose ids are at their start);
// - while a mid-session RESET is unanswered the debugger neither ACKs nor
//   delivers target packets (an ACK could complete the target's post-RESET
//   copy unseen), and RESETs again at once when they show the target missed it;
// - after the answer the debugger learns the target's ids from its next packet.
#pragma once
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <vector>

#include "core/link/link_types.hpp"
#include "core/link/packet_ids.hpp"
#include "core/wire/bytes.hpp"
#include "core/wire/kdcom.hpp"

namespace openkd::link {

class Link {
public:
  explicit Link(LinkConfig config);
  Link(Link&&) noexcept;
  Link& operator=(Link&&) noexcept;
  ~Link();

  // ---- inputs ----
  /// Bytes from the transport. KDCOM: a stream, in pieces of any size.
  /// KDNET: exactly one decrypted data-channel payload per call.
  void on_receive(wire::ByteView bytes, TimePoint now);
  /// Queues a data packet; it goes out when nothing else is in flight (and,
  /// on the host, once synchronised).
  std::expected<void, SendError> send(wire::kdcom::PacketType type, wire::Bytes body, TimePoint now,
                                      Replay replay = Replay::AfterTimeout);
  /// Host: the break-in byte 'b', sent at once, outside any packet.
  void send_break_in();
  /// Host: (re)synchronise: send RESET now and every reset_interval until the
  /// target answers (a debugger that never synchronised also takes a target
  /// packet carrying SYNC). Data waits; the pending packet goes again after.
  void start_sync(TimePoint now);
  /// Time has reached `now`: retransmit, resend RESET or give up as due.
  void on_timer(TimePoint now);

  // ---- outputs ----
  /// The next frame to write: one write (KDCOM) or one datagram (KDNET).
  std::optional<wire::Bytes> take_frame();
  std::optional<LinkEvent> take_event();
  /// When on_timer must next be called; nullopt when nothing waits on time.
  std::optional<TimePoint> next_deadline() const;

  // ---- state ----
  const LinkCounters& counters() const { return counters_; }
  const LinkConfig& config() const { return config_; }
  /// Host: a session is established. A target always counts as synchronised.
  bool synchronized() const { return sync_ == Sync::Synchronized; }
  /// Data packets not yet acknowledged (the one in flight included).
  std::size_t pending_sends() const { return queue_.size() + (in_flight_ ? 1 : 0); }
  /// The id the next (or the in-flight) data packet carries.
  std::uint32_t send_id() const { return send_id_; }
  /// The id expected next from the peer (nullopt: the host has not learned it).
  std::optional<std::uint32_t> expected_id() const { return expected_; }

private:
  enum class Sync { Unsynchronized, Resetting, Synchronized };
  struct Outgoing {
    wire::kdcom::PacketType type;
    wire::Bytes body;
    Replay replay = Replay::AfterTimeout;
  };
  struct InFlight {
    wire::kdcom::Packet packet;
    int retries = 0;  // timeouts so far
    int attempts = 0; // retransmissions so far (timeouts and RESENDs)
    TimePoint deadline{};
    Replay replay = Replay::AfterTimeout;
    bool held = false;  // host: ids restarted under it; waits for evidence (see Replay)
  };

  bool kdcom() const { return config_.scheme == IdScheme::Kdcom; }
  bool host() const { return config_.role == Role::Host; }
  bool may_send_data() const { return sync_ == Sync::Synchronized; }

  // receiving (link_receive.cpp)
  void on_frame(const wire::kdcom::FrameEvent& frame, TimePoint now);
  void on_control(const wire::kdcom::Packet& packet, TimePoint now);
  void on_data(wire::kdcom::Packet packet, TimePoint now);
  void on_data_host(wire::kdcom::Packet packet, TimePoint now);
  void on_data_target(wire::kdcom::Packet packet, TimePoint now);
  void on_ack(std::uint32_t id, TimePoint now);
  void on_resend(TimePoint now);
  void on_reset(std::uint32_t id, TimePoint now);
  void on_framing_error(const wire::kdcom::FrameEvent& frame);
  void accept(wire::kdcom::Packet packet, TimePoint now);
  void drop_duplicate(const wire::kdcom::Packet& packet);

  // sending (link.cpp)
  void pump(TimePoint now);
  void transmit(TimePoint now);
  void retransmit(TimePoint now, bool requested);
  void complete_send(TimePoint now, bool id_used = true);
  void send_control(wire::kdcom::PacketType type, std::uint32_t id);
  void send_reset(TimePoint now);        // a periodic RESET of the sync cycle
  void send_reset_frame(TimePoint now);  // one RESET on the wire
  void synchronize(Synchronized::By by, TimePoint now);
  void give_up();
  void hold_in_flight(TimePoint now);
  bool waits_on_timer() const;

  void emit(LinkEvent event) { events_.push_back(std::move(event)); }

  LinkConfig config_;
  LinkCounters counters_;
  // The parser's sink appends here; kept on the heap so Link can move.
  std::unique_ptr<std::vector<wire::kdcom::FrameEvent>> inbox_;
  wire::kdcom::Parser parser_;

  Sync sync_;
  std::uint32_t send_id_;
  std::optional<std::uint32_t> expected_;
  // Host, KDCOM: the SYNC packet last accepted while no other packet has
  // been accepted (and no RESET sent) since: the same packet again (id and
  // content) is a re-send, because our ACK was lost or because a RESET we
  // sent before accepting it made the target send it once more.
  std::optional<wire::kdcom::Packet> last_sync_accepted_;
  // Target, data_counts_as_ack: whether a new data packet may count as the
  // ACK. After a RESET the debugger sends its pending packet again without
  // having heard anything from us, so the first packet accepted after it
  // proves nothing; it re-arms the rule.
  bool implicit_ack_armed_ = true;
  // Host: synchronised at least once, so our send ids may have moved on.
  bool ever_synchronized_ = false;
  std::deque<Outgoing> queue_;
  std::optional<InFlight> in_flight_;
  // KDCOM: when the line will have been quiet for partial_packet_timeout.
  std::optional<TimePoint> quiet_deadline_;
  int resets_this_sync_ = 0;
  TimePoint next_reset_{};
  TimePoint last_reset_sent_{};

  std::deque<wire::Bytes> frames_;
  std::deque<LinkEvent> events_;
};

}  // namespace openkd::link
