// libFuzzer target for the KDNET codec (core/wire/kdnet). The first input byte picks
// a mode; the rest drives it:
//   0: decode the bytes as a datagram (arbitrary, so almost always a refusal);
//   1: the bytes as a key string and as POKE / RESPONSE / pseudo-packet payloads;
//   2: seal a datagram from the bytes, check it round-trips, change one byte,
//      and require decode to refuse it (a validly tagged datagram as the starting point);
//   3: seal, then cut or extend it, and require decode to refuse it.
// A broken invariant calls __builtin_trap so libFuzzer records the input.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "core/wire/kdnet.hpp"

namespace kdnet = openkd::wire::kdnet;
using openkd::wire::ByteView;
using openkd::wire::Bytes;

namespace {

const kdnet::Keys& session_keys() {
  static const kdnet::Keys keys = [] {
    auto k = kdnet::Keys::from_string("1.2.3.4").value();
    k.set_data_key_from_response(kdnet::build_response({}));
    return k;
  }();
  return keys;
}

const kdnet::Keys& control_only_keys() {
  static const kdnet::Keys keys = kdnet::Keys::from_string("1.2.3.4").value();
  return keys;
}

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

/// A datagram from the input: flags byte, 7 seq bytes, the rest as payload.
kdnet::Datagram datagram_from(ByteView in) {
  kdnet::Datagram d;
  if (in.empty()) return d;
  d.channel = (in[0] & 1) ? kdnet::Channel::Control : kdnet::Channel::Data;
  d.from_debugger = (in[0] & 2) != 0;
  d.version = (in[0] & 4) ? 2 : kdnet::kVersion;
  in = in.subspan(1);
  for (std::size_t i = 0; i < 7 && !in.empty(); ++i, in = in.subspan(1)) d.seq = d.seq << 8 | in[0];
  d.payload.assign(in.begin(), in.end());
  return d;
}

void decode_raw(ByteView in) {
  (void)kdnet::peek_header(in);
  (void)kdnet::decode(in, session_keys());
  (void)kdnet::decode(in, control_only_keys());
}

void parse_payloads(ByteView in) {
  const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  if (const auto key = kdnet::parse_key(text)) {
    const auto again = kdnet::parse_key(kdnet::format_key(*key));
    check(again.has_value() && *again == *key);
  }
  if (const auto poke = kdnet::parse_poke(in)) {
    check(kdnet::parse_poke(kdnet::build_poke(*poke)).value() == *poke);
  }
  if (const auto response = kdnet::parse_response(in)) {
    check(kdnet::parse_response(kdnet::build_response(*response)).value() == *response);
  }
  if (const auto host = kdnet::parse_pseudo_packet(in)) {
    check(kdnet::build_pseudo_packet(*host) == Bytes(in.begin(), in.end()));
  }
}

/// Seals a datagram from the input (after `control` bytes that steer the change)
/// and checks the untouched datagram round-trips. Empty when there is too little input.
std::optional<Bytes> sealed_round_trip(ByteView in, std::size_t control, kdnet::Datagram& d) {
  if (in.size() < control) return std::nullopt;
  d = datagram_from(in.subspan(control));
  auto wire = kdnet::encode(d, session_keys());
  check(wire.has_value());
  const auto back = kdnet::decode(*wire, session_keys());
  check(back.has_value() && *back == d);
  return std::move(*wire);
}

void tamper_one_byte(ByteView in) {
  kdnet::Datagram d;
  auto wire = sealed_round_trip(in, 3, d);
  if (!wire) return;
  const std::size_t at = (std::size_t{in[0]} << 8 | in[1]) % wire->size();
  const std::uint8_t mask = in[2] ? in[2] : 1;
  (*wire)[at] ^= mask;
  check(!kdnet::decode(*wire, session_keys()).has_value());
}

void cut_or_extend(ByteView in) {
  kdnet::Datagram d;
  auto wire = sealed_round_trip(in, 2, d);
  if (!wire) return;
  if (in[0] & 1) {
    wire->resize((std::size_t{in[1]} << 2) % wire->size());  // strictly shorter
  } else {
    // Extra bytes before the tag: a whole block fails the tag, a part fails the length.
    wire->insert(wire->end() - kdnet::kTagSize, std::size_t{in[1]} % 48 + 1, in[1]);
  }
  check(!kdnet::decode(*wire, session_keys()).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView in(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: decode_raw(in); break;
    case 1: parse_payloads(in); break;
    case 2: tamper_one_byte(in); break;
    case 3: cut_or_extend(in); break;
  }
  return 0;
}
