// libFuzzer target for the KDCOM push parser. Properties checked:
//  1. the events do not depend on how the input is split into pushes;
//  2. every emitted packet, re-encoded, parses back to exactly the same packet;
//  3. packets respect the framing limits (body <= 4000, control packets empty);
//  4. the counters agree with the events.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/wire/kdcom.hpp"

namespace kdcom = openkd::wire::kdcom;
using openkd::wire::Bytes;
using openkd::wire::ByteView;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool same_event(const kdcom::FrameEvent& a, const kdcom::FrameEvent& b) {
  return a.kind == b.kind && a.packet == b.packet && a.error == b.error && a.expected == b.expected && a.got == b.got;
}

std::vector<kdcom::FrameEvent> parse(ByteView input, bool trailer, std::uint64_t split_seed) {
  std::vector<kdcom::FrameEvent> events;
  kdcom::Parser parser([&](const kdcom::FrameEvent& e) { events.push_back(e); }, trailer);
  std::size_t at = 0;
  std::uint64_t state = split_seed | 1;
  while (at < input.size()) {
    std::size_t piece = input.size() - at;
    if (split_seed != 0) {
      state ^= state << 13;  // xorshift64: piece lengths 1..64 from the seed
      state ^= state >> 7;
      state ^= state << 17;
      piece = std::min<std::size_t>(piece, 1 + state % 64);
    }
    // Each piece in its own heap buffer: a read past it is an ASan report.
    Bytes copy(input.begin() + static_cast<std::ptrdiff_t>(at),
               input.begin() + static_cast<std::ptrdiff_t>(at + piece));
    parser.push(copy);
    at += piece;
  }
  const kdcom::ParserCounters& n = parser.counters();
  std::uint64_t packets = 0, break_ins = 0;
  for (const auto& e : events) {
    packets += e.kind == kdcom::FrameEvent::Kind::Packet;
    break_ins += e.kind == kdcom::FrameEvent::Kind::BreakIn;
  }
  check(n.packets == packets && n.break_ins == break_ins);
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool trailer = (data[0] & 1) == 0;  // odd first byte: KDNET mode (no 0xAA)
  std::uint64_t seed = 0;
  for (std::size_t i = 0; i < 8 && i < size; ++i) seed = seed << 8 | data[i];
  ByteView input(data + 1, size - 1);

  const auto whole = parse(input, trailer, 0);
  const auto split = parse(input, trailer, seed);
  check(whole.size() == split.size());
  for (std::size_t i = 0; i < whole.size(); ++i) check(same_event(whole[i], split[i]));

  for (const auto& e : whole) {
    if (e.kind != kdcom::FrameEvent::Kind::Packet) continue;
    const kdcom::Packet& p = e.packet;
    check(p.body.size() <= kdcom::kMaxBody);
    if (kdcom::is_control(p.type)) check(p.body.empty());
    const Bytes encoded = kdcom::encode(p, trailer);
    std::vector<kdcom::FrameEvent> again;
    kdcom::Parser parser([&](const kdcom::FrameEvent& ev) { again.push_back(ev); }, trailer);
    parser.push(encoded);
    check(again.size() == 1 && again[0].kind == kdcom::FrameEvent::Kind::Packet && again[0].packet == p);
  }
  return 0;
}
