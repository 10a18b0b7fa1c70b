// Reads kdnet.json with Boost.JSON (header-only: its sources are compiled here, once).
#include "cpp_tests/kdnet/vectors.hpp"

#include <boost/json/src.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cpp_tests/kdnet/hex.hpp"

namespace openkd::test::kdnet_vectors {
namespace {

namespace json = boost::json;

// Exceptions stay inside this file: load() turns any of them into load_error.
std::string str(const json::object& o, std::string_view field) { return std::string(o.at(field).as_string()); }

wire::Bytes hex(const json::object& o, std::string_view field) {
  auto bytes = from_hex(str(o, field));
  if (!bytes) throw std::runtime_error("field " + std::string(field) + " is not hex");
  return *bytes;
}

template <std::size_t N>
std::array<std::uint8_t, N> hex_array(const json::object& o, std::string_view field) {
  const auto bytes = hex(o, field);
  if (bytes.size() != N) throw std::runtime_error("field " + std::string(field) + " has the wrong length");
  std::array<std::uint8_t, N> out;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

std::uint64_t integer(const json::object& o, std::string_view field) { return json::value_to<std::uint64_t>(o.at(field)); }

std::uint32_t parse_ipv4(std::string_view text) {
  std::uint32_t value = 0;
  std::istringstream in{std::string(text)};
  for (int i = 0; i < 4; ++i) {
    unsigned octet = 0;
    char dot = 0;
    in >> octet;
    if (i < 3) in >> dot;
    value = value << 8 | (octet & 0xFF);
  }
  return value;
}

Endpoint parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  return Endpoint{parse_ipv4(text.substr(0, colon)),
                  static_cast<std::uint16_t>(std::stoul(std::string(text.substr(colon + 1))))};
}

DatagramRow datagram_row(const std::string& key, const kdnet::Keys& keys, const json::object& o) {
  DatagramRow row;
  row.key = key;
  row.name = str(o, "name");
  row.keys = keys;
  row.fields.version = static_cast<std::uint8_t>(integer(o, "version"));
  row.fields.channel = static_cast<kdnet::Channel>(integer(o, "channel"));
  row.fields.seq = integer(o, "seq");
  row.fields.from_debugger = str(o, "direction") == "debugger->target";
  row.fields.payload = hex(o, "payload_hex");
  row.plaintext = hex(o, "plaintext_hex");
  row.tag = hex(o, "tag_hex");
  row.datagram = hex(o, "datagram_hex");
  row.padding = static_cast<unsigned>(integer(o, "padding"));
  if (auto it = o.find("pseudo_packet"); it != o.end())
    row.pseudo_host_ipv4 = parse_ipv4(str(it->value().as_object(), "host_ipv4"));
  return row;
}

kdnet::Keys keys_with_data_key(const kdnet::Key& root, const kdnet::Key& data_key) {
  auto keys = kdnet::Keys::from_root(root);
  keys.data = data_key;
  return keys;
}

Vectors load() {
  Vectors v;
  const std::string path = std::string(OPENKD_VECTORS_DIR) + "/kdnet.json";
  try {
    std::ifstream file(path);
    if (!file) throw std::runtime_error("cannot open");
    std::stringstream text;
    text << file.rdbuf();
    const json::object root = json::parse(text.str()).as_object();

    for (const auto& k : root.at("keys").as_array()) {
      const auto& o = k.as_object();
      KeyRow key_row;
      key_row.key = str(o, "key");
      const auto& parts = o.at("parts").as_array();
      for (std::size_t i = 0; i < 4; ++i)
        key_row.parts[i] = std::stoull(std::string(parts.at(i).as_string()), nullptr, 16);
      key_row.root = hex_array<32>(o, "K_hex");
      key_row.hmac = hex_array<32>(o, "hmac_key_hex");
      v.keys.push_back(key_row);

      const auto& hs = o.at("handshake").as_object();
      HandshakeRow handshake;
      handshake.key = key_row.key;
      handshake.target_random = hex_array<32>(hs, "target_random_hex");
      handshake.debugger_random = hex_array<32>(hs, "debugger_random_hex");
      const auto& poke = hs.at("poke").as_object();
      for (const auto& a : poke.at("addresses").as_array())
        handshake.addresses.push_back(parse_endpoint(a.as_string()));
      handshake.poke_payload = hex(poke, "payload_hex");
      handshake.response_payload = hex(hs.at("response").as_object(), "payload_hex");
      handshake.data_key = hex_array<32>(hs, "data_key_hex");
      v.handshakes.push_back(handshake);

      const auto keys = keys_with_data_key(key_row.root, handshake.data_key);
      v.datagrams.push_back(datagram_row(key_row.key, keys, poke));
      v.datagrams.push_back(datagram_row(key_row.key, keys, hs.at("response").as_object()));
      for (const auto& d : o.at("data_channel").as_array())
        v.datagrams.push_back(datagram_row(key_row.key, keys, d.as_object()));
    }

    for (const auto& n : root.at("negative_datagrams").as_array()) {
      const auto& o = n.as_object();
      NegativeDatagramRow row;
      row.name = str(o, "name");
      row.reason = str(o, "reason");
      auto parsed = kdnet::parse_key(str(o, "key"));
      if (!parsed) throw std::runtime_error("negative datagram key: " + parsed.error().message);
      row.keys = keys_with_data_key(*parsed, hex_array<32>(o, "data_key_hex"));
      row.channel = static_cast<std::uint8_t>(integer(o, "channel"));
      row.datagram = hex(o, "datagram_hex");
      v.negative_datagrams.push_back(row);
    }

    for (const auto& k : root.at("invalid_keys").as_array())
      v.invalid_keys.push_back(InvalidKeyRow{str(k.as_object(), "key"), str(k.as_object(), "reason")});
  } catch (const std::exception& e) {
    Vectors empty;
    empty.load_error = path + ": " + e.what();
    return empty;
  }
  return v;
}

}  // namespace

const Vectors& vectors() {
  static const Vectors loaded = load();
  return loaded;
}

}  // namespace openkd::test::kdnet_vectors
