// kdnet.json (cpp_tests/vectors, from an independent implementation) as plain structs,
// one per test row. Loaded once; a load failure leaves the tables empty and is
// reported by the test that checks the table sizes.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/wire/kdnet.hpp"

namespace openkd::test::kdnet_vectors {

namespace kdnet = wire::kdnet;

struct KeyRow {
  std::string key;
  std::array<std::uint64_t, 4> parts{};
  kdnet::Key root{}, hmac{};
};

/// One endpoint of a POKE, as the JSON writes it ("192.168.56.20:50000").
struct Endpoint {
  std::uint32_t ipv4 = 0;
  std::uint16_t port = 0;
};

struct HandshakeRow {
  std::string key;
  kdnet::Random target_random{}, debugger_random{};
  std::vector<Endpoint> addresses;  // target, host, the zero entry
  wire::Bytes poke_payload, response_payload;
  kdnet::Key data_key{};
};

/// Every datagram of the file: POKE, RESPONSE and the data-channel ones.
struct DatagramRow {
  std::string key, name;
  kdnet::Keys keys;  // with the data key set
  kdnet::Datagram fields;
  wire::Bytes plaintext, tag, datagram;
  unsigned padding = 0;
  std::optional<std::uint32_t> pseudo_host_ipv4;  // the pseudo packet row only
};

struct NegativeDatagramRow {
  std::string name, reason;
  kdnet::Keys keys;
  std::uint8_t channel = 0;
  wire::Bytes datagram;
};

struct InvalidKeyRow {
  std::string key, reason;
};

struct Vectors {
  std::vector<KeyRow> keys;
  std::vector<HandshakeRow> handshakes;
  std::vector<DatagramRow> datagrams;
  std::vector<NegativeDatagramRow> negative_datagrams;
  std::vector<InvalidKeyRow> invalid_keys;
  std::string load_error;  // empty when the file loaded
};

const Vectors& vectors();

// Boost.Test prints a failing row's sample: its name is enough to find it in the file.
inline std::ostream& operator<<(std::ostream& os, const KeyRow& r) { return os << "key " << r.key; }
inline std::ostream& operator<<(std::ostream& os, const HandshakeRow& r) { return os << "handshake of " << r.key; }
inline std::ostream& operator<<(std::ostream& os, const DatagramRow& r) { return os << r.name << " of " << r.key; }
inline std::ostream& operator<<(std::ostream& os, const NegativeDatagramRow& r) { return os << r.name; }
inline std::ostream& operator<<(std::ostream& os, const InvalidKeyRow& r) { return os << "invalid key " << r.key; }

}  // namespace openkd::test::kdnet_vectors
