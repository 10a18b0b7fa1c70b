// Link: the receiving half. Frames from the parser become ACKs, RESENDs,
// RESET answers, delivered packets and events. Wire facts:
// docs/protocol.md section 1 "Packet ids and retries" and section 6.
#include <algorithm>

#include "core/link/link.hpp"

namespace openkd::link {

using wire::kdcom::FrameError;
using wire::kdcom::FrameEvent;
using wire::kdcom::Packet;
using wire::kdcom::PacketType;

void Link::on_receive(wire::ByteView bytes, TimePoint now) {
  if (kdcom()) {
    parser_.push(bytes);
    if (!bytes.empty()) quiet_deadline_ = now + config_.partial_packet_timeout;
  } else {
    // The KDNET target's first data datagram is a 12-byte pseudo packet with
    // leader 0 (then type 0, length 0 and the host's IPv4 address); it is the
    // transport's business, not a KD packet.
    if (bytes.size() >= 4 && std::all_of(bytes.begin(), bytes.begin() + 4, [](auto b) { return b == 0; })) {
      ++counters_.pseudo_packets;
      return;
    }
    // One packet per datagram: a packet never continues into the next one.
    parser_.push(bytes);
    parser_.reset();
    if (inbox_->empty() && !bytes.empty()) ++counters_.truncated_datagrams;
  }
  std::vector<FrameEvent> frames;
  frames.swap(*inbox_);
  for (const FrameEvent& frame : frames) on_frame(frame, now);
}

void Link::on_frame(const FrameEvent& frame, TimePoint now) {
  switch (frame.kind) {
    case FrameEvent::Kind::Packet:
      if (wire::kdcom::is_control(frame.packet.type)) {
        on_control(frame.packet, now);
      } else {
        on_data(frame.packet, now);
      }
      break;
    case FrameEvent::Kind::BreakIn:
      ++counters_.break_ins_received;
      // Only a target acts on it; at a debugger it is a stray byte.
      if (!host()) emit(BreakInReceived{});
      break;
    case FrameEvent::Kind::Error:
      on_framing_error(frame);
      break;
  }
}

void Link::on_framing_error(const FrameEvent& frame) {
  switch (frame.error) {
    case FrameError::GarbageSkipped: ++counters_.garbage_runs; break;
    case FrameError::BadChecksum: ++counters_.bad_checksums; break;
    case FrameError::MissingTrailer: ++counters_.missing_trailers; break;
    case FrameError::BodyTooLarge: ++counters_.bodies_too_large; break;
    case FrameError::UnknownType: ++counters_.unknown_types; break;
    case FrameError::BadControl: ++counters_.bad_controls; break;
  }
  emit(FramingError{frame.error, frame.expected, frame.got});
  // A data packet that arrived damaged is asked for again (RESEND carries id
  // 0); the other errors are bytes that were never a packet we could name.
  if (frame.error == FrameError::BadChecksum || frame.error == FrameError::MissingTrailer ||
      frame.error == FrameError::BodyTooLarge) {
    send_control(PacketType::Resend, 0);
    ++counters_.resends_sent;
  }
}

void Link::on_control(const Packet& packet, TimePoint now) {
  switch (packet.type) {
    case PacketType::Acknowledge: on_ack(packet.id, now); break;
    case PacketType::Resend: on_resend(now); break;
    case PacketType::Reset: on_reset(packet.id, now); break;
    default: break;
  }
}

void Link::on_ack(std::uint32_t id, TimePoint now) {
  // An ACK may complete the packet in flight even while a host is resetting:
  // the target sent it before it saw our RESET.
  if (in_flight_ && id == ids::ack_id(config_.scheme, in_flight_->packet.id)) {
    ++counters_.acks_received;
    complete_send(now);
  } else {
    ++counters_.stale_acks;
  }
}

void Link::on_resend(TimePoint now) {
  ++counters_.resends_received;
  // RESEND names no packet: it always means "the one you are waiting on".
  // It does not count against max_retries (the peer is evidently there).
  if (in_flight_ && may_send_data()) retransmit(now, true);
}

void Link::on_reset(std::uint32_t id, TimePoint now) {
  ++counters_.resets_received;
  if (!host()) {
    // The target answers, restarts (KDCOM) or re-aligns (KDNET) its ids and
    // sends its pending packet again.
    if (kdcom()) {
      send_id_ = ids::first_send_id(Role::Target, IdScheme::Kdcom);
      expected_ = ids::first_receive_id(Role::Target, IdScheme::Kdcom);
    } else if (ids::is_new(IdScheme::Kdnet, id, *expected_)) {
      // Behind the expected id is a stale RESET or one for a packet we have.
      expected_ = id;
    }
    send_control(PacketType::Reset, kdcom() ? 0 : send_id_);
    ++counters_.resets_sent;
    implicit_ack_armed_ = false;
    emit(ResetReceived{});
    if (in_flight_) {
      in_flight_->packet.id = send_id_;
      in_flight_->retries = 0;
      retransmit(now, true);
    }
    return;
  }
  if (sync_ != Sync::Resetting) {
    // A late answer to one of several RESETs we sent (KDCOM RESETs carry no
    // id, so answers cannot be told apart): the target restarted again after
    // we synchronised. What it sends next starts a new sequence, as after any
    // answer. It now expects INITIAL_PACKET_ID from the packets we sent after
    // that RESET, so our in-flight packet (whose ACK is still to come) goes
    // again with that id; any ACK that arrived before this answer was for a
    // packet the target took before it restarted. The SYNC packet accepted
    // last stays a duplicate if it comes again: it was pending at this RESET.
    if (kdcom() && sync_ == Sync::Synchronized) {
      if (config_.turn_taking && now - last_reset_sent_ > config_.late_answer_window) {
        // Too late to answer anything we sent: most likely a damaged ACK
        // (control packets carry no checksum; 4 -> 6 is one bit). Restart
        // both sides' ids with a RESET of our own; the in-flight packet is
        // held until the target shows whether it has it (LinkConfig).
        ++counters_.unexpected_resets;
        start_sync(now);
        return;
      }
      expected_.reset();
      if (send_id_ != ids::kKdcomInitial) {
        send_id_ = ids::kKdcomInitial;
        if (in_flight_) {
          // The target may have taken it before it restarted: hold it.
          in_flight_->packet.id = send_id_;
          in_flight_->retries = 0;
          hold_in_flight(now);
        }
      }
    }
    return;
  }
  if (kdcom()) {
    send_id_ = ids::kKdcomInitial;
    // Everything the target sends after its answer comes after its restart
    // (the stream keeps order), so its next packet, whatever its id, starts
    // the sequence. Usually that is its pending packet with SYNC, but that
    // one may already be complete: our earlier ACK, or our next request
    // taken as the ACK, can finish it without our seeing the re-sent copy.
    expected_.reset();
  } else if (!expected_ || ids::is_new(IdScheme::Kdnet, id, *expected_)) {
    expected_ = id;
  }
  synchronize(Synchronized::By::ResetAnswer, now);
}

void Link::on_data(Packet packet, TimePoint now) {
  if (host()) {
    on_data_host(std::move(packet), now);
  } else {
    on_data_target(std::move(packet), now);
  }
}

void Link::on_data_target(Packet packet, TimePoint now) {
  const bool fresh = ids::is_new(config_.scheme, packet.id, *expected_);
  if (fresh && in_flight_ && config_.data_counts_as_ack && implicit_ack_armed_) {
    // ReactOS kddll: while KdSendPacket waits for its ACK, a data packet
    // means the debugger has our packet (it only speaks after it heard us),
    // so it completes the send; the data packet itself is refused with
    // RESEND and the debugger sends it again. A duplicate does not count:
    // it only says our ACK was lost, and is ACKed below. Nor does the first
    // packet after a RESET (see implicit_ack_armed_).
    ++counters_.implicit_acks;
    send_control(PacketType::Resend, 0);
    ++counters_.resends_sent;
    complete_send(now);
    return;
  }
  // Every well-framed data packet is ACKed with its own id, duplicates too
  // (the peer re-sent it because our previous ACK was lost).
  send_control(PacketType::Acknowledge, ids::ack_id(config_.scheme, packet.id));
  ++counters_.acks_sent;
  if (fresh) {
    expected_ = ids::after_receive(config_.scheme, packet.id);
    implicit_ack_armed_ = true;
    accept(std::move(packet), now);
  } else {
    drop_duplicate(packet);
  }
}

void Link::on_data_host(Packet packet, TimePoint now) {
  const IdScheme scheme = config_.scheme;
  // While our RESET is unanswered the target's packets are left alone (no
  // ACK, no delivery): the target sends its pending packet again after it
  // answers, with restarted ids. An ACK now could not say which copy it is
  // for (0x80800800 before and after a RESET are both ACKed as 0x80800000)
  // and might complete a post-RESET packet we never see. The exception is
  // a debugger that never synchronised meeting a target's SYNC packet (a
  // target that ignored our RESETs while it ran, then broke in): both sides'
  // ids are at their start, so that packet synchronises.
  if (kdcom() && sync_ == Sync::Resetting && (ever_synchronized_ || !ids::has_sync(scheme, packet.id))) {
    ++counters_.ignored_packets;
    // A packet arriving a retry period after our RESET says the target did
    // not get it (or its answer was lost): RESET again now rather than at
    // the next period, so a target retrying its packet hears one before it
    // runs out of retries (20 of them can be shorter than two periods).
    if (now - last_reset_sent_ >= config_.retry_timeout) send_reset_frame(now);
    return;
  }
  send_control(PacketType::Acknowledge, ids::ack_id(scheme, packet.id));
  ++counters_.acks_sent;

  if (ids::has_sync(scheme, packet.id)) {
    // A target starts its send ids over with SYNC after boot and after a
    // RESET. That says nothing about its receive side: it may have taken
    // packets from us since. So a SYNC packet resets what we expect, never
    // what we send (only the RESET answer does that).
    if (last_sync_accepted_ && *last_sync_accepted_ == packet) {
      // The same SYNC packet again: our ACK was lost. (The content is
      // compared too: a target that restarted after a RESET answer we never
      // got sends a new packet with the same id.)
      drop_duplicate(packet);
      return;
    }
    expected_ = ids::after_receive(scheme, packet.id);
    last_sync_accepted_ = packet;
    if (sync_ == Sync::Synchronized) {
      // The target restarted on its own (a reboot). A debugger that knows
      // it rebooted calls start_sync so both sides restart.
      emit(Synchronized{Synchronized::By::SyncPacket});
    } else if (!ever_synchronized_) {
      synchronize(Synchronized::By::SyncPacket, now);  // see above: a fresh debugger
    }
    accept(std::move(packet), now);
    return;
  }

  if (!expected_) {
    expected_ = packet.id;  // the first packet we ever see sets the sequence
  }
  if (!ids::is_new(scheme, packet.id, *expected_)) {
    drop_duplicate(packet);
    return;
  }
  expected_ = ids::after_receive(scheme, packet.id);
  last_sync_accepted_.reset();
  // A debugger that never synchronised adopts a target already mid-session;
  // one that lost its target (PeerGone) waits for start_sync instead.
  if (sync_ != Sync::Synchronized && !ever_synchronized_) synchronize(Synchronized::By::FirstPacket, now);
  accept(std::move(packet), now);
}

void Link::accept(Packet packet, TimePoint now) {
  // Host: a target packet after a RESET that held our in-flight packet is
  // the evidence that it arrived (KD's turn-taking: the target answers, or
  // runs and reports, only after it took our request).
  if (host() && in_flight_ && in_flight_->held && sync_ == Sync::Synchronized) {
    ++counters_.evidence_acks;
    complete_send(now, false);
  }
  ++counters_.packets_received;
  counters_.bytes_received += packet.body.size();
  emit(PacketReceived{std::move(packet)});
}

void Link::drop_duplicate(const Packet&) { ++counters_.duplicates_dropped; }

}  // namespace openkd::link
