// kdnet_tool: the KDNET codec on the command line, for pytests/test_kdnet_crypto.py
// to compare against an independent Python computation. Hex in, hex out; "-" is an
// empty byte string. Exit 0 on success, 1 when the codec refuses, 2 on bad usage.
//
//   kdnet_tool key KEY                                   -> K_HEX HMAC_KEY_HEX
//   kdnet_tool encrypt KEY CHANNEL SEQ DIR PAYLOAD [DATAKEY] -> DATAGRAM
//   kdnet_tool decrypt KEY DATAGRAM [DATAKEY]            -> VERSION CHANNEL SEQ DIR PAYLOAD
//   kdnet_tool datakey KEY RESPONSE_PAYLOAD              -> DATA_KEY
//   kdnet_tool response TARGET_RANDOM DEBUGGER_RANDOM    -> RESPONSE_PAYLOAD
//
// CHANNEL is 0 (data) or 1 (control); DIR is "debugger" (debugger -> target) or
// "target" (target -> debugger); SEQ is decimal.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire/kdnet.hpp"
#include "cpp_tests/kdnet/hex.hpp"

namespace kdnet = openkd::wire::kdnet;
using openkd::test::from_hex;
using openkd::test::to_hex;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "kdnet_tool: " << why << "\n"
            << "usage: kdnet_tool key KEY | encrypt KEY CHANNEL SEQ DIR PAYLOAD [DATAKEY] |\n"
            << "       decrypt KEY DATAGRAM [DATAKEY] | datakey KEY RESPONSE | response TRANDOM DRANDOM\n";
  std::exit(2);
}

[[noreturn]] void refused(const std::string& message) {
  std::cerr << message << "\n";
  std::exit(1);
}

openkd::wire::Bytes hex_arg(std::string_view text, const char* what) {
  if (text == "-") return {};
  auto bytes = from_hex(text);
  if (!bytes) usage(std::string(what) + " is not hex");
  return *bytes;
}

template <std::size_t N>
std::array<std::uint8_t, N> fixed_hex_arg(std::string_view text, const char* what) {
  const auto bytes = hex_arg(text, what);
  if (bytes.size() != N) usage(std::string(what) + " must be " + std::to_string(N) + " bytes");
  std::array<std::uint8_t, N> out;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

kdnet::Keys keys_arg(std::string_view key, const std::vector<std::string>& args, std::size_t data_key_index) {
  auto keys = kdnet::Keys::from_string(key);
  if (!keys) refused(keys.error().message);
  if (args.size() > data_key_index) keys->data = fixed_hex_arg<32>(args[data_key_index], "DATAKEY");
  return *keys;
}

int run(const std::vector<std::string>& a) {
  if (a.empty()) usage("no command");
  const std::string& cmd = a[0];
  if (cmd == "key" && a.size() == 2) {
    const auto keys = keys_arg(a[1], a, 99);
    std::cout << to_hex(keys.root) << ' ' << to_hex(keys.hmac) << '\n';
  } else if (cmd == "encrypt" && (a.size() == 6 || a.size() == 7)) {
    const auto keys = keys_arg(a[1], a, 6);
    kdnet::Datagram d;
    if (a[2] != "0" && a[2] != "1") usage("CHANNEL must be 0 or 1");
    d.channel = a[2] == "0" ? kdnet::Channel::Data : kdnet::Channel::Control;
    d.seq = std::stoull(a[3]);
    if (a[4] != "debugger" && a[4] != "target") usage("DIR must be debugger or target");
    d.from_debugger = a[4] == "debugger";
    d.payload = hex_arg(a[5], "PAYLOAD");
    const auto wire = kdnet::encode(d, keys);
    if (!wire) refused(wire.error().message);
    std::cout << to_hex(*wire) << '\n';
  } else if (cmd == "decrypt" && (a.size() == 3 || a.size() == 4)) {
    const auto keys = keys_arg(a[1], a, 3);
    const auto d = kdnet::decode(hex_arg(a[2], "DATAGRAM"), keys);
    if (!d) refused(d.error().message);
    std::cout << int(d->version) << ' ' << int(d->channel) << ' ' << d->seq << ' '
              << (d->from_debugger ? "debugger" : "target") << ' ' << (d->payload.empty() ? "-" : to_hex(d->payload))
              << '\n';
  } else if (cmd == "datakey" && a.size() == 3) {
    const auto keys = keys_arg(a[1], a, 99);
    std::cout << to_hex(kdnet::derive_data_key(keys.root, hex_arg(a[2], "RESPONSE"))) << '\n';
  } else if (cmd == "response" && a.size() == 3) {
    const kdnet::Response r{fixed_hex_arg<32>(a[1], "TARGET_RANDOM"), fixed_hex_arg<32>(a[2], "DEBUGGER_RANDOM")};
    std::cout << to_hex(kdnet::build_response(r)) << '\n';
  } else {
    usage("unknown command or wrong number of arguments");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {  // std::stoull on a bad SEQ
    usage(e.what());
  }
}
