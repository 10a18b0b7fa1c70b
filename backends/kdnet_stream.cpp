#include "backends/kdnet_stream.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/link/kdnet_endpoint.hpp"
#include "core/wire/kdnet.hpp"

namespace openkd::backends {
namespace {

namespace asio = boost::asio;
namespace kn = link::kdnet;
using namespace asio::experimental::awaitable_operators;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

// The endpoint's randomness: OpenSSL's CSPRNG. Handshake bytes must never be
// predictable, so a CSPRNG that fails ends the process rather than go on.
void csprng_fill(std::span<std::uint8_t> out) {
  if (!wire::kdnet::random_bytes(out.data(), out.size())) {
    std::fputs("kd: OpenSSL's RAND_bytes failed: cannot make KDNET handshake bytes\n", stderr);
    std::abort();
  }
}

class KdnetStream final : public io::ByteStream {
public:
  KdnetStream(udp::socket socket, kn::EndpointConfig config)
      : socket_(std::move(socket)),
        endpoint_(std::move(config), csprng_fill),
        timer_(socket_.get_executor()),
        receive_(65536) {
    endpoint_.start(Clock::now());
  }

  asio::awaitable<io::ReadResult> read_some(asio::mutable_buffer buf) override {
    for (;;) {
      if (closed_) co_return io::ReadResult{io::error_code(asio::error::operation_aborted), std::size_t{0}};
      handle_events();
      flush();
      if (new_session_) {
        new_session_ = false;
        co_return io::ReadResult{io::error_code(io::StreamErrc::new_session), std::size_t{0}};
      }
      if (auto p = endpoint_.take_payload()) {
        if (p->size() > buf.size()) continue;  // cannot happen: the endpoint refuses payloads over 4016 bytes
        std::memcpy(buf.data(), p->data(), p->size());
        co_return io::ReadResult{io::error_code{}, p->size()};
      }
      auto deadline = endpoint_.next_deadline();
      timer_.expires_at(deadline ? *deadline : asio::steady_timer::time_point::max());
      udp::endpoint from;
      auto r = co_await (socket_.async_receive_from(asio::buffer(receive_), from, asio::as_tuple(asio::use_awaitable)) ||
                         timer_.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (closed_) co_return io::ReadResult{io::error_code(asio::error::operation_aborted), std::size_t{0}};
      const auto now = Clock::now();
      if (r.index() == 0) {
        auto [ec, n] = std::get<0>(r);
        if (ec == asio::error::connection_refused || ec == asio::error::connection_reset) continue;  // ICMP
        if (ec) co_return io::ReadResult{ec, std::size_t{0}};
        if (from.address().is_v4())
          endpoint_.on_datagram(wire::ByteView(receive_.data(), n),
                                kn::Address{from.address().to_v4().to_uint(), from.port()}, now);
      }
      // Under steady traffic the timer may never win the race: run it when due.
      if (auto d = endpoint_.next_deadline(); d && now >= *d) endpoint_.on_timer(now);
    }
  }

  asio::awaitable<io::error_code> write_all(asio::const_buffer buf) override {
    if (closed_) co_return asio::error::operation_aborted;
    // Without a session the frame is dropped (counted): the link retransmits.
    endpoint_.send_data(wire::ByteView(static_cast<const std::uint8_t*>(buf.data()), buf.size()), Clock::now());
    flush();
    co_return io::error_code{};
  }

  void close() override {
    closed_ = true;
    io::error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  std::string peer() const override {
    if (auto p = endpoint_.peer()) return "kdnet " + kn::to_string(*p);
    return fmt::format("kdnet udp port {} (waiting for a target)", endpoint_.config().self.port);
  }
  bool preserves_boundaries() const override { return true; }
  void set_notice_sink(io::TransportNotice sink) override { sink_ = std::move(sink); }

  std::string statistics() const override {
    const auto& c = endpoint_.counters();
    return fmt::format(
        "KDNET: {} datagrams in, {} out; {} authentication failures, {} malformed, {} not KDNET, {} replays "
        "dropped; {} sessions, {} target restarts",
        c.datagrams_received, c.datagrams_sent, c.auth_failures, c.malformed, c.not_kdnet, c.replays_dropped,
        c.sessions, c.restarts);
  }

private:
  void notice(std::string line, bool connection) {
    if (sink_) sink_(std::move(line), connection);
  }

  void handle_events() {
    while (auto e = endpoint_.take_event()) {
      if (auto* s = std::get_if<kn::SessionStarted>(&*e)) {
        new_session_ = true;
        if (s->restart)
          notice(fmt::format("KDNET: the target at {} restarted: a new session begins", kn::to_string(s->peer)), true);
        else
          notice(fmt::format("KDNET: connected to the target at {}", kn::to_string(s->peer)), false);
      } else {
        notice(kn::describe(*e), true);  // authentication failures and bad datagrams: always shown
      }
    }
  }

  void flush() {
    while (auto d = endpoint_.take_datagram()) {
      io::error_code ec;
      socket_.send_to(asio::buffer(d->bytes), udp::endpoint(asio::ip::address_v4(d->to.ipv4), d->to.port), 0, ec);
      // A datagram the kernel refuses is lost like one the network drops: the link retransmits.
    }
  }

  udp::socket socket_;
  kn::Endpoint endpoint_;
  asio::steady_timer timer_;
  std::vector<std::uint8_t> receive_;
  io::TransportNotice sink_;
  bool new_session_ = false;
  bool closed_ = false;
};

}  // namespace

asio::awaitable<std::expected<std::unique_ptr<io::ByteStream>, std::string>> async_open_kdnet(const ConnectSpec& spec) {
  using Result = std::expected<std::unique_ptr<io::ByteStream>, std::string>;
  auto ex = co_await asio::this_coro::executor;
  auto key = wire::kdnet::parse_key(spec.key);
  if (!key) co_return Result(std::unexpect, fmt::format("bad KDNET key: {}", key.error().message));
  kn::EndpointConfig config;
  config.role = kn::Role::Debugger;
  config.key = *key;
  std::uint32_t bind_ip = 0;
  if (!spec.bind.empty()) {
    auto ip = kn::parse_ipv4(spec.bind);
    if (!ip) co_return Result(std::unexpect, fmt::format("'bind={}' is not an IPv4 address", spec.bind));
    bind_ip = *ip;
  }
  config.self = kn::Address{bind_ip, spec.port};
  if (!spec.target.empty()) {
    std::uint32_t target_ip = 0;
    if (auto ip = kn::parse_ipv4(spec.target)) {
      target_ip = *ip;
    } else {
      udp::resolver resolver(ex);
      auto [ec, results] = co_await resolver.async_resolve(udp::v4(), spec.target, std::to_string(spec.port),
                                                            asio::as_tuple(asio::use_awaitable));
      if (ec || results.empty())
        co_return Result(std::unexpect, fmt::format("cannot resolve target '{}': {}", spec.target,
                                                    ec ? ec.message() : "no IPv4 address"));
      target_ip = results.begin()->endpoint().address().to_v4().to_uint();
    }
    config.peer = kn::Address{target_ip, spec.port};
  }
  udp::socket socket(ex);
  io::error_code ec;
  socket.open(udp::v4(), ec);
  if (!ec) socket.bind(udp::endpoint(asio::ip::address_v4(bind_ip), spec.port), ec);
  // Sends never wait: a datagram the kernel cannot take now is lost like one
  // the network drops, and the link retransmits.
  if (!ec) socket.non_blocking(true, ec);
  if (ec)
    co_return Result(std::unexpect, fmt::format("cannot listen for KDNET on UDP {}:{}: {}",
                                                asio::ip::address_v4(bind_ip).to_string(), spec.port, ec.message()));
  co_return std::make_unique<KdnetStream>(std::move(socket), std::move(config));
}

std::expected<std::string, std::string> new_kdnet_key() {
  auto k = wire::kdnet::random_key();
  if (!k) return std::unexpected(std::string("OpenSSL's RAND_bytes failed: no key made"));
  return wire::kdnet::format_key(*k);
}

}  // namespace openkd::backends
