#include "cpp_tests/link/sim.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace openkd::test {

Channel::Channel(Transport transport, FaultRates faults, std::uint64_t seed)
    : transport_(transport), faults_(faults), rng_(seed) {}

bool Channel::chance(double p) {
  if (p <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
}

void Channel::corrupt(wire::Bytes& frame) {
  // KDCOM's checksum covers the body only: a changed PacketType (offsets 4-5)
  // or PacketId (8-11) cannot be detected by any receiver, real KD included,
  // and would test the protocol's weakness rather than the link. Every other
  // byte's damage is detectable (leader, ByteCount, Checksum, body, trailer,
  // a control packet's zero fields) or harmless (a break-in byte turned garbage).
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < frame.size(); ++i) {
    const bool hidden = frame.size() >= wire::kdcom::kHeaderSize && ((i >= 4 && i < 6) || (i >= 8 && i < 12));
    if (!hidden) positions.push_back(i);
  }
  if (positions.empty()) return;
  const std::size_t at = positions[std::uniform_int_distribution<std::size_t>(0, positions.size() - 1)(rng_)];
  frame[at] ^= static_cast<std::uint8_t>(std::uniform_int_distribution<int>(1, 255)(rng_));
}

void Channel::enqueue(wire::Bytes bytes, TimePoint at) {
  queue_.push_back(InTransit{at, order_++, std::move(bytes)});
}

void Channel::send(const wire::Bytes& frame, TimePoint now) {
  ++stats_.frames;
  if (cut || chance(faults_.drop)) {
    ++stats_.dropped;
    return;
  }
  const bool datagram = transport_ == Transport::Datagram;
  wire::Bytes bytes = frame;
  // KDNET authenticates every datagram (HMAC-SHA256), so a damaged or cut
  // datagram never reaches the link: it is simply lost.
  if (chance(faults_.corrupt)) {
    ++stats_.corrupted;
    if (datagram) return;
    corrupt(bytes);
  }
  if (bytes.size() > 1 && chance(faults_.truncate)) {
    ++stats_.truncated;
    if (datagram) return;
    bytes.resize(std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(rng_));
  }
  auto extra_delay = [&]() -> std::chrono::milliseconds {
    return std::chrono::milliseconds(std::uniform_int_distribution<long>(1, max_extra_delay.count())(rng_));
  };
  TimePoint at = now + latency;
  if (chance(faults_.delay)) {
    ++stats_.delayed;
    at += extra_delay();
  }
  const bool twice = chance(faults_.duplicate);
  if (twice) ++stats_.duplicated;

  if (datagram) {
    enqueue(bytes, at);
    if (twice) enqueue(bytes, now + latency + extra_delay());  // may overtake or trail
    return;
  }
  // A byte stream keeps its order: a late frame holds back what follows it.
  at = std::max(at, last_arrival_);
  last_arrival_ = at;
  for (int copy = 0; copy < (twice ? 2 : 1); ++copy) {
    // Arrives in up to three pieces, so the parser sees frames split anywhere.
    std::size_t offset = 0;
    const int pieces = std::uniform_int_distribution<int>(1, 3)(rng_);
    for (int p = 0; p < pieces && offset < bytes.size(); ++p) {
      const std::size_t left = bytes.size() - offset;
      const std::size_t n = p + 1 == pieces ? left : std::uniform_int_distribution<std::size_t>(1, left)(rng_);
      enqueue(wire::Bytes(bytes.begin() + offset, bytes.begin() + offset + n), at);
      offset += n;
    }
  }
}

std::optional<TimePoint> Channel::next_arrival() const {
  if (queue_.empty()) return std::nullopt;
  return std::min_element(queue_.begin(), queue_.end(), [](const auto& a, const auto& b) { return a.at < b.at; })->at;
}

std::optional<wire::Bytes> Channel::take_due(TimePoint now) {
  auto earliest = std::min_element(queue_.begin(), queue_.end(), [](const auto& a, const auto& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  if (earliest == queue_.end() || earliest->at > now) return std::nullopt;
  wire::Bytes bytes = std::move(earliest->bytes);
  queue_.erase(earliest);
  return bytes;
}

Sim::Sim(link::LinkConfig host_config, link::LinkConfig target_config, Transport transport, FaultRates faults,
         std::uint64_t seed)
    : host(host_config),
      target(target_config),
      to_target(transport, faults, seed * 2 + 1),
      to_host(transport, faults, seed * 2 + 2),
      trace(std::getenv("OPENKD_LINK_TRACE") != nullptr) {}

namespace {
std::string summarize(const wire::Bytes& frame) {
  if (frame.size() == 1) return frame[0] == wire::kdcom::kBreakIn ? "break-in" : "1 byte";
  auto h = wire::kdcom::decode_header(frame);
  if (!h) return std::to_string(frame.size()) + " bytes";
  std::ostringstream out;
  out << wire::kdcom::to_string(static_cast<wire::kdcom::PacketType>(h->type)) << " id=0x" << std::hex << h->id
      << std::dec << " len=" << h->byte_count;
  return out.str();
}
}  // namespace

void Sim::log(const char* what, link::Role side, const std::string& text) const {
  if (!trace) return;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - sim_epoch()).count();
  std::cerr << ms << "ms " << (side == link::Role::Host ? "host   " : "target ") << what << " " << text << "\n";
}

bool Sim::settle() {
  bool any = false;
  for (bool progress = true; progress;) {
    progress = false;
    while (auto frame = host.take_frame()) {
      log("sends", link::Role::Host, summarize(*frame));
      to_target.send(*frame, now), progress = true;
    }
    while (auto frame = target.take_frame()) {
      log("sends", link::Role::Target, summarize(*frame));
      to_host.send(*frame, now), progress = true;
    }
    if (auto bytes = to_target.take_due(now)) target.on_receive(*bytes, now), progress = true;
    if (auto bytes = to_host.take_due(now)) host.on_receive(*bytes, now), progress = true;
    while (auto event = host.take_event()) {
      log("event", link::Role::Host, link::describe(*event));
      if (on_event) on_event(link::Role::Host, *event);
      progress = true;
    }
    while (auto event = target.take_event()) {
      log("event", link::Role::Target, link::describe(*event));
      if (on_event) on_event(link::Role::Target, *event);
      progress = true;
    }
    any |= progress;
  }
  return any;
}

std::optional<TimePoint> Sim::next_time() const {
  std::optional<TimePoint> t;
  for (auto candidate : {host.next_deadline(), target.next_deadline(), to_target.next_arrival(), to_host.next_arrival()}) {
    if (candidate && (!t || *candidate < *t)) t = candidate;
  }
  return t;
}

void Sim::fire_timers() {
  if (auto d = host.next_deadline(); d && *d <= now) host.on_timer(now);
  if (auto d = target.next_deadline(); d && *d <= now) target.on_timer(now);
}

bool Sim::run_until(const std::function<bool()>& done, std::chrono::seconds limit) {
  const TimePoint end = now + limit;
  for (;;) {
    settle();
    if (done()) return true;
    const auto t = next_time();
    if (!t || *t > end) return false;
    now = std::max(now, *t);
    fire_timers();
  }
}

void Sim::run_for(std::chrono::milliseconds span) {
  const TimePoint end = now + span;
  for (;;) {
    settle();
    const auto t = next_time();
    if (!t || *t > end) break;
    now = std::max(now, *t);
    fire_timers();
  }
  now = end;
  settle();
}

std::string format_counters(const link::LinkCounters& c) {
  std::ostringstream out;
  out << "packets_sent=" << c.packets_sent << " packets_received=" << c.packets_received
      << " bytes_sent=" << c.bytes_sent << " bytes_received=" << c.bytes_received
      << " retransmissions=" << c.retransmissions << " timeouts=" << c.timeouts << " acks_sent=" << c.acks_sent
      << " acks_received=" << c.acks_received << " stale_acks=" << c.stale_acks
      << " implicit_acks=" << c.implicit_acks << " resends_sent=" << c.resends_sent
      << " resends_received=" << c.resends_received << " resets_sent=" << c.resets_sent
      << " resets_received=" << c.resets_received << " duplicates_dropped=" << c.duplicates_dropped
      << " ignored_packets=" << c.ignored_packets << " break_ins_sent=" << c.break_ins_sent
      << " break_ins_received=" << c.break_ins_received << " peer_gone=" << c.peer_gone
      << " garbage_runs=" << c.garbage_runs << " bad_checksums=" << c.bad_checksums
      << " missing_trailers=" << c.missing_trailers << " bodies_too_large=" << c.bodies_too_large
      << " unknown_types=" << c.unknown_types << " bad_controls=" << c.bad_controls
      << " truncated_datagrams=" << c.truncated_datagrams << " pseudo_packets=" << c.pseudo_packets;
  return out.str();
}

std::string format_stats(const ChannelStats& s) {
  std::ostringstream out;
  out << "frames=" << s.frames << " dropped=" << s.dropped << " corrupted=" << s.corrupted
      << " duplicated=" << s.duplicated << " truncated=" << s.truncated << " delayed=" << s.delayed;
  return out.str();
}

}  // namespace openkd::test
