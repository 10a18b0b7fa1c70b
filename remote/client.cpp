#include "remote/client.hpp"

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <deque>
#include <thread>

#include "remote/auth.hpp"
#include "remote/com_line.hpp"
#include "remote/framed_stream.hpp"
#include "remote/host_info.hpp"
#include "remote/tls.hpp"
#include "remote/transport.hpp"

namespace openkd::remote {

using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {

constexpr char ctrl_b = 0x02;
constexpr auto serial_silence_limit = 8s;

void write_fd(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool is_local_host(std::string_view h) {
  return h.empty() || h == "." || h == "localhost" || h == "127.0.0.1" || h == "::1" || h == host_name();
}

/// Puts the terminal in a mode where Ctrl-B ends the line at once (VEOL), so
/// it reaches us without Enter; line editing and echo stay as they were.
class TerminalMode {
public:
  explicit TerminalMode(int fd, bool enable) : fd_(fd) {
    if (!enable || ::tcgetattr(fd, &saved_) != 0) return;
    termios t = saved_;
    t.c_cc[VEOL] = ctrl_b;
    active_ = ::tcsetattr(fd, TCSANOW, &t) == 0;
  }
  ~TerminalMode() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

/// Reads input on its own thread (any fd: terminal, pipe or file) and hands
/// lines to the I/O thread. A wake pipe ends it.
class InputReader {
public:
  template <class OnLine, class OnEof>
  InputReader(int fd, OnLine on_line, OnEof on_eof) {
    if (::pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
    thread_ = std::thread([this, fd, on_line, on_eof] {
      std::string pending;
      char buf[4096];
      while (true) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
          if (errno == EINTR) continue;
          break;
        }
        if (fds[1].revents) return;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
        std::size_t pos;
        while ((pos = pending.find_first_of(std::string_view("\n\x02", 2))) != std::string::npos) {
          std::string line = pending.substr(0, pos + 1);
          pending.erase(0, pos + 1);
          on_line(std::move(line));
        }
      }
      if (!pending.empty()) on_line(std::move(pending));
      on_eof();
    });
  }
  ~InputReader() {
    if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
    if (thread_.joinable()) thread_.join();
    for (int fd : wake_)
      if (fd >= 0) ::close(fd);
  }

private:
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

class Client {
public:
  Client(asio::io_context& io, const TransportSpec& spec, const ClientOptions& opt)
      : io_(io), spec_(spec), opt_(opt), wake_writer_(io) {
    terminal_ = opt.terminal.value_or(::isatty(opt.input_fd) == 1);
  }

  bool terminal() const { return terminal_; }
  int status() const { return status_; }

  asio::awaitable<void> run() {
    auto stream = co_await connect();
    if (!stream) {
      fail(stream.error());
      co_return;
    }
    framed_ = std::make_unique<FramedStream>(std::move(*stream));
    if (!co_await handshake()) co_return;
    connected_ = true;
    if (input_done_ && outstanding_ == 0) leave();
    asio::co_spawn(io_, writer(), asio::detached);
    asio::co_spawn(io_, keepalive(), asio::detached);
    co_await reader();
  }

  void on_input_line(std::string line) {
    if (finished_) return;
    bool leave_key = !line.empty() && line.back() == ctrl_b;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ctrl_b)) line.pop_back();
    if (leave_key) {
      leave();
      return;
    }
    if (line == ".remote_exit") {
      // Leave once the commands sent before it have finished, so a piped
      // script sees their output (`printf 'r\n.remote_exit\n' | kd -remote ...`).
      on_input_eof();
      exiting_ = true;
      return;
    }
    if (exiting_) return;
    if (!connected_) {
      early_.push_back(std::move(line));
      return;
    }
    ++outstanding_;
    send(Command{std::move(line)});
  }
  void on_input_eof() {
    input_done_ = true;
    if (connected_ && outstanding_ == 0 && early_.empty()) leave();
  }
  void on_interrupt() {
    if (connected_) send(BreakRequest{});
  }

private:
  asio::awaitable<Connected> connect() {
    std::shared_ptr<asio::ssl::context> tls;
    if (spec_.is_tls()) {
      auto ctx = make_client_tls_context(spec_);
      if (!ctx) co_return std::unexpected(ctx.error());
      tls = *ctx;
    }
    if (spec_.kind == TransportKind::com) {
      auto line = ComLine::open(io_.get_executor(), spec_.device, spec_.baud);
      if (!line) co_return std::unexpected(line.error());
      com_ = *line;
      co_return com_->connect(spec_.channel);
    }
    if (spec_.is_pipe()) {
      if (!is_local_host(spec_.server))
        co_return std::unexpected(fmt::format("a pipe reaches this machine only, not '{}'", spec_.server));
      std::filesystem::path path = pipe_path(spec_.pipe);
      std::string no_host;
      auto raw = co_await io::dial_unix(path, "npipe", opt_.connect_timeout);
      if (!raw) co_return std::unexpected(raw.error());
      co_return co_await secure_as_client(std::move(*raw), spec_, tls, no_host);
    }
    std::string host = spec_.reverse() ? spec_.clicon : spec_.server;
    if (spec_.reverse()) {
      // clicon: we listen, the server dials us.
      io::TcpBind bind{"", spec_.port_lo, spec_.port_lo, spec_.ipv6 ? io::Family::v6 : io::Family::v4};
      auto listener = io::Listener::listen_tcp(io_.get_executor(), bind);
      if (!listener)
        co_return std::unexpected(fmt::format("cannot listen on port {} for the server: {}", spec_.port_lo, listener.error()));
      auto accepted = co_await (*listener)->accept();
      if (!accepted) co_return std::unexpected(fmt::format("waiting for the server failed: {}", accepted.error().message()));
      io::Connection raw{std::move(accepted->socket), fmt::format("tcp {}", host)};
      std::string check_host = tls ? host : "";
      co_return co_await secure_as_client(std::move(raw), spec_, tls, check_host);
    }
    auto raw = co_await io::dial_tcp(host, spec_.port_lo, spec_.ipv6 ? io::Family::v6 : io::Family::v4, opt_.connect_timeout);
    if (!raw) co_return std::unexpected(raw.error());
    co_return co_await secure_as_client(std::move(*raw), spec_, tls, host);
  }

  asio::awaitable<bool> handshake() {
    std::string identity = opt_.identity.empty() ? local_identity() : opt_.identity;
    // Named locals, not temporaries, in co_await expressions: g++ 12 can
    // destroy such temporaries twice.
    Message hello_msg = ClientHello{protocol_version, identity};
    auto hello_ec = co_await framed_->write(hello_msg);
    if (hello_ec) {
      fail("the server closed the connection");
      co_return false;
    }
    // The server may hold its answer back after failed passwords (up to 8 s).
    auto sh = co_await framed_->read(30s);
    if (!sh) {
      fail(sh.error().kind == ReadFailure::malformed ? "not an openkd server: " + sh.error().message
                                                     : "the server closed the connection during the handshake");
      co_return false;
    }
    if (!std::holds_alternative<ServerHello>(*sh)) {
      report_unexpected(*sh);
      co_return false;
    }
    auto hello = std::get<ServerHello>(*sh);
    if (hello.auth_required) {
      if (!spec_.password) {
        fail("the server requires a password (add password=... to the transport)");
        framed_->close();
        co_return false;
      }
      Bytes binding = auth_binding(kind_name(spec_.kind), identity, framed_->stream().tls_exporter());
      Message answer = AuthResponse{compute_auth_mac(*spec_.password, hello.nonce, binding)};
      auto answer_ec = co_await framed_->write(answer);
      if (answer_ec) {
        fail("the server closed the connection");
        co_return false;
      }
    }
    auto welcome = co_await framed_->read(30s);
    if (!welcome) {
      fail("the server closed the connection during the handshake");
      co_return false;
    }
    if (auto* w = std::get_if<Welcome>(&*welcome)) {
      prompt_ = w->prompt;
      if (terminal_ && !prompt_.empty()) write_fd(opt_.output_fd, prompt_);
      for (auto& line : early_) {
        ++outstanding_;
        send(Command{std::move(line)});
      }
      early_.clear();
      co_return true;
    }
    report_unexpected(*welcome);
    co_return false;
  }

  void report_unexpected(const Message& m) {
    if (auto* r = std::get_if<Rejected>(&m)) fail(r->reason);
    else if (auto* e = std::get_if<ProtocolError>(&m)) fail("server error: " + e->message);
    else fail(fmt::format("unexpected frame type {} during the handshake", static_cast<int>(frame_type(m))));
    framed_->close();
  }

  asio::awaitable<void> reader() {
    std::optional<std::chrono::milliseconds> silence;
    if (framed_->stream().needs_keepalive_timeout()) silence = serial_silence_limit;
    while (!finished_) {
      auto m = co_await framed_->read(silence);
      if (!m) {
        if (!finished_) {
          fail(m.error().kind == ReadFailure::malformed ? "malformed frame from the server: " + m.error().message
                                                        : "lost the connection to the server");
        }
        break;
      }
      if (auto* o = std::get_if<Output>(&*m)) {
        write_fd(opt_.output_fd, o->text);
      } else if (auto* e = std::get_if<CommandEcho>(&*m)) {
        if (!(e->own && terminal_)) write_fd(opt_.output_fd, e->text + "\n");
      } else if (auto* p = std::get_if<Prompt>(&*m)) {
        prompt_ = p->text;
        if (terminal_) write_fd(opt_.output_fd, prompt_);
      } else if (std::holds_alternative<CommandDone>(*m)) {
        if (outstanding_ > 0) --outstanding_;
        if (input_done_ && outstanding_ == 0) leave();
      } else if (auto* b = std::get_if<Bye>(&*m)) {
        if (b->reason == ByeReason::too_slow) {
          fail(b->message);
        } else if (b->reason == ByeReason::client_leaving) {
          // The server let this client go (its q): the session goes on without it.
          write_fd(opt_.output_fd, fmt::format("openkd: {}\n", b->message.empty() ? "left the session" : b->message));
          finish(0);
        } else {
          write_fd(opt_.output_fd, fmt::format("openkd: the debugging session has ended{}{}\n",
                                               b->message.empty() ? "" : ": ", b->message));
          finish(0);
        }
      } else if (auto* pe = std::get_if<ProtocolError>(&*m)) {
        fail("server error: " + pe->message);
      } else if (!std::holds_alternative<Keepalive>(*m)) {
        fail(fmt::format("unexpected frame type {} from the server", static_cast<int>(frame_type(*m))));
      }
    }
    finish(status_);
  }

  asio::awaitable<void> writer() {
    while (true) {
      if (outbox_.empty()) {
        if (closing_) break;
        wake_writer_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_writer_.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      Bytes f = std::move(outbox_.front());
      outbox_.pop_front();
      auto ec = co_await framed_->write_bytes(f);
      if (ec) break;
    }
    if (closing_) {
      framed_->close();
      if (com_) {
        // Let the close envelope reach the line before we exit.
        asio::steady_timer t(io_, 50ms);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      finish(status_);
    }
  }

  asio::awaitable<void> keepalive() {
    asio::steady_timer t(io_);
    while (!finished_ && !closing_) {
      t.expires_after(2s);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      if (!finished_ && !closing_ && outbox_.empty()) send(Keepalive{});
    }
  }

  void send(const Message& m) {
    if (closing_ || finished_) return;
    outbox_.push_back(encode_frame(m));
    wake_writer_.cancel();
  }

  void leave() {
    if (finished_ || closing_) return;
    if (!connected_) {
      finish(0);
      return;
    }
    send(Bye{ByeReason::client_leaving, {}});
    status_ = 0;
    closing_ = true;
    finished_ = true;  // the reader stops; the writer flushes the goodbye and ends the run
    wake_writer_.cancel();
  }

  void fail(const std::string& message) {
    if (!message.empty()) write_fd(opt_.error_fd, fmt::format("openkd: {}\n", message));
    finish(1);
  }

  void finish(int status) {
    if (stopped_) return;
    if (closing_ && !outbox_.empty()) return;  // the writer flushes the goodbye first
    if (!closing_) status_ = status;
    stopped_ = true;
    finished_ = true;
    if (framed_) framed_->close();
    io_.stop();
  }

  asio::io_context& io_;
  TransportSpec spec_;
  ClientOptions opt_;
  bool terminal_ = false;
  std::unique_ptr<FramedStream> framed_;
  std::shared_ptr<ComLine> com_;
  std::deque<Bytes> outbox_;
  asio::steady_timer wake_writer_;
  std::vector<std::string> early_;
  std::string prompt_;
  int outstanding_ = 0;
  bool connected_ = false;
  bool input_done_ = false;
  bool exiting_ = false;  // .remote_exit seen: later lines are ignored
  bool closing_ = false;
  bool finished_ = false;
  bool stopped_ = false;
  int status_ = 1;
};

}  // namespace

int run_client(const TransportSpec& spec, const ClientOptions& options) {
  if (spec.role != Role::client) {
    write_fd(options.error_fd, "openkd: not a -remote transport\n");
    return 1;
  }
  if (spec.password_in_clear) write_fd(options.error_fd, std::string(password_hint) + "\n");
  asio::io_context io;
  Client client(io, spec, options);
  TerminalMode mode(options.input_fd, client.terminal());
  std::optional<asio::signal_set> signals;
  // Outlives io.run(): the handler re-arms itself through this reference.
  std::function<void(error_code, int)> on_signal = [&](error_code ec, int) {
    if (ec) return;
    client.on_interrupt();
    signals->async_wait(on_signal);
  };
  if (options.handle_sigint) {
    signals.emplace(io, SIGINT);
    signals->async_wait(on_signal);
  }
  asio::co_spawn(io, client.run(), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        write_fd(options.error_fd, fmt::format("openkd: internal error: {}\n", x.what()));
      }
      io.stop();
    }
  });
  {
    InputReader input(
        options.input_fd, [&](std::string line) { asio::post(io, [&, line = std::move(line)]() mutable { client.on_input_line(std::move(line)); }); },
        [&] { asio::post(io, [&] { client.on_input_eof(); }); });
    io.run();
  }
  return client.status();
}

int run_client(std::string_view transport, const ClientOptions& options) {
  auto spec = parse_transport(transport, Role::client);
  if (!spec) {
    write_fd(options.error_fd, fmt::format("openkd: {}\n", spec.error().message));
    return 1;
  }
  return run_client(*spec, options);
}

}  // namespace openkd::remote
