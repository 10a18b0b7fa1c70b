// KDNET endpoint state machine; see kdnet_endpoint.hpp and docs/protocol.md section 6.
#include "core/link/kdnet_endpoint.hpp"

#include <algorithm>
#include <charconv>

#include "core/wire/kdcom.hpp"

namespace openkd::link::kdnet {

namespace {
constexpr std::size_t kMaxCandidates = 3;   // debugger: RESPONSE keys the target may still use
constexpr std::size_t kOutstandingPokes = 2;  // target: POKEs a RESPONSE may echo
constexpr std::size_t kSeenPokes = 16;      // debugger/target: POKE/SOLICIT random bytes remembered

std::string suppressed_note(std::uint64_t n) {
  return n ? " (" + std::to_string(n) + " more since the last report)" : std::string{};
}
}  // namespace

std::string to_string(const Address& a) {
  return std::to_string(a.ipv4 >> 24) + "." + std::to_string((a.ipv4 >> 16) & 0xFF) + "." +
         std::to_string((a.ipv4 >> 8) & 0xFF) + "." + std::to_string(a.ipv4 & 0xFF) + ":" + std::to_string(a.port);
}

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  std::uint32_t value = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    unsigned n = 0;
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    auto r = std::from_chars(p, end, n);
    if (r.ec != std::errc{} || n > 255 || r.ptr - p > 3) return std::nullopt;
    p = r.ptr;
    value = value << 8 | n;
  }
  if (p != end) return std::nullopt;
  return value;
}

std::string describe(const EndpointEvent& e) {
  if (auto* s = std::get_if<SessionStarted>(&e))
    return "KDNET: session with " + to_string(s->peer) + (s->restart ? " (a new session: the peer restarted)" : "");
  if (auto* a = std::get_if<AuthFailed>(&e))
    return "KDNET: authentication failed from " + to_string(a->from) + ": check the key" +
           suppressed_note(a->suppressed);
  const auto& m = std::get<Malformed>(e);
  return "KDNET: bad datagram from " + to_string(m.from) + ": " + m.what + suppressed_note(m.suppressed);
}

// ---------------------------------------------------------------- replay window

bool ReplayWindow::accept(std::uint64_t seq) {
  if (seq == 0) return false;  // each side counts from 1
  if (highest_ == 0 || seq > highest_) {
    const std::uint64_t shift = highest_ == 0 ? kWidth : seq - highest_;
    if (shift >= kWidth) seen_.reset();
    else seen_ <<= static_cast<std::size_t>(shift);
    seen_.set(0);
    highest_ = seq;
    return true;
  }
  const std::uint64_t age = highest_ - seq;
  if (age >= kWidth || seen_.test(static_cast<std::size_t>(age))) return false;
  seen_.set(static_cast<std::size_t>(age));
  return true;
}

bool Endpoint::Limiter::due(TimePoint now, std::chrono::milliseconds interval) {
  if (last && now - *last < interval) {
    ++suppressed;
    return false;
  }
  last = now;
  return true;
}

// ---------------------------------------------------------------- endpoint

Endpoint::Endpoint(EndpointConfig config, RandomFill random)
    : config_(std::move(config)), random_(std::move(random)), control_keys_(wk::Keys::from_root(config_.key)) {}

std::optional<Address> Endpoint::peer() const {
  if (session_) return session_->peer;
  return config_.peer;
}

wk::Random Endpoint::fresh_random() {
  wk::Random r{};
  random_(std::span<std::uint8_t>(r));
  return r;
}

void Endpoint::start(TimePoint now) {
  if (debugger()) {
    if (config_.peer) send_solicit(now);
  } else if (config_.peer) {
    send_poke(now);
  }
}

void Endpoint::on_timer(TimePoint now) {
  if (next_poke_ && now >= *next_poke_) send_poke(now);
  if (next_solicit_ && now >= *next_solicit_ && !solicited_) send_solicit(now);
}

std::optional<TimePoint> Endpoint::next_deadline() const {
  std::optional<TimePoint> d = next_poke_;
  if (next_solicit_ && !solicited_ && (!d || *next_solicit_ < *d)) d = next_solicit_;
  return d;
}

std::optional<OutDatagram> Endpoint::take_datagram() {
  if (datagrams_.empty()) return std::nullopt;
  auto d = std::move(datagrams_.front());
  datagrams_.pop_front();
  return d;
}

std::optional<wire::Bytes> Endpoint::take_payload() {
  if (payloads_.empty()) return std::nullopt;
  auto p = std::move(payloads_.front());
  payloads_.pop_front();
  return p;
}

std::optional<EndpointEvent> Endpoint::take_event() {
  if (events_.empty()) return std::nullopt;
  auto e = std::move(events_.front());
  events_.pop_front();
  return e;
}

// ---------------------------------------------------------------- sending

bool Endpoint::send_datagram(const Address& to, const wk::Datagram& d, const wk::Keys& keys) {
  auto bytes = wk::encode(d, keys);
  if (!bytes || datagrams_.size() >= config_.max_datagrams) {
    ++counters_.datagrams_dropped;
    return false;
  }
  ++counters_.datagrams_sent;
  datagrams_.push_back(OutDatagram{to, std::move(*bytes)});
  return true;
}

void Endpoint::send_control(const Address& to, std::uint64_t seq, wire::Bytes payload) {
  wk::Datagram d;
  d.channel = wk::Channel::Control;
  d.seq = seq & wk::kMaxSeq;
  d.from_debugger = debugger();
  d.payload = std::move(payload);
  send_datagram(to, d, control_keys_);
}

bool Endpoint::send_data(wire::ByteView payload, TimePoint) {
  if (!session_) {
    ++counters_.no_session;
    return false;
  }
  wk::Datagram d;
  d.channel = wk::Channel::Data;
  d.seq = ++session_->send_seq & wk::kMaxSeq;
  d.from_debugger = debugger();
  d.payload.assign(payload.begin(), payload.end());
  if (!send_datagram(session_->peer, d, session_->keys)) return false;  // counted as dropped
  ++counters_.data_sent;
  return true;
}

void Endpoint::send_poke(TimePoint now) {
  next_poke_ = now + config_.poke_interval;
  if (config_.peer) poke(*config_.peer);
}

void Endpoint::poke(const Address& to) {
  wk::Poke poke;
  poke.target_random = fresh_random();
  poke.target = wk::PokeAddress::from_ipv4(config_.self.ipv4, config_.self.port);
  poke.host = wk::PokeAddress::from_ipv4(to.ipv4, to.port);
  outstanding_.push_back(poke.target_random);
  while (outstanding_.size() > kOutstandingPokes) outstanding_.pop_front();
  ++counters_.pokes_sent;
  send_control(to, ++control_seq_, wk::build_poke(poke));
}

void Endpoint::send_solicit(TimePoint now) {
  next_solicit_ = now + config_.solicit_interval;
  if (!config_.peer || solicited_) return;
  // Shaped like a POKE (docs/protocol.md section 6): 01 03, random bytes, our
  // entry, the target's entry, an empty entry, zeros to 344.
  wk::Poke shape;
  shape.target_random = fresh_random();
  shape.target = wk::PokeAddress::from_ipv4(config_.self.ipv4, config_.self.port);
  shape.host = wk::PokeAddress::from_ipv4(config_.peer->ipv4, config_.peer->port);
  auto payload = wk::build_poke(shape);
  payload[1] = kSolicitKind;
  ++counters_.solicits_sent;
  send_control(*config_.peer, ++control_seq_, std::move(payload));
}

// ---------------------------------------------------------------- receiving

void Endpoint::auth_failed(const Address& from, TimePoint now) {
  ++counters_.auth_failures;
  const std::uint64_t before = auth_limiter_.suppressed;
  if (auth_limiter_.due(now, config_.report_interval)) {
    events_.push_back(AuthFailed{from, before});
    auth_limiter_.suppressed = 0;
  }
}

void Endpoint::malformed(const Address& from, std::string what, TimePoint now, bool not_kdnet) {
  ++(not_kdnet ? counters_.not_kdnet : counters_.malformed);
  const std::uint64_t before = malformed_limiter_.suppressed;
  if (malformed_limiter_.due(now, config_.report_interval)) {
    events_.push_back(Malformed{from, std::move(what), before});
    malformed_limiter_.suppressed = 0;
  }
}

void Endpoint::on_datagram(wire::ByteView datagram, const Address& from, TimePoint now) {
  ++counters_.datagrams_received;
  auto header = wk::peek_header(datagram);
  if (!header) return malformed(from, header.error().message, now, true);
  if (header->channel == static_cast<std::uint8_t>(wk::Channel::Data)) return on_data(datagram, from, now);
  auto d = wk::open(datagram, control_keys_);
  if (!d) {
    if (d.error().kind == wk::OpenFailure::Unauthentic) return auth_failed(from, now);
    return malformed(from, d.error().message, now, d.error().kind == wk::OpenFailure::NotKdnet);
  }
  on_control(*d, from, now);
}

void Endpoint::on_control(const wk::Datagram& d, const Address& from, TimePoint now) {
  if (d.from_debugger == debugger())
    return malformed(from, "control datagram with our own direction bit (a reflection?)", now);
  if (d.payload.size() < 2 || d.payload[0] != wk::kHandshakeTag)
    return malformed(from, "control payload does not start with 01", now);
  const std::uint8_t kind = d.payload[1];
  if (debugger() && kind == wk::kPokeKind) return on_poke(d, from, now);
  if (!debugger() && kind == wk::kResponseKind) return on_response(d, from, now);
  if (!debugger() && kind == kSolicitKind) return on_solicit(d, from, now);
  malformed(from, "unexpected control message kind " + std::to_string(kind), now);
}

void Endpoint::on_poke(const wk::Datagram& d, const Address& from, TimePoint now) {
  auto poke = wk::parse_poke(d.payload);
  if (!poke) return malformed(from, "POKE: " + poke.error().message, now);
  ++counters_.pokes_received;
  solicited_ = true;
  next_solicit_.reset();
  if (std::find(seen_pokes_.begin(), seen_pokes_.end(), poke->target_random) != seen_pokes_.end()) {
    ++counters_.replays_dropped;
    return;
  }
  seen_pokes_.push_back(poke->target_random);
  while (seen_pokes_.size() > kSeenPokes) seen_pokes_.pop_front();

  // Answer a target that has no session with us yet, one whose session has
  // carried nothing (our RESPONSE may have been lost), and one that counts
  // its POKEs from the start again (it booted again). A keep-alive POKE of a
  // running session is not answered, as WinDbg answers only the first.
  const bool booted_again = last_poke_seq_ && d.seq <= *last_poke_seq_;
  const bool answer = !session_ || !session_->carried_data || booted_again || from != session_->peer;
  last_poke_seq_ = d.seq;
  if (!answer) return;

  wk::Response r;
  r.target_random = poke->target_random;
  r.debugger_random = fresh_random();
  auto payload = wk::build_response(r);
  auto keys = wk::Keys::from_root(config_.key);
  keys.set_data_key_from_response(payload);
  ++counters_.pokes_answered;
  ++counters_.responses_sent;
  send_control(from, d.seq, std::move(payload));  // the RESPONSE carries the POKE's number
  if (!session_) {
    start_session(std::move(keys), from, false);
    return;
  }
  candidates_.push_back(Candidate{std::move(keys), from});
  while (candidates_.size() > kMaxCandidates) candidates_.pop_front();
}

void Endpoint::on_response(const wk::Datagram& d, const Address& from, TimePoint now) {
  auto r = wk::parse_response(d.payload);
  if (!r) return malformed(from, "RESPONSE: " + r.error().message, now);
  ++counters_.responses_received;
  auto it = std::find(outstanding_.begin(), outstanding_.end(), r->target_random);
  if (it == outstanding_.end()) {
    ++counters_.stale_responses;  // a duplicate, a replay, or the answer to a POKE long gone
    return;
  }
  auto keys = wk::Keys::from_root(config_.key);
  keys.set_data_key_from_response(d.payload);
  const bool restart = session_.has_value();
  start_session(std::move(keys), from, restart);
  config_.peer = from;  // the debugger that answered is the one kept POKEd
}

void Endpoint::on_solicit(const wk::Datagram& d, const Address& from, TimePoint now) {
  wire::Bytes shape = d.payload;
  shape[1] = wk::kPokeKind;
  auto s = wk::parse_poke(shape);
  if (!s) return malformed(from, "SOLICIT: " + s.error().message, now);
  ++counters_.solicits_received;
  if (std::find(seen_pokes_.begin(), seen_pokes_.end(), s->target_random) != seen_pokes_.end()) {
    ++counters_.replays_dropped;
    return;
  }
  seen_pokes_.push_back(s->target_random);
  while (seen_pokes_.size() > kSeenPokes) seen_pokes_.pop_front();
  if (!session_) {
    config_.peer = from;  // the debugger that asks is the one we POKE from now on
    send_poke(now);
    return;
  }
  // During a session a SOLICIT is a debugger started again (perhaps elsewhere)
  // or an old one replayed (only the last kSeenPokes are remembered). Either way
  // it gets one POKE, but the keep-alive POKEs stay with the session's debugger:
  // only a RESPONSE to this POKE, which needs the key and its fresh random
  // bytes, moves the session (on_response).
  poke(from);
}

void Endpoint::on_data(wire::ByteView datagram, const Address& from, TimePoint now) {
  if (!session_ && candidates_.empty()) {
    ++counters_.no_session;
    return;
  }
  if (session_) {
    auto d = wk::open(datagram, session_->keys);
    if (d) return accept_data(*session_, std::move(*d), from, now);
    if (d.error().kind != wk::OpenFailure::Unauthentic)
      return malformed(from, d.error().message, now, d.error().kind == wk::OpenFailure::NotKdnet);
  }
  // Debugger: the target may have taken a later RESPONSE (newest first).
  for (auto it = candidates_.rbegin(); it != candidates_.rend(); ++it) {
    auto d = wk::open(datagram, it->keys);
    if (!d) continue;
    const bool restart = session_ && session_->carried_data;
    if (session_ && !restart) ++counters_.rekeys;
    auto keys = std::move(it->keys);
    candidates_.clear();
    start_session(std::move(keys), from, restart);
    return accept_data(*session_, std::move(*d), from, now);
  }
  auth_failed(from, now);
}

void Endpoint::accept_data(Session& s, wk::Datagram d, const Address& from, TimePoint now) {
  if (d.from_debugger == debugger())
    return malformed(from, "data datagram with our own direction bit (a reflection?)", now);
  // One KD packet per datagram (docs/protocol.md section 6): header and body at
  // most, no trailer. Anything longer is not a KD packet; it is refused here so
  // no reader has to drop it unseen.
  if (d.payload.size() > wire::kdcom::kHeaderSize + wire::kdcom::kMaxBody)
    return malformed(from, "data payload of " + std::to_string(d.payload.size()) + " bytes is longer than a KD packet",
                     now);
  if (!s.window.accept(d.seq)) {
    ++counters_.replays_dropped;  // a duplicate or a replay: never delivered twice
    return;
  }
  s.carried_data = true;
  s.peer = from;
  ++counters_.data_received;
  if (payloads_.size() >= config_.max_payloads) {
    ++counters_.payloads_dropped;
    return;
  }
  payloads_.push_back(std::move(d.payload));
}

void Endpoint::start_session(wk::Keys keys, const Address& peer, bool restart) {
  session_ = Session{std::move(keys), peer, 0, ReplayWindow{}, false};
  // Payloads not yet taken belong to the session that ended: the link above
  // starts afresh with this one, so they must not reach it (counted as dropped).
  // Callers take events before payloads; this keeps that order sound.
  counters_.payloads_dropped += payloads_.size();
  payloads_.clear();
  ++counters_.sessions;
  if (restart) ++counters_.restarts;
  events_.push_back(SessionStarted{peer, restart});
  if (!debugger()) {
    outstanding_.clear();
    // The target's first data datagram: the pseudo packet with the debugger's address.
    auto pseudo = wk::build_pseudo_packet(peer.ipv4);
    send_data(pseudo, TimePoint{});
  }
}

}  // namespace openkd::link::kdnet
