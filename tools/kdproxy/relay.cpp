#include "relay.hpp"

#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "backends/stream.hpp"
#include "capture.hpp"
#include "kdnet_side.hpp"
#include "core/io/listener.hpp"
#include "core/io/pty.hpp"
#include "core/link/trace.hpp"

namespace openkd::kdproxy {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using link::trace::Direction;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

// Each read takes at most this much; a pump writes it all before it reads
// again, so at most one buffer per direction is held (the peers' own socket
// buffers hold the rest: back-pressure instead of an unbounded queue).
constexpr std::size_t kChunk = 64 * 1024;

struct Relay {
  const Options& o;
  std::FILE* log = nullptr;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> log_file{nullptr, std::fclose};
  std::unique_ptr<link::trace::Decoder> decoder;
  std::unique_ptr<PcapWriter> pcap;
  link::FaultInjector to_target, to_debugger;
  Clock::time_point start = Clock::now();
  std::string ended;  // why the session ended: the first pump to stop says

  explicit Relay(const Options& opts)
      : o(opts), to_target(opts.faults_to_target, 1), to_debugger(opts.faults_to_debugger, 2) {}

  void write_line(const link::trace::Line& l) {
    if (!log) return;
    std::fprintf(log, "%s\n", link::trace::format(l).c_str());
    std::fflush(log);
  }
  void note(Direction dir, std::string text) {
    if (decoder) write_line(decoder->note(dir, std::move(text), Clock::now()));
  }
  void event(std::string text) {
    std::fprintf(stderr, "kdproxy: %s\n", text.c_str());
    note(Direction::None, "link: " + text);
  }
};

// Faults as lines of the log: what the injector did to this chunk.
std::string fault_text(const link::FaultCounters& before, const link::FaultCounters& after, std::size_t size) {
  std::string s;
  if (after.dropped > before.dropped) s += " dropped";
  if (after.corrupted > before.corrupted) s += " corrupted";
  if (after.truncated > before.truncated) s += " truncated";
  if (after.duplicated > before.duplicated) s += " duplicated";
  if (s.empty()) return s;
  return "fault:" + s + " a chunk of " + std::to_string(size) + " bytes";
}

// A KDNET payload as the KDCOM packet it is (data packets get their 0xAA), so
// the pcap stays one KDCOM stream for kd.lua and `kdproxy decode`.
wire::Bytes as_kdcom(const wire::Bytes& payload) {
  wire::Bytes b = payload;
  if (b.size() >= 4 && b[0] == 0x30 && b[1] == 0x30 && b[2] == 0x30 && b[3] == 0x30) b.push_back(wire::kdcom::kTrailer);
  return b;
}

// Copies one direction until a read or a write fails; then closes both streams,
// which ends the other direction too. Returns why it ended.
asio::awaitable<std::string> pump(Relay& r, io::ByteStream& from, io::ByteStream& to, Direction dir) {
  std::vector<std::uint8_t> buf(kChunk);
  link::FaultInjector& faults = dir == Direction::ToTarget ? r.to_target : r.to_debugger;
  const link::FaultConfig& config = dir == Direction::ToTarget ? r.o.faults_to_target : r.o.faults_to_debugger;
  const char* from_name = dir == Direction::ToTarget ? "debugger" : "target";
  const char* to_name = dir == Direction::ToTarget ? "target" : "debugger";
  asio::steady_timer delay(co_await asio::this_coro::executor);
  std::string why;
  for (;;) {
    auto [ec, n] = co_await from.read_some(asio::buffer(buf));
    if (ec == io::StreamErrc::new_session) {  // KDNET: the peer began a new session; the stream goes on
      r.note(dir, std::string("link: the ") + from_name + " began a new KDNET session");
      continue;
    }
    if (ec) {
      why = ec == asio::error::eof ? std::string(from_name) + " closed the connection"
                                   : std::string(from_name) + ": " + ec.message();
      break;
    }
    wire::Bytes chunk(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<wire::Bytes> pieces;
    if (config.any()) {
      auto before = faults.counters();
      pieces = faults.apply(std::move(chunk));
      if (auto t = fault_text(before, faults.counters(), n); !t.empty()) r.note(dir, t);
      if (config.delay.count() > 0) {
        delay.expires_after(config.delay);
        co_await delay.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    } else {
      pieces.push_back(std::move(chunk));
    }
    error_code wec;
    const bool datagrams = from.preserves_boundaries();  // KDNET: one read, one KD packet without 0xAA
    for (auto& piece : pieces) {
      auto now = Clock::now();
      if (r.decoder)
        for (auto& l : datagrams ? r.decoder->push_datagram(dir, piece, now) : r.decoder->push(dir, piece, now))
          r.write_line(l);
      if (r.pcap) r.pcap->write(dir, datagrams ? as_kdcom(piece) : piece, std::chrono::system_clock::now());
      wec = co_await to.write_all(asio::buffer(piece));
      if (wec) break;
    }
    if (wec) {
      why = std::string(to_name) + ": " + wec.message();
      break;
    }
  }
  if (r.ended.empty()) r.ended = why;
  from.close();
  to.close();
  co_return why;
}

// The debugger's side: where it connects, or the device it talks through.
struct DebuggerSide {
  std::unique_ptr<KdnetTargetStream> kdnet;  // opened at start (bind errors show at once), then per session
  std::unique_ptr<io::Listener> listener;
  std::optional<io::PtyPair> pty;
  std::string where;
};

std::expected<DebuggerSide, std::string> open_debugger_side(asio::any_io_executor ex, const Options& o) {
  DebuggerSide d;
  using K = backends::ConnectSpec::Kind;
  if (o.listen_kdnet) {
    auto k = KdnetTargetStream::open(ex, *o.listen_kdnet);
    if (!k) return std::unexpected(k.error());
    d.where = "KDNET target " + (*k)->where();
    d.kdnet = std::move(*k);
  } else if (o.listen_pty) {
    auto p = io::open_pty_pair();
    if (!p) return std::unexpected("--listen pty: " + p.error());
    d.where = "pty " + p->slave_path;
    d.pty = std::move(*p);
  } else if (o.listen.kind == K::Pipe) {
    auto l = io::Listener::listen_unix(ex, o.listen.path, "pipe");
    if (!l) return std::unexpected("--listen: " + l.error());
    d.listener = std::move(*l);
    d.where = "pipe " + o.listen.path;
  } else if (o.listen.kind == K::TcpSerial) {
    io::TcpBind bind{o.listen.path == "localhost" ? "127.0.0.1" : o.listen.path, o.listen.port, o.listen.port,
                     io::Family::v4};
    auto l = io::Listener::listen_tcp(ex, bind, "tcp");
    if (!l) return std::unexpected("--listen: " + l.error());
    d.listener = std::move(*l);
    d.where = "tcp " + bind.host + ":" + std::to_string((*d.listener).port());
  } else {
    d.where = "serial " + o.listen.path;
  }
  return d;
}

// Waits for the next debugger (pipe, TCP) or opens its line (serial, pty).
asio::awaitable<std::expected<std::unique_ptr<io::ByteStream>, std::string>> next_debugger(DebuggerSide& d,
                                                                                           const Options& o) {
  auto ex = co_await asio::this_coro::executor;
  if (o.listen_kdnet) {
    if (d.kdnet) co_return std::unique_ptr<io::ByteStream>(std::move(d.kdnet));
    auto k = KdnetTargetStream::open(ex, *o.listen_kdnet);
    if (!k) co_return std::unexpected(k.error());
    co_return std::unique_ptr<io::ByteStream>(std::move(*k));
  }
  if (d.pty) {
    int fd = ::dup(d.pty->master.get());
    if (fd < 0) co_return std::unexpected("pty: " + std::string(std::strerror(errno)));
    co_return backends::stream_from_fd(ex, fd, d.where);
  }
  if (d.listener) {
    auto c = co_await d.listener->accept();
    if (!c) co_return std::unexpected("accept: " + c.error().message());
    co_return io::make_stream(std::move(*c));
  }
  co_return co_await backends::async_open_stream(o.listen);
}

}  // namespace

asio::awaitable<std::expected<void, std::string>> run_relay(const Options& o) {
  auto ex = co_await asio::this_coro::executor;
  Relay r(o);
  if (!o.log.empty()) {
    r.decoder = std::make_unique<link::trace::Decoder>(r.start);
    if (o.log == "-") {
      r.log = stdout;
    } else {
      r.log_file.reset(std::fopen(o.log.c_str(), "w"));
      if (!r.log_file) co_return std::unexpected("--log " + o.log + ": " + std::strerror(errno));
      r.log = r.log_file.get();
    }
  }
  if (!o.pcap.empty()) {
    auto w = PcapWriter::open(o.pcap);
    if (!w) co_return std::unexpected(w.error());
    r.pcap = std::move(*w);
  }
  auto side = open_debugger_side(ex, o);
  if (!side) co_return std::unexpected(side.error());
  std::fprintf(stderr, "kdproxy: debugger side %s, target %s\n", side->where.c_str(),
               backends::to_string(o.connect).c_str());
  std::fflush(stderr);

  // Ends the relay cleanly on SIGINT/SIGTERM: the counts go to the log.
  asio::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int) {
    if (ec) return;
    if (r.log && r.decoder) {
      std::fprintf(r.log, "%s\n", r.decoder->summary().c_str());
      std::fflush(r.log);
    }
    // main() runs the relay on an io_context.
    static_cast<asio::io_context&>(asio::query(ex, asio::execution::context)).stop();
  });

  asio::steady_timer wait(ex);
  for (;;) {
    auto dbg = co_await next_debugger(*side, o);
    if (!dbg) {
      r.event("debugger side: " + dbg.error() + " (trying again in a second)");
      wait.expires_after(std::chrono::seconds(1));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    (*dbg)->set_notice_sink([&r](std::string line, bool) { r.event("debugger side: " + line); });
    r.event("debugger " + (*dbg)->peer() + " connected");
    std::unique_ptr<io::ByteStream> target;
    bool told = false;
    for (;;) {
      auto t = co_await backends::async_open_stream(o.connect);
      if (t) {
        target = std::move(*t);
        break;
      }
      if (!told) r.event("target: " + t.error() + " (trying again every second)");
      told = true;
      wait.expires_after(std::chrono::seconds(1));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    target->set_notice_sink([&r](std::string line, bool) { r.event("target side: " + line); });
    r.event("target " + target->peer() + " connected");
    if (r.pcap) r.pcap->new_session();
    if (r.decoder) r.decoder->reset();
    r.ended.clear();
    co_await (pump(r, **dbg, *target, Direction::ToTarget) && pump(r, *target, **dbg, Direction::ToDebugger));
    r.event("session over: " + r.ended);
  }
}

}  // namespace openkd::kdproxy
