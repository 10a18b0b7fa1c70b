#include "cpp_tests/link/workload.hpp"

#include <algorithm>
#include <sstream>

namespace openkd::test {

using wire::kdcom::Packet;
using wire::kdcom::PacketType;

namespace {

constexpr PacketType kDataTypes[] = {
    PacketType::StateChange32, PacketType::StateManipulate, PacketType::DebugIo,    PacketType::StateChange64,
    PacketType::TraceIo,       PacketType::ControlRequest,  PacketType::FileIo,
};

Packet random_packet(std::mt19937_64& rng, std::size_t index, std::size_t min_body) {
  auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
  Packet p;
  p.type = kDataTypes[pick(0, std::size(kDataTypes) - 1)];
  // Mostly small packets like KD's requests, some memory-sized, some full.
  std::size_t size = 0;
  switch (pick(0, 9)) {
    case 0: case 1: case 2: case 3: size = pick(0, 64); break;
    case 4: case 5: case 6: case 7: size = pick(65, 1000); break;
    case 8: size = pick(1001, 3999); break;
    default: size = wire::kdcom::kMaxBody; break;
  }
  size = std::max(size, min_body);
  p.body.resize(size);
  for (auto& b : p.body) b = static_cast<std::uint8_t>(rng());
  // The index up front makes every packet of 4 bytes or more unique.
  for (std::size_t i = 0; i < 4 && i < size; ++i) p.body[i] = static_cast<std::uint8_t>(index >> (8 * i));
  return p;
}

}  // namespace

Workload make_workload(std::uint64_t seed, std::size_t per_direction, std::size_t min_body) {
  std::mt19937_64 rng(seed);
  Workload w;
  for (std::size_t i = 0; i < per_direction; ++i) w.from_host.push_back(random_packet(rng, i, min_body));
  for (std::size_t i = 0; i < per_direction; ++i) w.from_target.push_back(random_packet(rng, i, min_body));
  std::size_t host_left = per_direction, target_left = per_direction;
  for (link::Role from = link::Role::Target; host_left + target_left > 0;
       from = from == link::Role::Host ? link::Role::Target : link::Role::Host) {
    std::size_t& left = from == link::Role::Host ? host_left : target_left;
    const std::size_t n = std::min(left, std::uniform_int_distribution<std::size_t>(1, 3)(rng));
    left -= n;
    w.turns.push_back({from, n});  // n may be 0 once a side has said everything
  }
  return w;
}

Exchange::Exchange(Sim& sim, const Workload& work, Traffic traffic, bool allow_repeats)
    : sim_(sim), work_(work), traffic_(traffic), allow_repeats_(allow_repeats) {
  sim_.on_event = [this](link::Role side, const link::LinkEvent& e) { on_event(side, e); };
}

void Exchange::start() {
  if (traffic_ == Traffic::Duplex) {
    for (const auto& p : work_.from_host) (void)sim_.host.send(p.type, p.body, sim_.now);
    for (const auto& p : work_.from_target) (void)sim_.target.send(p.type, p.body, sim_.now);
    host_queued_ = work_.from_host.size();
    target_queued_ = work_.from_target.size();
    return;
  }
  advance_turns();
}

bool Exchange::done() const {
  return host_got == work_.from_target.size() && target_got == work_.from_host.size() &&
         sim_.host.pending_sends() == 0 && sim_.target.pending_sends() == 0;
}

void Exchange::advance_turns() {
  // A side may start turn i once it has received everything the other side
  // queued in turns before i: KD's "speak only after you heard".
  while (next_turn_ < work_.turns.size()) {
    const auto& turn = work_.turns[next_turn_];
    std::size_t other_before = 0;
    for (std::size_t i = 0; i < next_turn_; ++i)
      if (work_.turns[i].from != turn.from) other_before += work_.turns[i].count;
    const bool host = turn.from == link::Role::Host;
    if ((host ? host_got : target_got) < other_before) return;
    for (std::size_t k = 0; k < turn.count; ++k) {
      const auto& p = host ? work_.from_host[host_queued_++] : work_.from_target[target_queued_++];
      (void)(host ? sim_.host : sim_.target).send(p.type, p.body, sim_.now);
    }
    ++next_turn_;
  }
}

void Exchange::on_event(link::Role side, const link::LinkEvent& event) {
  if (const auto* got = std::get_if<link::PacketReceived>(&event)) {
    deliver(side, got->packet);
  } else if (std::holds_alternative<link::SendComplete>(event)) {
    ++(side == link::Role::Host ? host_completed : target_completed);
  } else if (std::holds_alternative<link::PeerGone>(event)) {
    ++peer_gone;
  }
}

void Exchange::deliver(link::Role side, const Packet& packet) {
  const bool at_host = side == link::Role::Host;
  const auto& expected = at_host ? work_.from_target : work_.from_host;
  std::size_t& got = at_host ? host_got : target_got;
  auto same = [&](std::size_t i) { return i < expected.size() && expected[i].type == packet.type && expected[i].body == packet.body; };
  if (same(got)) {
    ++got;
    if (traffic_ == Traffic::Turns) advance_turns();
    return;
  }
  if (allow_repeats_ && got > 0 && same(got - 1)) {
    ++repeats;
    return;
  }
  if (mismatches++ == 0) {
    std::ostringstream out;
    out << (at_host ? "host" : "target") << " got " << wire::kdcom::to_string(packet.type) << " id 0x" << std::hex
        << packet.id << std::dec << " (" << packet.body.size() << " bytes) as packet #" << got;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (same(i)) out << "; it is packet #" << i;
    first_mismatch = out.str();
  }
}

}  // namespace openkd::test
