#include "core/debugger/host_session.hpp"

#include <fmt/format.h>

namespace openkd::debugger {

using wire::kdcom::Packet;
using wire::kdcom::PacketType;

namespace {

// DBGKD_MANIPULATE_STATE64 starts with ApiNumber (docs/protocol.md section 2):
// enough to tell which request a reply that does not decode belongs to.
std::optional<std::uint32_t> peek_api(wire::ByteView body) {
  if (body.size() < 4) return std::nullopt;
  return std::uint32_t(body[0]) | std::uint32_t(body[1]) << 8 | std::uint32_t(body[2]) << 16 |
         std::uint32_t(body[3]) << 24;
}

bool is_api(std::uint32_t api, wire::Api a) { return api == static_cast<std::uint32_t>(a); }

constexpr std::chrono::seconds kBreakInRepeat{1};

}  // namespace

std::string api_label(std::uint32_t api) {
  auto n = wire::api_name(api);
  return n ? std::string(*n) : fmt::format("API {:#x}", api);
}

std::string to_string(const TrafficEntry& e) {
  using wire::kdcom::PacketType;
  std::string s = fmt::format("{} {}", e.outgoing ? "->" : "<-", wire::kdcom::to_string(e.type));
  if (!e.outgoing) s += fmt::format(" id {:#x}", e.id);
  if (e.type == PacketType::StateManipulate) {
    s += " " + api_label(e.api);
    if (!e.outgoing) s += fmt::format(" status {:08x}", e.status);
  } else if (e.api) {
    s += fmt::format(" {:#x}", e.api);
  }
  return s + fmt::format(" len {}", e.length);
}

link::LinkConfig HostConfig::link_config() const {
  auto c = link::LinkConfig::host(scheme);
  c.turn_taking = true;  // a debugger session: requests and replies take turns
  c.max_resets = resets > 0 ? resets : 0;
  if (scheme == link::IdScheme::Kdnet) c.use_datagram_timing();
  return c;
}

HostSession::HostSession(HostConfig config) : config_(config), link_(config_.link_config()) {}

// ---------------------------------------------------------------- inputs

void HostSession::on_connected(TimePoint now) {
  // A new transport is a new link: the target's side of it starts over too
  // (a restarted VM, a re-opened pipe), so nothing from the old one carries.
  link_ = link::Link(config_.link_config());
  sent_.clear();
  connected_ = true;
  link_.start_sync(now);
  drain_link(now);
}

void HostSession::on_new_session(TimePoint now) {
  if (!connected_) return;
  if (pending_ && pending_->expect == Expect::Reply)
    fail_pending(Error{fmt::format("the target started a new session before answering {}", api_label(pending_->api)),
                       0, ErrorKind::Disconnected});
  else if (pending_)
    pending_->transmitted = true;  // the new target's first stop is this resume's answer
  stopped_ = false;  // the new target runs until it reports
  withdraw_prompt();
  break_again_.reset();
  link_ = link::Link(config_.link_config());
  sent_.clear();
  link_.start_sync(now);
  drain_link(now);
}

void HostSession::withdraw_prompt() {
  if (prompt_) emit(PromptWithdrawn{prompt_id_});
  prompt_.reset();
}

void HostSession::on_disconnected(std::string why, TimePoint) {
  if (!connected_) return;
  connected_ = false;
  sent_.clear();
  withdraw_prompt();
  break_again_.reset();
  // TargetLost first: whoever the failed request wakes sees the target gone.
  std::string line = fmt::format("connection to the target lost ({})", why);
  emit(TargetLost{line});
  fail_pending(Error{std::move(line), 0, ErrorKind::Disconnected});
}

void HostSession::on_bytes(wire::ByteView bytes, TimePoint now) {
  if (!connected_) return;
  link_.on_receive(bytes, now);
  drain_link(now);
}

void HostSession::on_timer(TimePoint now) {
  if (connected_) {
    link_.on_timer(now);
    if (break_again_ && now >= *break_again_) {
      if (stopped_) {
        break_again_.reset();
      } else {
        link_.send_break_in();
        break_again_ = now + kBreakInRepeat;
      }
    }
    drain_link(now);
  }
  if (pending_ && pending_->deadline && now >= *pending_->deadline) {
    const bool reply = pending_->expect == Expect::Reply;
    std::string what = api_label(pending_->api);
    fail_pending(Error{reply ? fmt::format("the target did not answer {} within {} s", what,
                                           config_.request_timeout.count() / 1000.0)
                             : fmt::format("the target did not stop after {} in time", what),
                       0, ErrorKind::Timeout});
  }
}

RequestId HostSession::submit(wire::Manipulate request, Expect expect, TimePoint now,
                              std::optional<TimePoint> deadline) {
  const RequestId id = next_id_++;
  auto refuse = [&](std::string why, ErrorKind kind) {
    emit(RequestFailed{id, Error{std::move(why), 0, kind}});
    return id;
  };
  if (!connected_) return refuse("not connected to the target", ErrorKind::Disconnected);
  if (pending_) return refuse(fmt::format("{} is still waiting for its answer", api_label(pending_->api)),
                              ErrorKind::Busy);
  if (!stopped_) return refuse("the target is running: break in first (Ctrl-C)", ErrorKind::Running);
  Pending p;
  p.id = id;
  p.expect = expect;
  p.api = request.api;
  p.deadline = expect == Expect::Reply ? std::optional(now + config_.request_timeout) : deadline;
  pending_ = p;
  // A resume must never run twice: after a RESET it is re-sent only on
  // evidence that it was lost (link::Replay).
  const auto replay = expect == Expect::Stop ? link::Replay::Never : link::Replay::AfterTimeout;
  if (expect == Expect::Stop) stopped_ = false;
  send(PacketType::StateManipulate, wire::encode(request), Sent::Request, now, replay);
  // The link sends at once when it is synchronised and idle; otherwise when it gets there.
  if (pending_ && link_.synchronized() && link_.pending_sends() == 1) pending_->transmitted = true;
  return id;
}

void HostSession::abandon(RequestId id, Error error) {
  if (pending_ && pending_->id == id) fail_pending(std::move(error));
}

void HostSession::break_in(TimePoint now) {
  if (!connected_) return;
  link_.send_break_in();
  // Armed even while stopped: a break-in asked just before a resume (Python's
  // continue_(wait=False) then break_in()) must still stop the run it meant.
  break_again_ = now + kBreakInRepeat;
}

void HostSession::resync(TimePoint now) {
  if (!connected_) return;
  link_.start_sync(now);
  drain_link(now);
}

void HostSession::send_raw(PacketType type, wire::Bytes body, TimePoint now) {
  if (!connected_) return;
  send(type, std::move(body), Sent::Other, now, link::Replay::AfterTimeout);
}

void HostSession::answer_prompt(std::uint64_t prompt_id, std::string text, TimePoint now) {
  if (!prompt_ || prompt_id != prompt_id_) return;  // answered, replaced or the link went away
  wire::DebugIo reply = *prompt_;
  prompt_.reset();
  if (text.size() > reply.length_of_string_read) text.resize(reply.length_of_string_read);
  reply.length_of_string_read = static_cast<std::uint32_t>(text.size());
  reply.text = std::move(text);
  send(PacketType::DebugIo, wire::encode(reply), Sent::Other, now, link::Replay::AfterTimeout);
}

void HostSession::answer_file(wire::FileIo reply, TimePoint now) {
  if (!connected_) return;
  send(PacketType::FileIo, wire::encode(reply), Sent::Other, now, link::Replay::AfterTimeout);
}

// ---------------------------------------------------------------- outputs

std::optional<wire::Bytes> HostSession::take_frame() { return link_.take_frame(); }

std::optional<HostEvent> HostSession::take_event() {
  if (events_.empty()) return std::nullopt;
  HostEvent e = std::move(events_.front());
  events_.pop_front();
  if (auto* p = std::get_if<Printed>(&e)) print_bytes_queued_ -= p->text.size();
  if (std::holds_alternative<Notice>(e)) --notices_queued_;
  return e;
}

std::optional<TimePoint> HostSession::next_deadline() const {
  std::optional<TimePoint> due = connected_ ? link_.next_deadline() : std::nullopt;
  if (connected_ && break_again_) due = due ? std::min(*due, *break_again_) : *break_again_;
  if (pending_ && pending_->deadline) due = due ? std::min(*due, *pending_->deadline) : *pending_->deadline;
  return due;
}

// ---------------------------------------------------------------- internals

void HostSession::send(PacketType type, wire::Bytes body, Sent what, TimePoint now, link::Replay replay) {
  record(true, type, 0, body);
  if (auto r = link_.send(type, std::move(body), now, replay); !r) {
    if (what == Sent::Request)
      fail_pending(Error{fmt::format("cannot send the request: {}", link::to_string(r.error())), 0,
                         ErrorKind::Failed});
    else
      notice(fmt::format("cannot send packet: {}", link::to_string(r.error())));
    return;
  }
  sent_.push_back(what);
  drain_link(now);
}

void HostSession::record(bool outgoing, PacketType type, std::uint32_t id, wire::ByteView body) {
  TrafficEntry e{outgoing, type, id, peek_api(body).value_or(0), 0, static_cast<std::uint32_t>(body.size())};
  // DBGKD_MANIPULATE_STATE64: ReturnStatus at offset 8 (docs/protocol.md section 2).
  if (type == PacketType::StateManipulate && body.size() >= 12)
    e.status = std::uint32_t(body[8]) | std::uint32_t(body[9]) << 8 | std::uint32_t(body[10]) << 16 |
               std::uint32_t(body[11]) << 24;
  if (traffic_.size() >= kTrafficRecord) traffic_.pop_front();
  traffic_.push_back(e);
}

void HostSession::drain_link(TimePoint now) {
  while (auto ev = link_.take_event()) {
    if (auto* p = std::get_if<link::PacketReceived>(&*ev)) {
      on_packet(p->packet, now);
    } else if (std::holds_alternative<link::SendComplete>(*ev)) {
      if (sent_.empty()) continue;
      Sent what = sent_.front();
      sent_.pop_front();
      if (what != Sent::Request || !pending_) continue;
      pending_->transmitted = true;
      if (is_api(pending_->api, wire::Api::Reboot)) {
        // The target took the Reboot request and restarts: its new KD stub
        // counts ids from the beginning, so resynchronise (RESET) as WinDbg does.
        link_.start_sync(now);
      }
    } else if (auto* g = std::get_if<link::PeerGone>(&*ev)) {
      sent_.clear();
      prompt_.reset();
      std::string why = fmt::format("the target stopped answering ({} packet(s) dropped)", g->dropped);
      emit(TargetLost{why});
      fail_pending(Error{std::move(why), 0, ErrorKind::Disconnected});
    } else if (std::holds_alternative<link::Synchronized>(*ev)) {
      // The link sends what waited for synchronisation now.
      if (pending_ && !sent_.empty() && sent_.front() == Sent::Request) pending_->transmitted = true;
      emit(Connected{});
    } else {
      notice(link::describe(*ev));
    }
  }
}

void HostSession::on_packet(const Packet& p, TimePoint) {
  record(false, p.type, p.id, p.body);
  switch (p.type) {
    case PacketType::StateChange64: on_state_change(p); return;
    case PacketType::StateManipulate: on_manipulate(p); return;
    case PacketType::DebugIo: on_debug_io(p); return;
    case PacketType::FileIo: on_file_io(p); return;
    case PacketType::TraceIo: return;  // ETW trace buffers: nothing to show yet
    default:
      ++counters_.malformed_packets;
      notice(fmt::format("ignored packet of type {}", wire::kdcom::to_string(p.type)));
  }
}

void HostSession::on_state_change(const Packet& p) {
  auto s = wire::decode_state_change(p.body);
  if (!s) {
    ++counters_.malformed_packets;
    notice("malformed state change ignored: " + s.error().message);
    return;
  }
  stopped_ = true;
  const bool break_requested = break_again_.has_value();
  break_again_.reset();
  prompt_.reset();  // a stopped target no longer waits in DbgPrompt
  if (pending_ && pending_->expect == Expect::Stop && pending_->transmitted) {
    RequestId id = pending_->id;
    pending_.reset();
    emit(Stopped{id, std::move(*s), break_requested});
    return;
  }
  // No resume asked for this one (or the target does not have ours yet):
  // report it, keep nothing for later. Coalesce a burst: only the newest
  // undelivered stray stop is kept.
  ++counters_.stray_stops;
  if (!events_.empty()) {
    if (auto* last = std::get_if<Stopped>(&events_.back()); last && last->id == 0) {
      last->change = std::move(*s);
      last->break_requested = last->break_requested || break_requested;
      return;
    }
  }
  emit(Stopped{0, std::move(*s), break_requested});
}

void HostSession::on_manipulate(const Packet& p) {
  auto api = peek_api(p.body);
  if (!pending_ || !api || *api != pending_->api) {
    ++counters_.unexpected_replies;
    notice(api ? fmt::format("unexpected {} reply ignored", api_label(*api)) : "unexpected short reply ignored");
    return;
  }
  auto m = wire::decode_manipulate(p.body);
  if (!m) {
    ++counters_.malformed_packets;
    fail_pending(Error{fmt::format("the target's {} reply is malformed: {}", api_label(*api), m.error().message), 0,
                       ErrorKind::Malformed});
    return;
  }
  if (pending_->expect == Expect::Stop) {
    // A request that should end in a stop was answered instead: a refusal
    // (CauseBugCheck or SwitchProcessor the target cannot do) or a target
    // that acknowledges Reboot before it restarts.
    if (is_api(*api, wire::Api::Reboot) && m->return_status == wire::kStatusSuccess) return;
    stopped_ = true;
    fail_pending(Error{fmt::format("the target refused {} (status {:08x})", api_label(*api), m->return_status),
                       m->return_status, m->return_status ? ErrorKind::Status : ErrorKind::Malformed});
    return;
  }
  RequestId id = pending_->id;
  pending_.reset();
  emit(ReplyReady{id, std::move(*m)});
}

void HostSession::on_debug_io(const Packet& p) {
  auto d = wire::decode_debug_io(p.body);
  if (!d) {
    ++counters_.malformed_packets;
    notice("malformed debug I/O ignored: " + d.error().message);
    return;
  }
  if (d->api == wire::kDebugIoPrintString) {
    if (print_bytes_queued_ + d->text.size() > config_.max_print_bytes) {
      counters_.print_bytes_dropped += d->text.size();
      return;
    }
    print_bytes_queued_ += d->text.size();
    if (!events_.empty()) {
      if (auto* last = std::get_if<Printed>(&events_.back())) {
        last->text += d->text;
        return;
      }
    }
    events_.push_back(Printed{std::move(d->text)});
    return;
  }
  if (d->api == wire::kDebugIoGetString) {
    ++counters_.prompts;
    ++prompt_id_;
    PromptAsked ask{prompt_id_, d->text, d->length_of_string_read};
    prompt_ = std::move(*d);
    // One prompt is outstanding at a time: drop an unanswered older one still queued.
    std::erase_if(events_, [](const HostEvent& e) { return std::holds_alternative<PromptAsked>(e); });
    emit(std::move(ask));
    return;
  }
  ++counters_.malformed_packets;
  notice(fmt::format("debug I/O with unknown API {:#x} ignored", d->api));
}

void HostSession::on_file_io(const Packet& p) {
  auto f = wire::decode_file_io(p.body);
  if (!f) {
    ++counters_.malformed_packets;
    notice("malformed file I/O ignored: " + f.error().message);
    return;
  }
  ++counters_.file_requests;
  emit(FileRequested{std::move(*f)});
}

void HostSession::fail_pending(Error error) {
  if (!pending_) return;
  RequestId id = pending_->id;
  pending_.reset();
  emit(RequestFailed{id, std::move(error)});
}

void HostSession::emit(HostEvent e) { events_.push_back(std::move(e)); }

void HostSession::notice(std::string line) {
  if (notices_queued_ >= config_.max_notices) {
    ++counters_.notices_dropped;
    return;
  }
  ++notices_queued_;
  events_.push_back(Notice{std::move(line)});
}

}  // namespace openkd::debugger
