// kdproxy's captures: writing the relayed KDCOM bytes as pcap (libpcap), and
// decoding a pcap/pcapng capture (libpcap reads both; gzip through zlib) of
// KDNET traffic or of kdproxy's own KDCOM captures.
//
// The envelope (libpcap 1.10 writes classic pcap only, so KDCOM travels in a
// synthetic Ethernet/IPv4/TCP stream): the debugger is 10.0.0.1, port 49152 +
// session number (each debugger connection is a TCP stream of its own), the
// target is 10.0.0.2, port 50000. dbg->tgt is debugger -> target port 50000.
// Sequence numbers count each direction's bytes, so Wireshark reassembles.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "core/link/trace.hpp"
#include "core/wire/bytes.hpp"

namespace openkd::kdproxy {

inline constexpr std::uint16_t kTargetPort = 50000;
inline constexpr std::uint16_t kFirstDebuggerPort = 49152;
inline constexpr std::uint16_t kKdnetPort = 50000;  // UDP: the debugger's usual KDNET port

class PcapWriter {
public:
  static std::expected<std::unique_ptr<PcapWriter>, std::string> open(const std::string& path);
  ~PcapWriter();
  /// A new debugger connection: a new TCP stream (new debugger port, sequence numbers from 1).
  void new_session();
  /// Bytes delivered in one direction at `when` (split into 1460-byte segments).
  void write(link::trace::Direction dir, wire::ByteView bytes, std::chrono::system_clock::time_point when);

private:
  PcapWriter() = default;
  void segment(link::trace::Direction dir, wire::ByteView bytes, std::chrono::system_clock::time_point when);
  struct Handles;
  std::unique_ptr<Handles> h_;
  std::uint16_t session_ = 0;
  std::uint32_t seq_[2] = {1, 1};
  std::uint16_t ip_id_ = 1;
};

/// `kdproxy decode`: prints every line to `log` (stdout when "-" or empty) and
/// the counts at the end; the error is one line (unreadable file, bad key).
std::expected<void, std::string> decode_capture(const std::string& path, const std::string& key,
                                                const std::string& log);

}  // namespace openkd::kdproxy
