// Helpers for scripted exchanges: one Link, raw bytes in, frames and events out.
#pragma once
#include <boost/test/unit_test.hpp>

#include <string>
#include <variant>
#include <vector>

#include "core/link/link.hpp"
#include "cpp_tests/link/sim.hpp"

namespace openkd::test {

using wire::Bytes;
using wire::kdcom::Packet;
using wire::kdcom::PacketType;

inline Bytes data_frame(PacketType type, std::uint32_t id, Bytes body, bool trailer = true) {
  return wire::kdcom::encode(Packet{type, id, std::move(body)}, trailer);
}
inline Bytes control_frame(PacketType type, std::uint32_t id) { return wire::kdcom::encode_control(type, id); }
inline Bytes ack(std::uint32_t id) { return control_frame(PacketType::Acknowledge, id); }
inline Bytes resend() { return control_frame(PacketType::Resend, 0); }
inline Bytes reset(std::uint32_t id = 0) { return control_frame(PacketType::Reset, id); }

/// Lowercase hex, so a failed comparison prints readably.
inline std::string H(wire::ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) out += {kDigits[b >> 4], kDigits[b & 15]};
  return out;
}

/// A body whose bytes say which packet it is.
inline Bytes body_of(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 7);
  return b;
}

/// One Link driven by hand: the test is the other side of the wire.
struct Scripted {
  explicit Scripted(link::LinkConfig config) : link(config) {}

  link::Link link;
  TimePoint now = sim_epoch();

  void feed(const Bytes& bytes) { link.on_receive(bytes, now); }
  void send(PacketType type, Bytes body) { BOOST_REQUIRE(link.send(type, std::move(body), now)); }
  void advance(std::chrono::milliseconds span) {
    now += span;
    link.on_timer(now);
  }
  std::vector<Bytes> frames() {
    std::vector<Bytes> out;
    while (auto f = link.take_frame()) out.push_back(std::move(*f));
    return out;
  }
  std::vector<link::LinkEvent> events() {
    std::vector<link::LinkEvent> out;
    while (auto e = link.take_event()) out.push_back(std::move(*e));
    return out;
  }
  /// The one frame the link wrote, in hex (fails the test if there are more or none).
  std::string frame() {
    auto all = frames();
    BOOST_TEST_REQUIRE(all.size() == 1u);
    return H(all.front());
  }
};

template <class E>
std::vector<E> only(const std::vector<link::LinkEvent>& events) {
  std::vector<E> out;
  for (const auto& e : events)
    if (const E* x = std::get_if<E>(&e)) out.push_back(*x);
  return out;
}

inline std::vector<std::string> describe_all(const std::vector<link::LinkEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(link::describe(e));
  return out;
}

}  // namespace openkd::test
