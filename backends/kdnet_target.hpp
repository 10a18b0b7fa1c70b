// The target side of KDNET over one UDP socket, for whatever drives a
// simulated target (kdsim --kdnet, Python's Simulator.listen("kdnet:...")):
// a non-blocking UDP socket bound to our address and port (the same port
// number as the debugger's, as Windows uses it) and a link::kdnet::Endpoint in
// the target role. It knows nothing of the simulator: payloads (KD packets)
// come out of take_payload(), frames go in through send(), one datagram each;
// the owner joins them to its simulator and polls fd() with next_deadline().
//
//   auto t = KdnetTarget::open(spec);        // binds; port 0 picks a free one
//   poll fd() until readable or next_deadline()
//   t->receive(now);                          // datagrams in, timers run
//   while (auto e = t->take_event()) ...      // SessionStarted{restart}: the stub starts afresh
//   while (auto p = t->take_payload()) sim.feed(*p, now);
//   for (auto& f : sim.take_output_frames(now)) t->send(f, now);
//
// Not thread-safe: one owner, or the owner's lock.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/io/pty.hpp"
#include "core/link/kdnet_endpoint.hpp"

namespace openkd::backends {

/// bcdedit /dbgsettings net's words as kdsim --kdnet takes them:
/// "hostip=IP,port=N,key=W.X.Y.Z[,bind=IP]". Every word is optional here; the
/// caller says which it requires.
struct KdnetTargetSpec {
  std::optional<std::uint16_t> port;  // 0: a free port (open() picks it)
  std::string key;                    // as given, checked; empty when not given
  std::uint32_t hostip = 0;           // the debugger's IPv4 (0: wait for a SOLICIT)
  std::optional<std::uint32_t> bind;  // our own IPv4 (none: the caller's default)
};

/// Parses the words; `what` prefixes the one-line errors ("--kdnet").
std::expected<KdnetTargetSpec, std::string> parse_kdnet_target(std::string_view text, std::string_view what);

class KdnetTarget {
public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  /// Binds UDP (spec.bind, default all addresses):spec.port and starts the
  /// endpoint (a POKE to hostip when given). `spec.key` must be set. Port 0
  /// binds a free port; with `also_free` (host byte order) it retries until
  /// that address has the same port free too (the debugger binds it on the
  /// same machine). One-line errors.
  static std::expected<std::unique_ptr<KdnetTarget>, std::string> open(
      const KdnetTargetSpec& spec, std::optional<std::uint32_t> also_free = std::nullopt);

  int fd() const { return socket_.get(); }
  /// Where we are bound (the port open() picked for port 0).
  const link::kdnet::Address& self() const { return self_; }
  /// The debugger POKEd (hostip), if any.
  std::optional<link::kdnet::Address> poke_target() const { return endpoint_->config().peer; }

  /// Reads the datagrams waiting on the socket (at most 512 a call, so the
  /// caller's emulation keeps its turn), runs due timers, sends what is due.
  void receive(TimePoint now);
  std::optional<link::kdnet::EndpointEvent> take_event() { return endpoint_->take_event(); }
  std::optional<wire::Bytes> take_payload() { return endpoint_->take_payload(); }
  /// One link frame as one data datagram (dropped before a session: the link retransmits).
  void send(wire::ByteView frame, TimePoint now);
  std::optional<TimePoint> next_deadline() const { return endpoint_->next_deadline(); }
  const link::kdnet::EndpointCounters& counters() const { return endpoint_->counters(); }
  /// "KDNET: N datagrams in, M out; ..." for a closing log line.
  std::string counters_line() const;

private:
  KdnetTarget(io::Fd socket, link::kdnet::Address self, const link::kdnet::EndpointConfig& config);
  void flush();
  io::Fd socket_;
  link::kdnet::Address self_;
  std::unique_ptr<link::kdnet::Endpoint> endpoint_;
  wire::Bytes buffer_;
};

}  // namespace openkd::backends
