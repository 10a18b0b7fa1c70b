// libFuzzer target for remoting's untrusted input (issue 9): the frame decoder
// and the server side of the authentication handshake. The input is what a
// hostile client sends, split into reads at points drawn from the input.
// Properties checked:
//  1. decoding never crashes, and the decoder stays failed after an error;
//  2. every decoded message re-encodes to a frame that decodes to the same bytes;
//  3. the handshake follows the hub's rules (remote/hub_server.cpp): a hello
//     with the right version, then one answer; the answer is checked only when
//     GuessBudget granted a token, and verify_auth_mac agrees with compute_auth_mac;
//  4. wrong answers checked never exceed the per-source burst (time is frozen,
//     so no token is refilled).
// The hub runs these steps inside its connection coroutine; this drives the
// same functions without I/O.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "remote/auth.hpp"
#include "remote/frame.hpp"

using namespace openkd::remote;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view password = "fuzz-password";

struct Handshake {
  enum class State { want_hello, want_answer, done } state = State::want_hello;
  std::string identity;
  Nonce nonce{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t split = data[0] | 1;  // read sizes cycle through 1..split
  ByteView input(data + 1, size - 1);

  FrameDecoder decoder;
  GuessLimits limits;
  GuessBudget budget(limits);
  const auto now = GuessBudget::Clock::time_point{} + std::chrono::hours(1);
  Handshake hs;
  unsigned wrong_checked = 0;
  std::uint8_t nonce_counter = 0;

  std::size_t at = 0, step = 0;
  bool failed = false;
  while (at < input.size() && !failed) {
    std::size_t n = std::min<std::size_t>(input.size() - at, 1 + (step++ * 7) % split);
    decoder.push(input.subspan(at, n));
    at += n;
    while (true) {
      auto next = decoder.next();
      if (!next) {
        check(decoder.failed());
        check(!decoder.next().has_value());  // sticky
        failed = true;
        break;
      }
      if (!*next) break;
      Message m = std::move(**next);

      // 2. Round trip.
      Bytes frame = encode_frame(m);
      check(frame.size() >= frame_header_size);
      auto again = decode_payload(frame_type(m), ByteView(frame).subspan(frame_header_size));
      check(again.has_value());
      check(encode_frame(*again) == frame);

      // 3. The server's handshake.
      switch (hs.state) {
        case Handshake::State::want_hello: {
          auto* hello = std::get_if<ClientHello>(&m);
          if (!hello || hello->version != protocol_version) {
            hs = Handshake{};  // the hub drops the connection; a new one starts over
            break;
          }
          hs.identity = hello->identity;
          hs.nonce.fill(++nonce_counter);
          hs.state = Handshake::State::want_answer;
          break;
        }
        case Handshake::State::want_answer: {
          auto* answer = std::get_if<AuthResponse>(&m);
          if (!answer) {
            hs = Handshake{};
            break;
          }
          Bytes binding = auth_binding("tcp", hs.identity, {});
          Mac right = compute_auth_mac(password, hs.nonce, binding);
          Mac mac = answer->mac;
          if (mac[0] == 0xAA) mac = right;  // lets the fuzzer reach the admitted path
          auto spent = budget.try_spend("fuzzer", now);
          if (spent.allowed) {
            bool ok = verify_auth_mac(password, hs.nonce, binding, mac);
            check(ok == (mac == right));
            if (ok) budget.refund("fuzzer", spent, now);
            else ++wrong_checked;
          }
          // 4. Frozen time: no more wrong answers checked than one source's burst.
          check(wrong_checked <= limits.per_source_burst);
          hs = Handshake{};
          break;
        }
        case Handshake::State::done:
          break;
      }
    }
  }
  return 0;
}
