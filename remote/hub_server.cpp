// The hub's I/O thread: servers accepting clients, the handshake with
// authentication, and one reader and one writer per client.
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "remote/host_info.hpp"
#include "remote/hub_impl.hpp"
#include "remote/registry.hpp"
#include "remote/tls.hpp"

namespace openkd::remote {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// A frame the server sends before admitting a client is small; a peer that
// does not take it within this is not a client worth waiting for.
constexpr auto preauth_write_timeout = 5s;
// Serial lines cannot report a hang-up; a peer silent this long (it sends a
// keepalive every 2 s) is gone.
constexpr auto serial_silence_limit = 8s;
constexpr auto slow_client_grace = 2s;
constexpr std::size_t hard_queue_factor = 16;

// A one-line Rejected frame, then close. (Named locals are passed in: g++ 12
// can destroy temporaries in co_await expressions twice, see client.cpp.)
asio::awaitable<void> refuse(FramedStream& framed, std::string reason) {
  Message reply = Rejected{std::move(reason)};
  co_await framed.write(reply, preauth_write_timeout);
  framed.close();
}

std::string strip_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

void Hub::Impl::spawn(asio::awaitable<void> a) {
  asio::co_spawn(io, std::move(a), [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log_local(fmt::format("openkd: remote: internal error: {}", x.what()));
    }
  });
}

void Hub::Impl::log_local(std::string_view line) {
  if (options.local_output) options.local_output(std::string(line) + "\n");
}

void Hub::Impl::update_server_listing(const ServerEntry& e) {
  std::lock_guard g(info_mutex);
  for (auto& l : server_listings)
    if (l.index == e.index) { l.disabled = e.disabled; return; }
  server_listings.push_back({e.index, e.remote, e.disabled});
}

std::expected<ServerInfo, HubError> Hub::Impl::open_server(const TransportSpec& spec) {
  if (stopping) return std::unexpected(HubError{"the session is ending"});
  if (spec.role != Role::server) return std::unexpected(HubError{"not a server transport"});
  auto entry = std::make_shared<ServerEntry>();
  entry->index = static_cast<int>(servers.size());
  entry->bound = spec;
  if (spec.is_tls()) {
    auto ctx = make_server_tls_context(spec);
    if (!ctx) return std::unexpected(HubError{ctx.error()});
    entry->tls = *ctx;
  }
  bool loopback = false;
  if (spec.kind == TransportKind::com) {
    auto line = ComLine::open(io.get_executor(), spec.device, spec.baud);
    if (!line) return std::unexpected(HubError{line.error()});
    for (auto& s : servers)
      if (s->com == *line && s->bound.channel == spec.channel && !s->disabled)
        return std::unexpected(HubError{fmt::format("channel {} of {} already has a server", spec.channel, spec.device)});
    entry->com = *line;
  } else if (!spec.reverse()) {
    auto l = SocketListener::open(io.get_executor(), spec);
    if (!l) return std::unexpected(HubError{l.error()});
    entry->bound = (*l)->bound();
    loopback = (*l)->loopback_only();
    entry->local_only = loopback;
    entry->listener = std::move(*l);
  }
  entry->remote = remote_argument(entry->bound, host_name(), true);
  ServerInfo info{entry->index, entry->remote, {}, {}};
  if (spec.password_in_clear) info.hint = std::string(password_hint);
  if (spec.kind == TransportKind::tcp && !spec.password && !loopback && !spec.reverse())
    info.warning = fmt::format(
        "openkd: warning: server {} accepts clients from the network with neither a password nor TLS", entry->remote);
  if (options.register_servers && !spec.hidden && !spec.reverse()) {
    if (auto r = register_server(::getpid(), entry->index, entry->remote)) entry->registration = *r;
  }
  servers.push_back(entry);
  update_server_listing(*entry);
  if (entry->com) spawn(com_accept_loop(entry));
  else if (spec.reverse()) spawn(reverse_loop(entry));
  else spawn(accept_loop(entry));
  return info;
}

void Hub::Impl::end_server_now(ServerEntry& e) {
  if (e.disabled) return;
  e.disabled = true;
  if (e.listener) e.listener->close();
  if (e.com) e.com->stop_accepting(e.bound.channel);
  if (e.redial) e.redial->cancel();
  if (!e.registration.empty()) unregister_server(e.registration);
  e.registration.clear();
  update_server_listing(e);
}

asio::awaitable<void> Hub::Impl::accept_loop(std::shared_ptr<ServerEntry> entry) {
  while (!entry->disabled && !stopping) {
    auto c = co_await entry->listener->accept();
    if (!c) {
      if (entry->disabled || stopping || c.error() == asio::error::operation_aborted) break;
      // Out of descriptors and the like: pause rather than spin.
      asio::steady_timer t(io, 100ms);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto slot = admit_or_refuse(*c, *entry);
    if (slot) spawn(handle_socket(std::move(*c), entry, std::move(*slot)));
  }
}

asio::awaitable<void> Hub::Impl::com_accept_loop(std::shared_ptr<ServerEntry> entry) {
  while (!entry->disabled && !stopping) {
    auto s = co_await entry->com->accept(entry->bound.channel);
    if (!s) break;
    auto slot = preauth.take(source_of((*s)->peer()));
    if (!slot) {
      (*s)->close();
      continue;
    }
    spawn(handle_connection(std::move(*s), entry, std::move(*slot)));
  }
}

asio::awaitable<void> Hub::Impl::reverse_loop(std::shared_ptr<ServerEntry> entry) {
  // clicon: the client listens and we dial it; one client at a time, and we
  // dial again when it leaves (it may come back).
  entry->redial = std::make_unique<asio::steady_timer>(io);
  bool reported = false;
  while (!entry->disabled && !stopping) {
    auto raw = co_await io::dial_tcp(entry->bound.clicon, entry->bound.port_lo,
                                     entry->bound.ipv6 ? io::Family::v6 : io::Family::v4, 5s);
    if (raw) {
      reported = false;
      // clicon: we dialed the client, so it is not counted against the cap.
      co_await handle_socket(std::move(*raw), entry, PreauthSlots::Slot());
    } else if (!reported) {
      log_local(fmt::format("openkd: server {}: {} (retrying every second)", entry->index, raw.error()));
      reported = true;
    }
    if (entry->disabled || stopping) break;
    entry->redial->expires_after(1s);
    co_await entry->redial->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

std::optional<PreauthSlots::Slot> Hub::Impl::admit_or_refuse(io::Connection& raw, const ServerEntry& entry) {
  std::string source = source_of(raw.peer);
  auto slot = preauth.take(source);
  if (slot) return std::move(*slot);
  // Refused at once, without a coroutine: one non-blocking send of the reason
  // (plain transports only; a TLS client would take it for a broken handshake),
  // then close. A full socket buffer just loses the line.
  if (!entry.tls) {
    Bytes frame = encode_frame(Rejected{slot.error()});
    std::visit([&](auto& sock) {
      ::send(sock.native_handle(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      error_code ec;
      sock.close(ec);
    }, raw.socket);
  } else {
    std::visit([](auto& sock) { error_code ec; sock.close(ec); }, raw.socket);
  }
  log_failure(source, "refused (too many unauthenticated connections)",
              fmt::format("openkd: refused a connection from {}: {}", raw.peer, slot.error()));
  return std::nullopt;
}

std::string Hub::Impl::refuse_over_budget(const GuessBudget::Spend& spend, const std::string& source,
                                          const std::string& name) {
  std::string reason = fmt::format("too many wrong passwords {}; try again in {} s",
                                   spend.server_exhausted ? "on this server" : "from " + source,
                                   (spend.retry_after.count() + 999) / 1000);
  log_failure(source, "refused (guess budget spent)", fmt::format("openkd: refused {}: {}", name, reason));
  return reason;
}

void Hub::Impl::log_failure(const std::string& source, const std::string& kind, std::string line) {
  if (auto now_line = failures.record(source, kind, std::move(line), FailureLog::Clock::now())) log_local(*now_line);
}

asio::awaitable<void> Hub::Impl::handle_socket(io::Connection raw, std::shared_ptr<ServerEntry> entry,
                                               PreauthSlots::Slot slot) {
  std::string peer = raw.peer;
  auto stream = co_await secure_as_server(std::move(raw), entry->tls, options.handshake_timeout);
  if (!stream) {
    log_failure(source_of(peer), "failed TLS handshakes",
                fmt::format("openkd: connection from {} refused: {}", peer, stream.error()));
    co_return;
  }
  co_await handle_connection(std::move(*stream), entry, std::move(slot));
}

// One coroutine owns the connection from accept to the end of the session:
// every wait before admission races a deadline inside FramedStream, and
// nothing outlives this frame but what holds it by shared_ptr.
asio::awaitable<void> Hub::Impl::handle_connection(std::unique_ptr<io::ByteStream> stream,
                                                   std::shared_ptr<ServerEntry> entry, PreauthSlots::Slot slot) {
  std::string peer = stream->peer();
  std::string source = source_of(peer);
  auto framed = std::make_unique<FramedStream>(std::move(stream));
  auto first = co_await framed->read(options.hello_timeout);
  if (!first || !std::holds_alternative<ClientHello>(*first)) {
    std::string why = first ? "did not start with a hello" : first.error().message;
    if (!first && first.error().kind == ReadFailure::malformed) {
      Message reply = ProtocolError{"not an openkd remote client: " + why};
      co_await framed->write(reply, preauth_write_timeout);
    }
    framed->close();
    log_failure(source, "dropped before a hello", fmt::format("openkd: dropped a connection from {}: {}", peer, why));
    co_return;
  }
  auto hello = std::get<ClientHello>(std::move(*first));
  if (hello.version != protocol_version) {
    Message reply = ProtocolError{fmt::format("protocol version {} is not supported; this server speaks {}",
                                              hello.version, protocol_version)};
    co_await framed->write(reply, preauth_write_timeout);
    framed->close();
    co_return;
  }
  if (entry->disabled || stopping) {
    std::string reason = "this server no longer accepts clients";
    co_await refuse(*framed, reason);
    co_return;
  }
  std::string name = fmt::format("{} ({})", sanitize_name(hello.identity), peer);

  ServerHello sh;
  if (entry->bound.password) {
    // Refuse early when the budget is already spent (saves a round trip); the
    // budget is charged below, when the answer is checked.
    if (auto early = budget.peek(source, GuessBudget::Clock::now()); !early.allowed) {
      std::string reason = refuse_over_budget(early, source, name);
      co_await refuse(*framed, reason);
      co_return;
    }
    sh.auth_required = true;
    sh.nonce = make_nonce();
    Message challenge = sh;
    auto ec = co_await framed->write(challenge, preauth_write_timeout);
    if (ec) co_return;
    auto answer = co_await framed->read(options.auth_timeout);
    if (!answer || !std::holds_alternative<AuthResponse>(*answer)) {
      framed->close();
      log_failure(source, "gave no answer to the challenge",
                  fmt::format("openkd: dropped {}: no answer to the password challenge", name));
      co_return;
    }
    Bytes binding = auth_binding(kind_name(entry->bound.kind), hello.identity, framed->stream().tls_exporter());
    // Check and charge in one step, with no suspension between them (the
    // budget lives on this I/O thread): concurrent guesses from one source
    // cannot all be checked against the same remaining budget.
    auto now = GuessBudget::Clock::now();
    auto spent = budget.try_spend(source, now);
    if (!spent.allowed) {
      std::string reason = refuse_over_budget(spent, source, name);
      co_await refuse(*framed, reason);
      co_return;
    }
    if (!verify_auth_mac(*entry->bound.password, sh.nonce, binding, std::get<AuthResponse>(*answer).mac)) {
      log_failure(source, "wrong passwords", fmt::format("openkd: rejected {}: wrong password", name));
      std::string reason = "password rejected by server";
      co_await refuse(*framed, reason);
      co_return;
    }
    budget.refund(source, spent, now);
  } else {
    Message no_challenge = sh;
    auto ec = co_await framed->write(no_challenge, preauth_write_timeout);
    if (ec) co_return;
  }
  if (entry->disabled || stopping) {
    std::string reason = "this server no longer accepts clients";
    co_await refuse(*framed, reason);
    co_return;
  }
  slot.release();  // admitted: no longer counted as waiting to authenticate

  auto session = std::make_shared<ClientSession>(next_client_id++, name, std::move(framed), io.get_executor());
  session->server = entry;
  auto now = std::chrono::system_clock::now();
  {
    std::lock_guard g(info_mutex);
    client_listings[session->id] = {name, now};
  }
  sessions[session->id] = session;
  enqueue(*session, encode_frame(Welcome{name, prompt}));
  std::string joined = fmt::format("{} connected at {}", name, format_time(now));
  send_to_all(Output{joined + "\n"});
  log_local(joined);

  co_await (session_reader(session) && session_writer(session));

  sessions.erase(session->id);
  {
    std::lock_guard g(info_mutex);
    client_listings.erase(session->id);
  }
  if (!stopping) {
    std::string left = fmt::format("{} disconnected at {}", name, format_time(std::chrono::system_clock::now()));
    send_to_all(Output{left + "\n"});
    log_local(left);
  }
}

asio::awaitable<void> Hub::Impl::session_reader(std::shared_ptr<ClientSession> s) {
  std::optional<std::chrono::milliseconds> silence;
  if (s->framed->stream().needs_keepalive_timeout()) silence = serial_silence_limit;
  while (true) {
    auto m = co_await s->framed->read(silence);
    if (!m) {
      if (m.error().kind == ReadFailure::malformed && !s->dropped) {
        log_local(fmt::format("openkd: dropped {}: malformed frame ({})", s->name, m.error().message));
        s->queue.clear();
        s->queued = 0;
        enqueue(*s, encode_frame(ProtocolError{"malformed frame: " + m.error().message}));
        s->closing = true;
      } else {
        s->dropped = true;
      }
      break;
    }
    {
      std::lock_guard g(info_mutex);
      if (auto it = client_listings.find(s->id); it != client_listings.end())
        it->second.last_active = std::chrono::system_clock::now();
    }
    if (auto* c = std::get_if<Command>(&*m)) {
      {
        std::lock_guard g(command_mutex);
        commands.push_back(HubCommand{s->id, s->name, strip_line(c->line)});
      }
      command_ready.notify_one();
    } else if (std::holds_alternative<BreakRequest>(*m)) {
      if (options.on_break_request) options.on_break_request();
    } else if (std::holds_alternative<Bye>(*m)) {
      s->dropped = true;
      break;
    } else if (!std::holds_alternative<Keepalive>(*m)) {
      s->queue.clear();
      s->queued = 0;
      enqueue(*s, encode_frame(ProtocolError{fmt::format("unexpected frame type {}",
                                                          static_cast<int>(frame_type(*m)))}));
      s->closing = true;
      break;
    }
  }
  s->closing = true;
  s->signal.cancel();
}

asio::awaitable<void> Hub::Impl::session_writer(std::shared_ptr<ClientSession> s) {
  while (!s->dropped) {
    if (s->queue.empty()) {
      if (s->closing) break;
      s->signal.expires_at(asio::steady_timer::time_point::max());
      co_await s->signal.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    Bytes frame = std::move(s->queue.front());
    s->queue.pop_front();
    s->queued -= frame.size();
    auto ec = co_await s->framed->write_bytes(frame);
    if (ec) break;
    if (s->queued <= options.client_queue_limit) s->behind_since.reset();
  }
  s->dropped = true;
  s->framed->close();
}

void Hub::Impl::enqueue(ClientSession& s, Bytes frame) {
  if (s.dropped || s.closing) return;
  s.queued += frame.size();
  s.queue.push_back(std::move(frame));
  s.signal.cancel();
  drop_if_too_slow(s);
}

bool Hub::Impl::drop_if_too_slow(ClientSession& s) {
  // A burst of output puts every client behind for a moment; a client is only
  // "too slow" when it stays more than the limit behind for a grace period
  // (a healthy one drains 4 MiB in milliseconds), or when it falls so far
  // behind that holding its output would cost real memory.
  if (s.closing || s.dropped) return false;
  auto now = std::chrono::steady_clock::now();
  if (s.queued <= options.client_queue_limit) {
    s.behind_since.reset();
    return false;
  }
  if (!s.behind_since) s.behind_since = now;
  bool stuck = now - *s.behind_since > slow_client_grace;
  bool huge = s.queued > options.client_queue_limit * hard_queue_factor;
  if (!stuck && !huge) return false;
  s.queue.clear();
  s.queued = 0;
  s.closing = true;
  Bytes bye = encode_frame(Bye{ByeReason::too_slow,
                               fmt::format("disconnected: this client fell more than {} KiB behind the session output",
                                           options.client_queue_limit / 1024)});
  s.queued += bye.size();
  s.queue.push_back(std::move(bye));
  s.signal.cancel();
  log_local(fmt::format("openkd: disconnected {}: it fell too far behind the output", s.name));
  // If it does not even take the goodbye, close it after a grace period.
  auto t = std::make_shared<asio::steady_timer>(io, 5s);
  t->async_wait([t, weak = s.weak_from_this()](error_code) {
    if (auto live = weak.lock()) {
      live->dropped = true;
      live->framed->close();
    }
  });
  return true;
}

void Hub::Impl::send_to_all(const Message& m) {
  Bytes frame = encode_frame(m);
  for (auto& [id, s] : sessions) enqueue(*s, frame);
}

asio::awaitable<void> Hub::Impl::keepalive_loop() {
  // Every 500 ms: look for clients stuck behind; every 2 s: keepalives (serial
  // peers take 8 s of silence as a lost connection).
  asio::steady_timer t(io);
  Bytes frame = encode_frame(Keepalive{});
  for (unsigned tick = 1; !stopping; ++tick) {
    t.expires_after(500ms);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping) break;
    for (auto& line : failures.flush(FailureLog::Clock::now())) log_local(line);
    if (tick % 120 == 0) budget.expire(GuessBudget::Clock::now());
    for (auto& [id, s] : sessions) {
      if (drop_if_too_slow(*s)) continue;
      if (tick % 4 == 0 && s->queue.empty()) enqueue(*s, frame);
    }
  }
}

asio::awaitable<void> Hub::Impl::shutdown_sequence(std::string reason) {
  stopping = true;
  for (auto& e : servers) end_server_now(*e);
  Bytes bye = encode_frame(Bye{ByeReason::session_ended, reason});
  for (auto& [id, s] : sessions) {
    enqueue(*s, bye);
    s->closing = true;
    s->signal.cancel();
  }
  // Give clients a moment to take their goodbye, then cut the rest.
  asio::steady_timer t(io);
  for (int i = 0; i < 150 && !sessions.empty(); ++i) {
    t.expires_after(20ms);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  for (auto& [id, s] : sessions) {
    s->dropped = true;
    s->framed->close();
  }
  for (auto& e : servers)
    if (e->com) e->com->close();
  work.reset();
  io.stop();
}

}  // namespace openkd::remote
