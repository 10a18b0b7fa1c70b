// The -k transports as io::ByteStreams (core/io/byte_stream.hpp): Unix-socket
// pipes and TCP (dialed by core/io/listener.hpp), serial lines (libserialport)
// and pseudo-terminals (termios, paced like a UART: paced_stream.hpp),
// already-open descriptors (the embedded simulator's socketpair), and KDNET
// (kdnet_stream.hpp: UDP datagrams that keep their boundaries).
#pragma once
#include <boost/asio.hpp>
#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <tuple>

#include "backends/connect_string.hpp"
#include "core/io/byte_stream.hpp"

namespace openkd::backends {

namespace asio = boost::asio;
using boost::system::error_code;

using io::ByteStream;

/// How long dialing a pipe or TCP target may take.
inline constexpr std::chrono::seconds connect_timeout{10};

/// Opens the stream a ConnectSpec names (Pipe, Serial, TcpSerial, Net). The error is one line.
asio::awaitable<std::expected<std::unique_ptr<ByteStream>, std::string>> async_open_stream(const ConnectSpec& spec);

/// Wraps a connected descriptor (socketpair end, accepted socket) as a ByteStream; takes ownership.
std::unique_ptr<ByteStream> stream_from_fd(asio::any_io_executor ex, int fd, std::string description);

/// A fresh stream on a dup() of `fd` (which the caller keeps): how kd and the
/// Python API reopen the in-process simulator's socketpair end.
asio::awaitable<std::expected<std::unique_ptr<ByteStream>, std::string>> async_open_dup(int fd, std::string description);

/// Opens a serial device (libserialport) or pseudo-terminal (termios): raw,
/// 8N1, the given baud, no flow control, locked (backends/serial_port.hpp).
std::expected<int, std::string> open_serial_fd(const std::string& path, std::uint32_t baud);

}  // namespace openkd::backends
