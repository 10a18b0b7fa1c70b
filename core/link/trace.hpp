// KD traffic as readable lines (kdproxy --log, kdproxy decode): an I/O-free
// decoder fed the bytes of each direction with the time they were seen. It
// frames with wire::kdcom::Parser and decodes bodies with core/wire's dbgkd
// decoders; it never parses anything itself. One line a packet, framing event
// or link event, with the names the core uses (kdcom::to_string, api_name).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/wire/kdcom.hpp"

namespace openkd::link::trace {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

/// None: a line about the connection, not one direction's bytes (note() only).
enum class Direction { ToTarget = 0, ToDebugger = 1, None = 2 };
/// "dbg->tgt" / "tgt->dbg" / "--------".
const char* to_string(Direction d);

/// One packet without time or direction: its type, id and, for data packets,
/// what the body says ("StateManipulate id=80800000 ReadVirtualMemory
/// fffff800`00400000 L 0xf68 -> STATUS_SUCCESS"). Bodies that do not decode
/// say why ("undecodable: ..."). The direction tells a request from a reply.
std::string describe(const wire::kdcom::Packet& p, Direction d);
/// NTSTATUS / DBG_ status name for the values KD uses, else 0x%08x.
std::string status_name(std::uint32_t status);

struct Counters {
  std::uint64_t packets = 0, data_packets = 0, break_ins = 0, bad_checksum = 0, junk_runs = 0,
                framing_errors = 0, retransmissions = 0, resets = 0, resends = 0, decode_errors = 0,
                abandoned_bytes = 0;
  std::map<std::string, std::uint64_t> by_type;  // packet type name -> count
  std::map<std::string, std::uint64_t> by_api;   // manipulate requests by API name
};

struct Line {
  Duration at{};  // since the decoder's start
  Direction dir = Direction::ToTarget;
  std::string text;
};
/// "  12.345678 dbg->tgt TEXT".
std::string format(const Line& l);

class Decoder {
public:
  /// `partial_timeout`: a packet still incomplete after its direction was quiet
  /// this long is abandoned (as the link does: core/link/link_types.hpp).
  explicit Decoder(TimePoint start, std::chrono::milliseconds partial_timeout = std::chrono::milliseconds(500));
  Decoder(const Decoder&) = delete;  // the parsers' sinks point at it
  Decoder& operator=(const Decoder&) = delete;
  /// Bytes as delivered in one direction (KDCOM: any split); the lines they complete.
  std::vector<Line> push(Direction dir, wire::ByteView bytes, TimePoint now);
  /// One KD packet without its trailer (a KDNET data payload); the lines it gives.
  std::vector<Line> push_datagram(Direction dir, wire::ByteView packet, TimePoint now);
  /// Forgets partial packets and the last packet of each direction (a new connection).
  void reset();
  /// A line of the caller's own (a fault it injected, a connection event).
  Line note(Direction dir, std::string text, TimePoint now) const;
  const Counters& counters() const { return counters_; }
  /// The counters as a few lines ("packets 123 (StateManipulate 40, ...)").
  std::string summary() const;

private:
  struct Side {
    explicit Side(wire::kdcom::Parser::Sink sink) : parser(std::move(sink)) {}
    wire::kdcom::Parser parser;
    std::uint64_t bytes_since_event = 0;
    TimePoint last_bytes{};
    bool have_last = false;
    wire::kdcom::Packet last_data;  // for retransmission detection
  };
  void on_event(Direction dir, const wire::kdcom::FrameEvent& e);
  Line line(Direction dir, std::string text) const;
  TimePoint start_;
  std::chrono::milliseconds partial_timeout_;
  Counters counters_;
  std::array<std::unique_ptr<Side>, 2> sides_;
  std::unique_ptr<wire::kdcom::Parser> datagram_parser_;
  Direction datagram_dir_ = Direction::ToTarget;
  std::vector<Line>* out_ = nullptr;  // the call being served (push / push_datagram)
  TimePoint now_{};
};

}  // namespace openkd::link::trace
