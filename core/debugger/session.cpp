#include "core/debugger/session.hpp"

#include <csignal>
#include <fmt/format.h>
#include <future>

namespace openkd::debugger {

using Clock = std::chrono::steady_clock;

namespace {

HostConfig host_config(const SessionOptions& o) {
  HostConfig c;
  c.scheme = o.scheme;
  c.resets = o.resets > 0 ? o.resets : 0;  // resets=0 and the default keep resetting
  c.request_timeout = o.request_timeout;
  return c;
}

// The I/O thread answers every request within request_timeout (the session's
// own deadline); this margin only guards against an I/O thread that is stuck.
constexpr std::chrono::seconds kFacadeMargin{5};

// x64 only: CONTEXT and KSPECIAL_REGISTERS are AMD64's (docs/protocol.md section 5).
constexpr std::uint16_t kMachineAmd64 = 0x8664;

std::string machine_name(std::uint16_t m) {
  switch (m) {
    case 0x014c: return "x86";
    case 0x01c4: return "ARM";
    case 0xaa64: return "ARM64";
    case 0x0200: return "IA64";
    default: return fmt::format("machine {:#06x}", m);
  }
}

}  // namespace

KdSession::KdSession(SessionOptions options)
    : options_(std::move(options)), files_(options_.file_system ? *options_.file_system : host_file_system()) {
  files_.set_files(options_.kdfiles);
}

KdSession::~KdSession() { close(); }

Result<void> KdSession::start() {
  // A target that goes away must be an error code on write, not a SIGPIPE that
  // ends the process: leave a handler the program set, replace only the default.
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
  RunnerOptions ro;
  ro.open = options_.open;
  ro.reconnect = options_.reconnect;
  runner_ = std::make_unique<HostRunner>(
      io_.get_executor(), host_config(options_), std::move(ro), [this](HostEvent&& e) { on_event(std::move(e)); },
      [this](std::expected<void, std::string> r) {
        {
          std::lock_guard lock(mutex_);
          opened_ = std::move(r);
        }
        cv_.notify_all();
      });
  runner_->start();
  thread_ = std::thread([this] { io_.run(); });
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return opened_.has_value(); });
  if (!*opened_) return std::unexpected(Error{opened_->error(), 0, ErrorKind::Disconnected});
  return {};
}

void KdSession::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    asio::post(io_, [this] {
      if (runner_) runner_->stop();
      io_.stop();
    });
    thread_.join();
  }
  runner_.reset();
}

// ---------------------------------------------------------------- I/O thread

void KdSession::on_event(HostEvent&& e) {
  auto notice = [&](std::string_view line) {
    if (callbacks_.on_notice) callbacks_.on_notice(line);
  };
  std::visit(
      [&](auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, ReplyReady> || std::is_same_v<T, RequestFailed>) {
          std::lock_guard lock(mutex_);
          // A refused resume leaves the target where it was (stopped).
          running_ = !runner_->session().stopped();
          if (ev.id != waiting_id_) return;  // abandoned
          if constexpr (std::is_same_v<T, ReplyReady>) answer_ = Result<Answer>(Answer(std::move(ev.reply)));
          else answer_ = Result<Answer>(std::unexpected(std::move(ev.error)));
          cv_.notify_all();
        } else if constexpr (std::is_same_v<T, Stopped>) {
          std::lock_guard lock(mutex_);
          running_ = false;
          if (ev.id != 0 && ev.id == waiting_id_) {
            answer_ = Result<Answer>(Answer(StopEvent{std::move(ev.change), ev.break_requested}));
          } else {
            // Nobody asked for it: kept (the newest only) for wait_for_stop, never for a resume.
            unclaimed_stop_ = StopEvent{std::move(ev.change), ev.break_requested};
          }
          cv_.notify_all();
        } else if constexpr (std::is_same_v<T, Printed>) {
          if (callbacks_.on_print) callbacks_.on_print(ev.text);
        } else if constexpr (std::is_same_v<T, PromptAsked>) {
          if (callbacks_.on_prompt) callbacks_.on_prompt(ev.id, ev.prompt, ev.max_length);
          else runner_->session().answer_prompt(ev.id, {}, Clock::now());  // nobody to ask: an empty line
        } else if constexpr (std::is_same_v<T, PromptWithdrawn>) {
          if (callbacks_.on_prompt_withdrawn) callbacks_.on_prompt_withdrawn(ev.id);
        } else if constexpr (std::is_same_v<T, FileRequested>) {
          std::string line;
          auto reply = files_.answer(ev.request, &line);
          if (!line.empty()) notice(line);
          runner_->session().answer_file(std::move(reply), Clock::now());
        } else if constexpr (std::is_same_v<T, Notice>) {
          if (ev.connection && callbacks_.on_connection) callbacks_.on_connection(ev.line);
          else notice(ev.line);
        } else if constexpr (std::is_same_v<T, Connected>) {
          notice("Connected: link synchronised");
        } else if constexpr (std::is_same_v<T, TargetLost>) {
          if (!options_.reconnect) {
            std::lock_guard lock(mutex_);
            lost_ = ev.why;
            cv_.notify_all();
          }
          if (callbacks_.on_connection) callbacks_.on_connection(ev.why);
          else notice(fmt::format("target lost: {}", ev.why));
        }
      },
      e);
}

// ---------------------------------------------------------------- caller side

Result<KdSession::Answer> KdSession::call(wire::Manipulate m, Expect expect,
                                         std::optional<std::chrono::milliseconds> limit, bool break_after) {
  std::unique_lock lock(mutex_);
  if (closed_ || !runner_) return std::unexpected(Error{"the session is closed", 0, ErrorKind::Disconnected});
  if (lost_) return std::unexpected(Error{*lost_, 0, ErrorKind::Disconnected});
  answer_.reset();
  waiting_id_ = 0;
  const std::uint64_t seq = ++call_seq_;
  asio::post(io_, [this, m = std::move(m), expect, limit, seq, break_after]() mutable {
    auto now = Clock::now();
    std::optional<TimePoint> deadline;
    if (limit) deadline = now + *limit;
    {
      std::lock_guard lock(mutex_);
      if (seq != call_seq_ || !runner_) return;  // the caller gave up before it was sent
      if (expect == Expect::Stop) {
        running_ = true;
        unclaimed_stop_.reset();  // older than this resume: never its answer
      }
    }
    RequestId id = runner_->session().submit(std::move(m), expect, now, deadline);
    // After the continue on the wire, so the running target takes it (and it
    // repeats every second until a stop, as every break-in does).
    if (break_after) runner_->session().break_in(now);
    {
      std::lock_guard lock(mutex_);
      waiting_id_ = id;
    }
    runner_->pump();
  });
  // Reply requests end by the session's own deadline; a margin guards the wait.
  std::optional<Clock::time_point> guard;
  if (expect == Expect::Reply) guard = Clock::now() + options_.request_timeout + kFacadeMargin;
  else if (limit) guard = Clock::now() + *limit + kFacadeMargin;
  auto ready = [&] { return answer_.has_value() || closed_ || lost_.has_value() || cancel_.load(); };
  if (guard) {
    if (!cv_.wait_until(lock, *guard, ready))
      return std::unexpected(Error{"the debugger's I/O thread did not answer in time", 0, ErrorKind::Timeout});
  } else {
    cv_.wait(lock, ready);
  }
  if (answer_) {
    auto a = std::move(*answer_);
    answer_.reset();
    waiting_id_ = 0;
    return a;
  }
  // Cancelled, closed or lost: the session drops the request (its answer, if it comes, is stray).
  RequestId id = waiting_id_;
  waiting_id_ = 0;
  ++call_seq_;  // a request not submitted yet never will be
  Error why = closed_   ? Error{"the session is closed", 0, ErrorKind::Disconnected}
              : lost_   ? Error{*lost_, 0, ErrorKind::Disconnected}
                        : Error{"cancelled", 0, ErrorKind::Cancelled};
  if (id != 0 && !closed_)
    asio::post(io_, [this, id, why] {
      if (!runner_) return;
      runner_->session().abandon(id, why);
      runner_->pump();
    });
  return std::unexpected(why);
}

Result<wire::Manipulate> KdSession::request(wire::Manipulate m) {
  m.processor = current_processor();
  {
    std::lock_guard lock(mutex_);
    if (running_) return std::unexpected(Error{"the target is running: break in first (Ctrl-C)", 0, ErrorKind::Running});
  }
  auto r = call(std::move(m), Expect::Reply, std::nullopt);
  if (!r) return std::unexpected(r.error());
  return std::get<wire::Manipulate>(std::move(*r));
}

Result<StopEvent> KdSession::call_stop(wire::Manipulate m, std::optional<std::chrono::milliseconds> limit,
                                       bool break_after) {
  cancel_.store(false);
  auto r = call(std::move(m), Expect::Stop, limit, break_after);
  if (!r) return std::unexpected(r.error());
  last_stop_ = std::get<StopEvent>(std::move(*r));
  if (!have_version_)
    if (auto v = fetch_version(); !v) return std::unexpected(v.error());
  return last_stop_;
}

Result<void> KdSession::fetch_version() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::GetVersion);
  m.args = wire::GetVersion64{};
  auto r = request(m);
  if (!r) return std::unexpected(r.error());
  auto* v = std::get_if<wire::GetVersion64>(&r->args);
  if (r->return_status != wire::kStatusSuccess || !v)
    return std::unexpected(Error{fmt::format("GetVersion failed: status {:08x}", r->return_status), r->return_status,
                                 ErrorKind::Status});
  if (v->machine_type != kMachineAmd64)
    return std::unexpected(Error{fmt::format("the target is {} (MachineType {:#06x}); openkd debugs x64 targets only",
                                             machine_name(v->machine_type), v->machine_type),
                                 0, ErrorKind::Unsupported});
  version_ = *v;
  have_version_ = true;
  return {};
}

Result<StopEvent> KdSession::wait_for_stop(std::optional<std::chrono::milliseconds> timeout) {
  cancel_.store(false);
  {
    std::unique_lock lock(mutex_);
    auto ready = [&] { return unclaimed_stop_.has_value() || lost_ || closed_ || cancel_.load(); };
    if (timeout) {
      if (!cv_.wait_for(lock, *timeout, ready))
        return std::unexpected(Error{"timed out waiting for the target", 0, ErrorKind::Timeout});
    } else {
      cv_.wait(lock, ready);
    }
    if (!unclaimed_stop_) {
      if (lost_) return std::unexpected(Error{*lost_, 0, ErrorKind::Disconnected});
      if (closed_) return std::unexpected(Error{"the session is closed", 0, ErrorKind::Disconnected});
      return std::unexpected(Error{"cancelled", 0, ErrorKind::Cancelled});
    }
    last_stop_ = std::move(*unclaimed_stop_);
    unclaimed_stop_.reset();
    running_ = false;
  }
  if (!have_version_)
    if (auto v = fetch_version(); !v) return std::unexpected(v.error());
  return last_stop_;
}

bool KdSession::lost() const {
  std::lock_guard lock(mutex_);
  return lost_.has_value();
}

bool KdSession::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

template <class T>
T KdSession::ask_io_thread(std::function<T(HostRunner&)> fn) const {
  // The answer comes from the I/O thread, which owns the runner; the promise is
  // always kept (a default value when the runner is gone), and the wait has a deadline.
  if (!runner_ || !thread_.joinable()) return T{};
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  asio::post(const_cast<asio::io_context&>(io_), [this, p, fn = std::move(fn)] {
    p->set_value(runner_ ? fn(*runner_) : T{});
  });
  if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return T{};
  return f.get();
}

SessionCounters KdSession::counters() const {
  return ask_io_thread<SessionCounters>([](HostRunner& r) {
    return SessionCounters{r.session().link_counters(), r.session().counters(), r.counters()};
  });
}

std::vector<std::string> KdSession::traffic(std::size_t last) const {
  return ask_io_thread<std::vector<std::string>>([last](HostRunner& r) {
    std::vector<std::string> lines;
    const auto& t = r.session().traffic();
    for (std::size_t i = t.size() > last ? t.size() - last : 0; i < t.size(); ++i) lines.push_back(to_string(t[i]));
    return lines;
  });
}

std::string KdSession::transport_description() const {
  return ask_io_thread<std::string>([](HostRunner& r) { return r.describe(); });
}

std::string KdSession::transport_statistics() const {
  return ask_io_thread<std::string>([](HostRunner& r) { return r.transport_statistics(); });
}

void KdSession::set_kdfiles(std::map<std::string, std::string> files) {
  if (!thread_.joinable()) {
    files_.set_files(std::move(files));
    return;
  }
  asio::post(io_, [this, files = std::move(files)]() mutable { files_.set_files(std::move(files)); });
}

void KdSession::answer_prompt(std::uint64_t id, std::string text) {
  if (!thread_.joinable()) return;
  asio::post(io_, [this, id, text = std::move(text)]() mutable {
    if (!runner_) return;
    runner_->session().answer_prompt(id, std::move(text), Clock::now());
    runner_->pump();
  });
}

void KdSession::cancel_wait() {
  cancel_.store(true);
  cv_.notify_all();
}

std::uint32_t KdSession::number_processors() const { return last_stop_.change.number_processors; }
std::uint16_t KdSession::current_processor() const { return last_stop_.change.processor; }

void KdSession::set_callbacks(TargetCallbacks callbacks) {
  if (thread_.joinable()) {
    asio::post(io_, [this, c = std::move(callbacks)]() mutable { callbacks_ = std::move(c); });
  } else {
    callbacks_ = std::move(callbacks);
  }
}

Result<std::size_t> KdSession::transfer(wire::Api api, std::uint64_t address, std::span<std::uint8_t> in,
                                        wire::ByteView out, std::uint32_t flags) {
  const bool reading = !in.empty();
  const std::size_t total = reading ? in.size() : out.size();
  std::size_t done = 0;
  cancel_.store(false);
  while (done < total) {
    if (done > 0 && cancel_.load()) break;  // Ctrl-C between packets: what arrived so far
    std::size_t chunk = std::min(total - done, wire::kMaxReadChunk);
    wire::Manipulate m;
    m.api = static_cast<std::uint32_t>(api);
    m.args = wire::MemoryTransfer{address + done, static_cast<std::uint32_t>(chunk), flags};
    if (!reading) m.data.assign(out.begin() + done, out.begin() + done + chunk);
    auto r = request(std::move(m));
    if (!r) {
      if (done > 0 && r.error().kind == ErrorKind::Cancelled) break;
      return std::unexpected(r.error());
    }
    auto* t = std::get_if<wire::MemoryTransfer>(&r->args);
    std::size_t got = t ? t->actual_bytes : 0;
    if (reading) {
      got = std::min({got, r->data.size(), chunk});
      std::copy_n(r->data.begin(), got, in.begin() + done);
    } else {
      got = std::min(got, chunk);
    }
    done += got;
    if (r->return_status != wire::kStatusSuccess || got < chunk) {
      if (done == 0)
        return std::unexpected(Error{fmt::format("Memory access error at {:#x}", address), r->return_status,
                                     r->return_status ? ErrorKind::Status : ErrorKind::Failed});
      break;
    }
  }
  return done;
}

Result<std::size_t> KdSession::read_virtual(std::uint64_t a, std::span<std::uint8_t> out) {
  if (out.empty()) return 0;
  return transfer(wire::Api::ReadVirtualMemory, a, out, {}, 0);
}
Result<std::size_t> KdSession::write_virtual(std::uint64_t a, wire::ByteView data) {
  if (data.empty()) return 0;
  return transfer(wire::Api::WriteVirtualMemory, a, {}, data, 0);
}
Result<std::size_t> KdSession::read_physical(std::uint64_t a, std::span<std::uint8_t> out) {
  if (out.empty()) return 0;
  return transfer(wire::Api::ReadPhysicalMemory, a, out, {}, 0);
}
Result<std::size_t> KdSession::write_physical(std::uint64_t a, wire::ByteView data) {
  if (data.empty()) return 0;
  return transfer(wire::Api::WritePhysicalMemory, a, {}, data, 0);
}

namespace {
template <class Args>
Result<Args> checked(Result<wire::Manipulate> r, std::string_view what) {
  if (!r) return std::unexpected(r.error());
  if (r->return_status != wire::kStatusSuccess)
    return std::unexpected(
        Error{fmt::format("{} failed: status {:08x}", what, r->return_status), r->return_status, ErrorKind::Status});
  if (auto* a = std::get_if<Args>(&r->args)) return *a;
  return std::unexpected(Error{fmt::format("{}: reply has the wrong layout", what), 0, ErrorKind::Malformed});
}
}  // namespace

Result<std::uint64_t> KdSession::search_memory(std::uint64_t start, std::uint64_t length, wire::ByteView pattern) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::SearchMemory);
  m.args = wire::SearchMemoryArgs{start, length, static_cast<std::uint32_t>(pattern.size())};
  m.data.assign(pattern.begin(), pattern.end());
  auto r = checked<wire::SearchMemoryArgs>(request(std::move(m)), "search");
  if (!r) return std::unexpected(r.error());
  return r->search_address;
}

Result<std::uint32_t> KdSession::fill_memory(std::uint64_t address, std::uint32_t length, wire::ByteView pattern,
                                             bool physical) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::FillMemory);
  m.args = wire::FillMemoryArgs{address, length, static_cast<std::uint16_t>(physical ? 2 : 1),
                                static_cast<std::uint16_t>(pattern.size())};
  m.data.assign(pattern.begin(), pattern.end());
  auto r = checked<wire::FillMemoryArgs>(request(std::move(m)), "fill");
  if (!r) return std::unexpected(r.error());
  return r->length;
}

Result<wire::Context> KdSession::get_context() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::GetContext);
  auto r = request(std::move(m));
  if (!r) return std::unexpected(r.error());
  if (r->return_status != wire::kStatusSuccess)
    return std::unexpected(Error{fmt::format("GetContext failed: status {:08x}", r->return_status), r->return_status,
                                 ErrorKind::Status});
  auto c = wire::decode_context(r->data);
  if (!c) return std::unexpected(Error{"the target's GetContext reply is malformed: " + c.error().message, 0,
                                       ErrorKind::Malformed});
  return *c;
}

Result<void> KdSession::set_context(const wire::Context& ctx) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::SetContext);
  m.args = wire::SetContextArgs{ctx.context_flags};
  m.data = wire::encode(ctx);
  auto r = checked<wire::SetContextArgs>(request(std::move(m)), "SetContext");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<wire::SpecialRegisters> KdSession::get_special_registers() {
  std::array<std::uint8_t, wire::kSpecialRegistersSize> buf{};
  auto n = transfer(wire::Api::ReadControlSpace, 2, buf, {}, 0);
  if (!n) return std::unexpected(n.error());
  // A short reply (some targets send 216 bytes, without the last fields) keeps
  // what it has; the missing tail reads as zero. CR0..CR4 are at the start.
  constexpr std::size_t kCr4End = 4 * 8 + 8;  // Cr0, Cr2, Cr3, Cr4 (KSPECIAL_REGISTERS, docs/protocol.md section 5)
  if (*n < kCr4End)
    return std::unexpected(Error{fmt::format("the target's control-space reply has {} bytes, too short for CR0-CR4", *n),
                                 0, ErrorKind::Malformed});
  auto s = wire::decode_special_registers(wire::ByteView(buf.data(), buf.size()));
  if (!s) return std::unexpected(Error{s.error().message, 0, ErrorKind::Malformed});
  return *s;
}

Result<void> KdSession::set_special_registers(const wire::SpecialRegisters& s) {
  auto bytes = wire::encode(s);
  auto n = transfer(wire::Api::WriteControlSpace, 2, {}, bytes, 0);
  if (!n) return std::unexpected(n.error());
  return {};
}

Result<std::uint64_t> KdSession::read_control_pointer(std::uint64_t which) {
  std::array<std::uint8_t, 8> buf{};
  auto n = transfer(wire::Api::ReadControlSpace, which, buf, {}, 0);
  if (!n) return std::unexpected(n.error());
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | buf[i];
  return v;
}

Result<std::uint64_t> KdSession::read_msr(std::uint32_t msr) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::ReadMachineSpecificRegister);
  m.args = wire::MsrArgs{msr, 0, 0};
  auto r = checked<wire::MsrArgs>(request(std::move(m)), fmt::format("rdmsr {:x}", msr));
  if (!r) return std::unexpected(r.error());
  return (std::uint64_t(r->data_value_high) << 32) | r->data_value_low;
}

Result<void> KdSession::write_msr(std::uint32_t msr, std::uint64_t value) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::WriteMachineSpecificRegister);
  m.args = wire::MsrArgs{msr, static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(value >> 32)};
  auto r = checked<wire::MsrArgs>(request(std::move(m)), fmt::format("wrmsr {:x}", msr));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::uint32_t> KdSession::read_io(std::uint64_t port, std::uint32_t size) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::ReadIoSpace);
  m.args = wire::IoArgs{port, size, 0};
  auto r = checked<wire::IoArgs>(request(std::move(m)), fmt::format("I/O read at port {:x}", port));
  if (!r) return std::unexpected(r.error());
  return r->data_value;
}

Result<void> KdSession::write_io(std::uint64_t port, std::uint32_t size, std::uint32_t value) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::WriteIoSpace);
  m.args = wire::IoArgs{port, size, value};
  auto r = checked<wire::IoArgs>(request(std::move(m)), fmt::format("I/O write at port {:x}", port));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::uint32_t> KdSession::write_breakpoint(std::uint64_t address) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::WriteBreakPoint);
  m.args = wire::WriteBreakPointArgs{address, 0};
  auto r = checked<wire::WriteBreakPointArgs>(request(std::move(m)),
                                              fmt::format("writing a breakpoint at {:#x}", address));
  if (!r) return std::unexpected(r.error());
  return r->break_point_handle;
}

Result<void> KdSession::restore_breakpoint(std::uint32_t handle) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::RestoreBreakPoint);
  m.args = wire::RestoreBreakPointArgs{handle};
  auto r = checked<wire::RestoreBreakPointArgs>(request(std::move(m)), "restoring a breakpoint");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<StopEvent> KdSession::resume(const ResumeOptions& o) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::Continue2);
  m.processor = current_processor();
  m.return_status = o.status;  // WinDbg also carries the status here
  wire::Continue2Args c;
  c.continue_status = o.status;
  c.trace_flag = o.single_step ? 1 : 0;
  c.dr7 = o.dr7;
  m.args = c;
  return call_stop(std::move(m), std::nullopt, o.break_in);
}

void KdSession::request_break() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    if (!runner_) return;
    runner_->session().break_in(Clock::now());
    runner_->pump();
  });
}

Result<StopEvent> KdSession::switch_processor(std::uint16_t processor) {
  if (processor >= number_processors())
    return std::unexpected(Error{fmt::format("processor {} does not exist (the target has {})", processor,
                                             number_processors())});
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::SwitchProcessor);
  m.processor = processor;
  // The other processor answers at once with a state change.
  return call_stop(std::move(m), options_.request_timeout);
}

Result<StopEvent> KdSession::reboot() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::Reboot);
  m.processor = current_processor();
  have_version_ = false;  // the rebooted kernel reports itself again
  return call_stop(std::move(m), std::nullopt);
}

Result<StopEvent> KdSession::cause_bugcheck() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::CauseBugCheck);
  m.processor = current_processor();
  return call_stop(std::move(m), std::nullopt);
}

}  // namespace openkd::debugger
