// libFuzzer target for every DBGKD, CONTEXT and KSPECIAL_REGISTERS decoder.
// Whatever decodes must re-encode to bytes that decode to an equal value, and
// encoding that value again must give the same bytes (the encoding is canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/wire/context.hpp"
#include "core/wire/dbgkd.hpp"
#include "core/wire/kdcom.hpp"

namespace wire = openkd::wire;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

template <class Decode>
void round_trip(wire::ByteView input, Decode decode) {
  auto first = decode(input);
  if (!first) {
    check(!first.error().message.empty() && first.error().message.find('\n') == std::string::npos);
    return;
  }
  const wire::Bytes encoded = wire::encode(*first);
  auto second = decode(encoded);
  check(second.has_value());
  check(*second == *first);
  check(wire::encode(*second) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Copy into a buffer of exactly `size` bytes so an over-read is an ASan report.
  const wire::Bytes buffer(data, data + size);
  const wire::ByteView input(buffer);
  round_trip(input, [](wire::ByteView b) { return wire::decode_manipulate(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_state_change(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_debug_io(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_file_io(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_trace_io(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_control_request(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_context(b); });
  round_trip(input, [](wire::ByteView b) { return wire::decode_special_registers(b); });
  if (auto name = wire::api_name(size >= 4 ? buffer[0] | buffer[1] << 8 | buffer[2] << 16 | std::uint32_t(buffer[3]) << 24 : 0))
    check(!name->empty());
  (void)wire::kdcom::decode_header(input);
  return 0;
}
