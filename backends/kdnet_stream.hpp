// KDNET for kd: the debugger's UDP socket and a link::kdnet::Endpoint behind
// io::ByteStream. It keeps datagram boundaries (one read_some = one data
// payload, one write_all = one datagram; preserves_boundaries()), answers the
// handshake itself, reports a target's new session as io::StreamErrc::new_session
// (the runner starts a fresh link on the same socket), and sends its notices
// (authentication failures, malformed datagrams, a restart) to the runner.
// The endpoint is driven from read_some, which the runner always has pending.
#pragma once
#include <boost/asio.hpp>
#include <expected>
#include <memory>
#include <string>

#include "backends/connect_string.hpp"
#include "core/io/byte_stream.hpp"

namespace openkd::backends {

/// Binds UDP `port` (on `bind=`, default all addresses) for the debugger role;
/// with `target=` it SOLICITs that host at the same port. One-line errors.
boost::asio::awaitable<std::expected<std::unique_ptr<io::ByteStream>, std::string>> async_open_kdnet(
    const ConnectSpec& spec);

/// A fresh key from OpenSSL's CSPRNG, as `w.x.y.z` (--new-kdnet-key).
std::expected<std::string, std::string> new_kdnet_key();

}  // namespace openkd::backends
