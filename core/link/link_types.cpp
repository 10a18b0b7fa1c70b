// Log lines for link events.
#include "core/link/link_types.hpp"

#include <cstdio>

namespace openkd::link {

namespace {
std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;
}  // namespace

std::string describe(const LinkEvent& event) {
  using wire::kdcom::to_string;
  return std::visit(
      Overloaded{
          [](const PacketReceived& e) {
            return "PacketReceived type=" + std::string(to_string(e.packet.type)) + " id=" + hex32(e.packet.id) +
                   " bytes=" + std::to_string(e.packet.body.size());
          },
          [](const SendComplete& e) {
            return "SendComplete type=" + std::string(to_string(e.type)) + " id=" + hex32(e.id);
          },
          [](const BreakInReceived&) { return std::string("BreakInReceived"); },
          [](const ResetReceived&) { return std::string("ResetReceived"); },
          [](const Synchronized& e) {
            const char* by = e.by == Synchronized::By::ResetAnswer  ? "reset-answer"
                             : e.by == Synchronized::By::SyncPacket ? "sync-packet"
                                                                    : "first-packet";
            return std::string("Synchronized by=") + by;
          },
          [](const Retransmitted& e) {
            return "Retransmitted id=" + hex32(e.id) + " attempt=" + std::to_string(e.attempt) +
                   (e.requested ? " (requested)" : " (timeout)");
          },
          [](const PeerGone& e) { return "PeerGone dropped=" + std::to_string(e.dropped); },
          [](const FramingError& e) {
            return "FramingError " + std::string(to_string(e.error)) + " expected=" + hex32(e.expected) +
                   " got=" + hex32(e.got);
          },
      },
      event);
}

std::string_view to_string(SendError e) {
  switch (e) {
    case SendError::NotADataType: return "not a data packet type";
    case SendError::BodyTooLarge: return "body over 4000 bytes";
  }
  return "?";
}

}  // namespace openkd::link
