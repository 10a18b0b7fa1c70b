// kdproxy's KDNET target role toward a debugger (--listen kdnet:...): the
// backends' KdnetTarget (a UDP socket and a target-role link::kdnet::Endpoint,
// I/O-free inside) behind io::ByteStream, so the relay's pumps run over it as
// over any stream. One read_some is one KD packet (a decrypted payload), one
// write_all sends one packet as one datagram.
#pragma once
#include <boost/asio.hpp>
#include <expected>
#include <memory>
#include <string>

#include "backends/kdnet_target.hpp"
#include "core/io/byte_stream.hpp"

namespace openkd::kdproxy {

class KdnetTargetStream final : public io::ByteStream {
public:
  static std::expected<std::unique_ptr<KdnetTargetStream>, std::string> open(boost::asio::any_io_executor ex,
                                                                             const backends::KdnetTargetSpec& spec);
  boost::asio::awaitable<io::ReadResult> read_some(boost::asio::mutable_buffer buf) override;
  boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::const_buffer buf) override;
  void close() override;
  std::string peer() const override;
  bool preserves_boundaries() const override { return true; }
  void set_notice_sink(io::TransportNotice sink) override { notice_ = std::move(sink); }
  std::string statistics() const override { return target_->counters_line(); }
  /// "udp:127.0.0.2:50000, POKEing the debugger at 127.0.0.1:50000".
  std::string where() const;

private:
  KdnetTargetStream(boost::asio::any_io_executor ex, std::unique_ptr<backends::KdnetTarget> t, int fd);
  std::unique_ptr<backends::KdnetTarget> target_;
  boost::asio::posix::stream_descriptor readable_;  // a dup of the socket, only waited on
  boost::asio::steady_timer timer_;
  io::TransportNotice notice_;
  std::string debugger_ = "KDNET debugger (no session yet)";
  bool closed_ = false;
};

}  // namespace openkd::kdproxy
