// Link: construction, the sending half (queue, stop-and-wait, retries, RESET
// cycle) and the outputs. The receiving half is in link_receive.cpp.
#include "core/link/link.hpp"

#include <algorithm>

namespace openkd::link {

using wire::kdcom::Packet;
using wire::kdcom::PacketType;

namespace {
bool is_data_type(PacketType type) {
  switch (type) {
    case PacketType::StateChange32:
    case PacketType::StateManipulate:
    case PacketType::DebugIo:
    case PacketType::StateChange64:
    case PacketType::TraceIo:
    case PacketType::ControlRequest:
    case PacketType::FileIo:
      return true;
    default:
      return false;
  }
}
}  // namespace

Link::Link(LinkConfig config)
    : config_(config),
      inbox_(std::make_unique<std::vector<wire::kdcom::FrameEvent>>()),
      // KDNET carries the KDCOM packet without its 0xAA trailer.
      parser_([inbox = inbox_.get()](const wire::kdcom::FrameEvent& e) { inbox->push_back(e); },
              config.scheme == IdScheme::Kdcom),
      // A target stub talks whenever it has something to say; a debugger
      // first has to learn where the target's ids are.
      sync_(config.role == Role::Target ? Sync::Synchronized : Sync::Unsynchronized),
      send_id_(ids::first_send_id(config.role, config.scheme)) {
  if (config.role == Role::Target) expected_ = ids::first_receive_id(config.role, config.scheme);
}

Link::Link(Link&&) noexcept = default;
Link& Link::operator=(Link&&) noexcept = default;
Link::~Link() = default;

std::expected<void, SendError> Link::send(PacketType type, wire::Bytes body, TimePoint now, Replay replay) {
  if (!is_data_type(type)) return std::unexpected(SendError::NotADataType);
  if (body.size() > wire::kdcom::kMaxBody) return std::unexpected(SendError::BodyTooLarge);
  queue_.push_back(Outgoing{type, std::move(body), replay});
  pump(now);
  return {};
}

void Link::send_break_in() {
  frames_.push_back(wire::Bytes{wire::kdcom::kBreakIn});
  ++counters_.break_ins_sent;
}

void Link::start_sync(TimePoint now) {
  if (!host()) return;  // a target only answers RESETs
  if (ever_synchronized_ && config_.turn_taking) hold_in_flight(now);
  sync_ = Sync::Resetting;
  resets_this_sync_ = 0;
  send_reset(now);
}

void Link::on_timer(TimePoint now) {
  if (quiet_deadline_ && now >= *quiet_deadline_) {
    // Any partial packet is abandoned; an idle parser loses nothing.
    parser_.reset();
    quiet_deadline_.reset();
  }
  if (sync_ == Sync::Resetting && now >= next_reset_) {
    if (config_.max_resets > 0 && resets_this_sync_ >= config_.max_resets) {
      give_up();
    } else {
      send_reset(now);
    }
  }
  if (waits_on_timer() && now >= in_flight_->deadline) {
    if (in_flight_->held) {
      // No evidence that the target has it: send it again with today's id.
      in_flight_->held = false;
      retransmit(now, false);
      return;
    }
    ++counters_.timeouts;
    if (in_flight_->retries >= config_.max_retries) {
      give_up();
    } else {
      ++in_flight_->retries;
      retransmit(now, false);
    }
  }
}

std::optional<wire::Bytes> Link::take_frame() {
  if (frames_.empty()) return std::nullopt;
  wire::Bytes frame = std::move(frames_.front());
  frames_.pop_front();
  return frame;
}

std::optional<LinkEvent> Link::take_event() {
  if (events_.empty()) return std::nullopt;
  LinkEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::optional<TimePoint> Link::next_deadline() const {
  std::optional<TimePoint> due;
  auto consider = [&](TimePoint t) { due = due ? std::min(*due, t) : t; };
  if (sync_ == Sync::Resetting) consider(next_reset_);
  if (waits_on_timer()) consider(in_flight_->deadline);
  if (quiet_deadline_) consider(*quiet_deadline_);
  return due;
}

void Link::pump(TimePoint now) {
  if (in_flight_ || !may_send_data() || queue_.empty()) return;
  Outgoing next = std::move(queue_.front());
  queue_.pop_front();
  counters_.bytes_sent += next.body.size();
  ++counters_.packets_sent;
  in_flight_ = InFlight{Packet{next.type, send_id_, std::move(next.body)}};
  in_flight_->replay = next.replay;
  transmit(now);
}

void Link::transmit(TimePoint now) {
  frames_.push_back(wire::kdcom::encode(in_flight_->packet, kdcom()));
  in_flight_->deadline = now + config_.retry_timeout;
}

void Link::retransmit(TimePoint now, bool requested) {
  ++in_flight_->attempts;
  ++counters_.retransmissions;
  emit(Retransmitted{in_flight_->packet.id, in_flight_->attempts, requested});
  transmit(now);
}

void Link::complete_send(TimePoint now, bool id_used) {
  emit(SendComplete{in_flight_->packet.id, in_flight_->packet.type});
  // A held packet completed by evidence never went out under its new id:
  // the target still expects that id next.
  if (id_used) send_id_ = ids::after_send(config_.scheme, send_id_);
  in_flight_.reset();
  pump(now);
}

void Link::send_control(PacketType type, std::uint32_t id) {
  frames_.push_back(wire::kdcom::encode_control(type, id));
}

void Link::send_reset(TimePoint now) {
  send_reset_frame(now);
  ++resets_this_sync_;
  next_reset_ = now + config_.reset_interval;
}

void Link::send_reset_frame(TimePoint now) {
  // KDCOM's RESET carries id 0 and restarts both sides' ids. Over KDNET the
  // ids keep counting and a RESET carries the sender's next id instead, so
  // the peer learns where to expect us.
  send_control(PacketType::Reset, kdcom() ? 0 : send_id_);
  ++counters_.resets_sent;
  last_reset_sent_ = now;
  // Once the target may have restarted its ids, its next SYNC packet is a
  // new one even if it carries the id we last accepted (the target's
  // pending packet, re-sent, at worst arrives twice; it is never dropped).
  last_sync_accepted_.reset();
}

void Link::synchronize(Synchronized::By by, TimePoint now) {
  sync_ = Sync::Synchronized;
  ever_synchronized_ = true;
  resets_this_sync_ = 0;
  emit(Synchronized{by});
  if (in_flight_) {
    // Held back while we were resetting; its id may have restarted.
    in_flight_->packet.id = send_id_;
    in_flight_->retries = 0;
    if (in_flight_->held) {
      in_flight_->deadline = now + config_.retry_timeout;  // wait for evidence first
    } else {
      retransmit(now, true);
    }
  }
  pump(now);
}

void Link::hold_in_flight(TimePoint now) {
  if (!in_flight_ || in_flight_->held) return;
  if (!config_.turn_taking) {
    // Without turn-taking there is no evidence to wait for: send it again now.
    in_flight_->retries = 0;
    if (may_send_data()) retransmit(now, true);
    return;
  }
  in_flight_->held = true;
  in_flight_->deadline = now + config_.retry_timeout;
  ++counters_.held_sends;
}

bool Link::waits_on_timer() const {
  if (!in_flight_ || !may_send_data()) return false;
  return !(in_flight_->held && in_flight_->replay == Replay::Never);
}

void Link::give_up() {
  const std::size_t dropped = pending_sends();
  queue_.clear();
  if (in_flight_) {
    in_flight_.reset();
    if (kdcom()) {
      // The peer may or may not have the abandoned packet; the next one
      // must not look like its duplicate. A target starts over with SYNC,
      // which a debugger accepts as a new start; a debugger resynchronises.
      if (!host()) send_id_ = ids::first_send_id(Role::Target, IdScheme::Kdcom);
    } else {
      // KDNET ids are sequence numbers: skipping one reads as "ahead".
      send_id_ = ids::after_send(config_.scheme, send_id_);
    }
  }
  if (host()) sync_ = Sync::Unsynchronized;
  ++counters_.peer_gone;
  emit(PeerGone{dropped});
}

}  // namespace openkd::link
