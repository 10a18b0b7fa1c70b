#include "remote/com_line.hpp"

#include "backends/stream.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <fmt/format.h>
#include <mutex>

namespace openkd::remote {

Bytes encode_com_envelope(ComEnvelopeType type, std::uint8_t channel, ByteView payload) {
  Bytes out;
  wire::Writer w(out);
  w.u8(com_envelope_magic).u8(static_cast<std::uint8_t>(type)).u8(channel);
  w.u16(static_cast<std::uint16_t>(payload.size())).bytes(payload);
  std::uint8_t sum = 0;
  for (std::size_t i = 1; i < out.size(); ++i) sum = static_cast<std::uint8_t>(sum + out[i]);
  w.u8(sum);
  return out;
}

std::vector<ComEnvelope> take_com_envelopes(Bytes& buf) {
  std::vector<ComEnvelope> out;
  std::size_t pos = 0;
  constexpr std::size_t header = 5;
  while (pos < buf.size()) {
    if (buf[pos] != com_envelope_magic) { ++pos; continue; }
    if (buf.size() - pos < header) break;
    std::uint8_t type = buf[pos + 1];
    std::size_t length = buf[pos + 3] | (std::size_t(buf[pos + 4]) << 8);
    if (type < 1 || type > 3 || length > com_max_payload) { ++pos; continue; }
    if (buf.size() - pos < header + length + 1) break;
    std::uint8_t sum = 0;
    for (std::size_t i = pos + 1; i < pos + header + length; ++i) sum = static_cast<std::uint8_t>(sum + buf[i]);
    if (sum != buf[pos + header + length]) { ++pos; continue; }
    ComEnvelope env{static_cast<ComEnvelopeType>(type), buf[pos + 2],
                    Bytes(buf.begin() + static_cast<std::ptrdiff_t>(pos + header),
                          buf.begin() + static_cast<std::ptrdiff_t>(pos + header + length))};
    out.push_back(std::move(env));
    pos += header + length + 1;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
  return out;
}

class ComChannelStream final : public io::ByteStream {
public:
  ComChannelStream(std::shared_ptr<ComLine> line, std::uint8_t channel, asio::any_io_executor ex)
      : line_(std::move(line)), channel_(channel), signal_(ex) {}
  ~ComChannelStream() override { close(); }

  asio::awaitable<io::ReadResult> read_some(asio::mutable_buffer buf) override {
    while (in_.empty() && !eof_) {
      signal_.expires_at(asio::steady_timer::time_point::max());
      co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (in_.empty()) co_return io::ReadResult{asio::error::eof, 0};
    std::size_t n = std::min(buf.size(), in_.size());
    auto* p = static_cast<std::uint8_t*>(buf.data());
    std::copy(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n), p);
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n));
    co_return io::ReadResult{error_code{}, n};
  }
  asio::awaitable<error_code> write_all(asio::const_buffer buf) override {
    auto* p = static_cast<const std::uint8_t*>(buf.data());
    std::size_t left = buf.size();
    while (left > 0) {
      if (eof_) co_return asio::error::broken_pipe;
      std::size_t n = std::min(left, com_max_payload);
      Bytes env = encode_com_envelope(ComEnvelopeType::data, channel_, ByteView(p, n));
      auto ec = co_await line_->send(std::move(env));
      if (ec) co_return ec;
      p += n;
      left -= n;
    }
    co_return error_code{};
  }
  void close() override {
    if (closed_) return;
    closed_ = true;
    bool was_open = !eof_;
    end();
    line_->detach(this);
    if (was_open) {
      // Best effort: the peer learns the session ended without waiting for a keepalive timeout.
      post_envelope(encode_com_envelope(ComEnvelopeType::close, channel_, {}));
    }
  }
  std::string peer() const override { return fmt::format("com {} channel {}", line_->device(), channel_); }
  bool needs_keepalive_timeout() const override { return true; }

  void deliver(const Bytes& b) { in_.insert(in_.end(), b.begin(), b.end()); signal_.cancel(); }
  void end() { eof_ = true; signal_.cancel(); }
  void send_open() { post_envelope(encode_com_envelope(ComEnvelopeType::open, channel_, {})); }

private:
  // The lambda owns the line, so the envelope goes out even if this stream is gone by then.
  void post_envelope(Bytes env) {
    asio::co_spawn(
        signal_.get_executor(),
        [line = line_, env = std::move(env)]() -> asio::awaitable<void> { co_await line->send(env); },
        asio::detached);
  }

  std::shared_ptr<ComLine> line_;
  std::uint8_t channel_;
  asio::steady_timer signal_;
  std::deque<std::uint8_t> in_;
  bool eof_ = false;
  bool closed_ = false;
};

namespace {

std::mutex lines_mutex;
std::map<std::string, std::weak_ptr<ComLine>> open_lines;

}  // namespace

std::expected<std::shared_ptr<ComLine>, std::string> ComLine::open(asio::any_io_executor ex,
                                                                 const std::string& device,
                                                                 std::uint32_t baud) {
  std::lock_guard g(lines_mutex);
  if (auto it = open_lines.find(device); it != open_lines.end())
    if (auto line = it->second.lock()) return line;
  // One termios set-up for every serial user (backends/stream.cpp): raw mode
  // so no byte is translated or swallowed (libserialport cannot open ptys).
  auto opened = backends::open_serial_fd(device, baud);
  if (!opened) return std::unexpected(opened.error());
  int fd = *opened;
  auto line = std::shared_ptr<ComLine>(new ComLine(asio::posix::stream_descriptor(ex, fd), device));
  open_lines[device] = line;
  return line;
}

ComLine::ComLine(asio::posix::stream_descriptor fd, std::string device)
    : fd_(std::move(fd)), device_(std::move(device)), drained_(fd_.get_executor()) {}

ComLine::~ComLine() {
  std::lock_guard g(lines_mutex);
  if (auto it = open_lines.find(device_); it != open_lines.end() && it->second.expired()) open_lines.erase(it);
}

void ComLine::close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  fd_.close(ec);
  for (auto& [ch, s] : active_) s->end();
  for (auto& [ch, t] : accept_signal_) t->cancel();
  drained_.cancel();
}

void ComLine::start_reader() {
  if (reader_started_) return;
  reader_started_ = true;
  asio::co_spawn(fd_.get_executor(), [self = shared_from_this()] { return self->read_loop(); }, asio::detached);
}

asio::awaitable<void> ComLine::read_loop() {
  std::array<std::uint8_t, 4096> buf{};
  Bytes rx;
  while (!closed_) {
    auto [ec, n] = co_await fd_.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec) break;
    rx.insert(rx.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    for (auto& env : take_com_envelopes(rx)) dispatch(std::move(env));
    if (rx.size() > 4 * com_max_payload) rx.clear();  // unreachable with a correct take; bounds memory anyway
  }
  close();
}

void ComLine::dispatch(ComEnvelope env) {
  auto active = active_.find(env.channel);
  switch (env.type) {
    case ComEnvelopeType::open: {
      auto sig = accept_signal_.find(env.channel);
      if (sig == accept_signal_.end()) return;  // nobody serves this channel here
      if (active != active_.end()) {
        // A new open on a busy channel means the old client is gone (serial lines never hang up).
        active->second->end();
        active_.erase(active);
      }
      // Active at once: the client's first frames often arrive in the same read
      // as the open, before accept() has taken the stream.
      auto stream = std::make_unique<ComChannelStream>(shared_from_this(), env.channel, fd_.get_executor());
      active_[env.channel] = stream.get();
      pending_[env.channel].push_back(std::move(stream));
      sig->second->cancel();
      return;
    }
    case ComEnvelopeType::data:
      if (active != active_.end()) active->second->deliver(env.payload);
      return;
    case ComEnvelopeType::close:
      if (active != active_.end()) {
        active->second->end();
        active_.erase(active);
      }
      return;
  }
}

asio::awaitable<std::expected<std::unique_ptr<io::ByteStream>, error_code>> ComLine::accept(std::uint8_t channel) {
  auto& sig = accept_signal_[channel];
  if (!sig) sig = std::make_shared<asio::steady_timer>(fd_.get_executor());
  auto keep = sig;
  start_reader();
  while (true) {
    if (closed_ || !accept_signal_.contains(channel)) co_return std::unexpected(error_code(asio::error::operation_aborted));
    auto& q = pending_[channel];
    if (!q.empty()) {
      std::unique_ptr<ComChannelStream> s = std::move(q.front());
      q.pop_front();
      co_return std::unique_ptr<io::ByteStream>(std::move(s));
    }
    keep->expires_at(asio::steady_timer::time_point::max());
    co_await keep->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void ComLine::stop_accepting(std::uint8_t channel) {
  if (auto it = accept_signal_.find(channel); it != accept_signal_.end()) {
    it->second->cancel();
    accept_signal_.erase(it);
  }
  pending_.erase(channel);
}

std::unique_ptr<io::ByteStream> ComLine::connect(std::uint8_t channel) {
  auto s = std::make_unique<ComChannelStream>(shared_from_this(), channel, fd_.get_executor());
  if (auto it = active_.find(channel); it != active_.end()) it->second->end();
  active_[channel] = s.get();
  s->send_open();
  start_reader();
  return s;
}

void ComLine::detach(ComChannelStream* s) {
  for (auto it = active_.begin(); it != active_.end(); ++it)
    if (it->second == s) { active_.erase(it); return; }
}

asio::awaitable<error_code> ComLine::send(Bytes envelope) {
  if (closed_) co_return asio::error::broken_pipe;
  out_bytes_ += envelope.size();
  out_.push_back(std::move(envelope));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(fd_.get_executor(), [self = shared_from_this()] { return self->write_loop(); }, asio::detached);
  }
  // Backpressure: a slow line holds writers back instead of growing without bound.
  while (out_bytes_ > 64 * 1024 && !closed_) {
    drained_.expires_at(asio::steady_timer::time_point::max());
    co_await drained_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return closed_ ? error_code(asio::error::broken_pipe) : error_code{};
}

asio::awaitable<void> ComLine::write_loop() {
  while (!out_.empty() && !closed_) {
    Bytes b = std::move(out_.front());
    out_.pop_front();
    auto [ec, n] = co_await asio::async_write(fd_, asio::buffer(b), asio::as_tuple(asio::use_awaitable));
    out_bytes_ -= b.size();
    drained_.cancel();
    if (ec) { close(); break; }
  }
  writing_ = false;
}

}  // namespace openkd::remote
