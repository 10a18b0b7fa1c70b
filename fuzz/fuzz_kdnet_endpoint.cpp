// libFuzzer target for the KDNET endpoint (core/link/kdnet_endpoint): a
// debugger and a target complete a real handshake (seeded randomness), then
// the input is cut into chunks, each [mode u8][length u8][bytes], delivered as:
//   0: raw bytes to the debugger;       1: raw bytes to the target;
//   2: a data datagram sealed with the session's key, target -> debugger,
//      sequence number from the first byte (the inside is authentic, the rest fuzzed);
//   3: a control datagram sealed with K, target -> debugger;
//   4: a control datagram sealed with K, debugger -> target;
//   5: time moves on by the first byte x 100 ms (POKEs, SOLICITs, report intervals).
// Invariants: no crash; a sealed data datagram's payload is delivered at most
// once per sequence number; queues stay within their bounds.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <memory>

#include "core/link/kdnet_endpoint.hpp"

namespace kn = openkd::link::kdnet;
namespace wk = openkd::wire::kdnet;
using openkd::link::TimePoint;
using openkd::wire::Bytes;

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

kn::RandomFill counter_fill(std::uint8_t start) {
  auto state = std::make_shared<std::uint8_t>(start);
  return [state](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*state)++;
  };
}

const kn::Address kHost{0x7F000001, 50000};
const kn::Address kTarget{0x7F000002, 50000};

void move_all(kn::Endpoint& from, kn::Endpoint& to, const kn::Address& from_addr, TimePoint now) {
  for (int i = 0; i < 64; ++i) {
    auto d = from.take_datagram();
    if (!d) return;
    to.on_datagram(d->bytes, from_addr, now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto key = wk::parse_key("1.2.3.4").value();
  kn::EndpointConfig dc;
  dc.role = kn::Role::Debugger;
  dc.key = key;
  dc.self = kHost;
  kn::EndpointConfig tc;
  tc.role = kn::Role::Target;
  tc.key = key;
  tc.self = kTarget;
  tc.peer = kHost;
  kn::Endpoint dbg(dc, counter_fill(1));
  kn::Endpoint tgt(tc, counter_fill(101));
  TimePoint now{};
  tgt.start(now);
  for (int round = 0; round < 3; ++round) {
    move_all(tgt, dbg, kTarget, now);
    move_all(dbg, tgt, kHost, now);
  }
  check(dbg.has_session() && tgt.has_session());
  while (dbg.take_payload()) {  // the pseudo packet
  }

  const auto control = wk::Keys::from_root(key);
  std::size_t pos = 0;
  while (pos + 2 <= size) {
    const std::uint8_t mode = data[pos] % 6;
    const std::size_t len = std::min<std::size_t>(data[pos + 1], size - pos - 2);
    Bytes chunk(data + pos + 2, data + pos + 2 + len);
    pos += 2 + len;
    switch (mode) {
      case 0: dbg.on_datagram(chunk, kTarget, now); break;
      case 1: tgt.on_datagram(chunk, kHost, now); break;
      case 2: {
        // A data datagram the target seals itself: authentic, contents fuzzed.
        if (!tgt.send_data(chunk, now)) break;
        auto d = tgt.take_datagram();
        if (!d) break;
        dbg.on_datagram(d->bytes, kTarget, now);
        dbg.on_datagram(d->bytes, kTarget, now);  // a duplicate: never delivered twice
        std::size_t n = 0;
        while (dbg.take_payload()) ++n;
        check(n <= 1);
        break;
      }
      case 3:
      case 4: {
        wk::Datagram d;
        d.channel = wk::Channel::Control;
        d.seq = chunk.empty() ? 0 : chunk[0];
        d.from_debugger = mode == 4;
        d.payload = chunk;
        auto sealed = wk::encode(d, control);
        if (!sealed) break;
        if (mode == 3) dbg.on_datagram(*sealed, kTarget, now);
        else tgt.on_datagram(*sealed, kHost, now);
        break;
      }
      case 5:
        now += std::chrono::milliseconds(100 * (chunk.empty() ? 1 : chunk[0]));
        dbg.on_timer(now);
        tgt.on_timer(now);
        break;
    }
    // What each side sends goes to the other (a handshake may complete again).
    move_all(tgt, dbg, kTarget, now);
    move_all(dbg, tgt, kHost, now);
    std::size_t payloads = 0;
    while (dbg.take_payload()) ++payloads;
    while (tgt.take_payload()) ++payloads;
    check(payloads <= 256 * 2);
    while (dbg.take_event()) {
    }
    while (tgt.take_event()) {
    }
  }
  return 0;
}
