#include "core/debugger/session.hpp"

#include <csignal>
#include <fmt/format.h>
#include <fstream>
#include <iterator>

namespace openkd::debugger {

using wire::kdcom::Packet;
using wire::kdcom::PacketType;
using Clock = std::chrono::steady_clock;

namespace {

link::LinkConfig host_config(const SessionOptions& o) {
  auto c = link::LinkConfig::host(link::IdScheme::Kdcom);
  c.max_resets = o.resets > 0 ? o.resets : 0;  // resets=0 and the default keep resetting
  return c;
}

std::string api_label(std::uint32_t api) {
  auto n = wire::api_name(api);
  return n ? std::string(*n) : fmt::format("API {:#x}", api);
}

std::string utf16_to_utf8(const std::u16string& s) {
  std::string out;
  for (char16_t c : s) out.push_back(c < 0x80 ? char(c) : '?');
  return out;
}

}  // namespace

KdSession::KdSession(SessionOptions options)
    : options_(std::move(options)), link_(host_config(options_)), kdfiles_(options_.kdfiles) {}

KdSession::~KdSession() { close(); }

Result<void> KdSession::start() {
  // A target that goes away must be an error code on write, not a SIGPIPE that
  // ends the process: leave a handler the program set, replace only the default.
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
  asio::co_spawn(io_, run_transport(), asio::detached);
  asio::co_spawn(io_, run_timer(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return opened_ || failure_; });
  if (!opened_) return std::unexpected(Error{*failure_});
  return {};
}

void KdSession::close() {
  if (thread_.joinable()) {
    asio::post(io_, [this] {
      if (stream_) stream_->close();
      io_.stop();
    });
    thread_.join();
  }
}

void KdSession::fail(std::string why) {
  {
    std::lock_guard lock(mutex_);
    if (!failure_) failure_ = std::move(why);
  }
  cv_.notify_all();
}

void KdSession::notice(std::string line) {
  if (callbacks_.on_notice) callbacks_.on_notice(line);
}

asio::awaitable<void> KdSession::run_transport() {
  bool ever_opened = false;
  for (;;) {
    auto opened = co_await options_.open();
    if (!opened) {
      if (!options_.reconnect || !ever_opened) {
        if (!options_.reconnect) {
          fail(opened.error());
          co_return;
        }
      }
      // reconnect: the VM may not be up yet; try again shortly.
      asio::steady_timer wait(io_, std::chrono::milliseconds(250));
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    stream_ = std::move(*opened);
    if (!ever_opened) {
      ever_opened = true;
      {
        std::lock_guard lock(mutex_);
        opened_ = true;
      }
      cv_.notify_all();
    } else {
      notice(fmt::format("Reconnected to {}", stream_->describe()));
    }
    link_.start_sync(Clock::now());
    flush();
    std::array<std::uint8_t, 8192> buf;
    for (;;) {
      auto [ec, n] = co_await stream_->read_some(asio::buffer(buf));
      if (ec || n == 0) {
        std::string what = stream_->describe();
        stream_->close();
        stream_.reset();
        out_.clear();
        if (options_.reconnect) {
          notice(fmt::format("Lost connection to {} ({}); waiting to reconnect...", what, ec.message()));
          break;
        }
        fail(fmt::format("connection to the target lost ({}: {})", what, ec ? ec.message() : "end of file"));
        co_return;
      }
      link_.on_receive(wire::ByteView(buf.data(), n), Clock::now());
      handle_events();
      flush();
    }
  }
}

asio::awaitable<void> KdSession::run_timer() {
  // The link reads no clock: wake at its next deadline, and at least every
  // 50 ms so deadlines set by new sends are not missed.
  for (;;) {
    auto now = Clock::now();
    auto wake = now + std::chrono::milliseconds(50);
    if (auto d = link_.next_deadline(); d && *d < wake) wake = *d;
    timer_.expires_at(wake);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted && io_.stopped()) co_return;
    link_.on_timer(Clock::now());
    handle_events();
    flush();
  }
}

void KdSession::flush() {
  while (auto f = link_.take_frame()) out_.push_back(std::move(*f));
  if (writing_ || !stream_ || out_.empty()) return;
  writing_ = true;
  asio::co_spawn(io_, [this]() -> asio::awaitable<void> {
    while (stream_ && !out_.empty()) {
      wire::Bytes frame = std::move(out_.front());
      out_.pop_front();
      auto ec = co_await stream_->write_all(asio::buffer(frame));
      if (ec) break;  // the reader sees the failure and reports it
    }
    writing_ = false;
  }, asio::detached);
}

void KdSession::send_packet(PacketType type, wire::Bytes body) {
  if (auto r = link_.send(type, std::move(body), Clock::now()); !r)
    notice(fmt::format("cannot send packet: {}", link::to_string(r.error())));
  flush();
}

void KdSession::handle_events() {
  while (auto ev = link_.take_event()) {
    if (auto* p = std::get_if<link::PacketReceived>(&*ev)) {
      handle_packet(p->packet);
    } else if (auto* g = std::get_if<link::PeerGone>(&*ev)) {
      fail(fmt::format("the target stopped answering ({} packet(s) dropped)", g->dropped));
    } else if (std::holds_alternative<link::SendComplete>(*ev) && resync_after_send_) {
      // The target took the Reboot request and restarts: its new KD stub counts
      // ids from the beginning, so resynchronise (RESET) as WinDbg does.
      resync_after_send_ = false;
      link_.start_sync(Clock::now());
    } else if (std::holds_alternative<link::Synchronized>(*ev)) {
      notice("Connected: link synchronised");
    } else {
      notice(link::describe(*ev));
    }
  }
}

void KdSession::handle_packet(const Packet& p) {
  switch (p.type) {
    case PacketType::StateChange64: {
      auto s = wire::decode_state_change(p.body);
      if (!s) {
        notice("malformed state change ignored: " + s.error().message);
        return;
      }
      {
        std::lock_guard lock(mutex_);
        stops_.push_back(StopEvent{std::move(*s)});
        running_ = false;
      }
      cv_.notify_all();
      return;
    }
    case PacketType::StateManipulate: {
      auto m = wire::decode_manipulate(p.body);
      if (!m) {
        notice("malformed manipulate reply ignored: " + m.error().message);
        return;
      }
      {
        std::lock_guard lock(mutex_);
        if (m->api != awaited_api_ || reply_) {
          notice(fmt::format("unexpected {} reply ignored", api_label(m->api)));
          return;
        }
        reply_ = std::move(*m);
      }
      cv_.notify_all();
      return;
    }
    case PacketType::DebugIo: handle_debug_io(p); return;
    case PacketType::FileIo: handle_file_io(p); return;
    case PacketType::TraceIo: return;  // ETW trace buffers: nothing to show yet
    default: notice(fmt::format("ignored packet of type {}", wire::kdcom::to_string(p.type)));
  }
}

void KdSession::handle_debug_io(const Packet& p) {
  auto d = wire::decode_debug_io(p.body);
  if (!d) {
    notice("malformed debug I/O ignored: " + d.error().message);
    return;
  }
  if (d->api == wire::kDebugIoPrintString) {
    if (callbacks_.on_print) callbacks_.on_print(d->text);
    return;
  }
  if (d->api == wire::kDebugIoGetString) {
    // The user's answer may take a while: ask on another thread so the link keeps running.
    auto prompt = callbacks_.on_prompt;
    wire::DebugIo request = *d;
    std::thread([this, prompt, request]() mutable {
      std::string answer = prompt ? prompt(request.text, request.length_of_string_read) : std::string{};
      if (answer.size() > request.length_of_string_read) answer.resize(request.length_of_string_read);
      wire::DebugIo reply = request;
      reply.text = answer;
      reply.length_of_string_read = static_cast<std::uint32_t>(answer.size());
      asio::post(io_, [this, body = wire::encode(reply)]() mutable {
        send_packet(PacketType::DebugIo, std::move(body));
      });
    }).detach();
  }
}

void KdSession::handle_file_io(const Packet& p) {
  auto f = wire::decode_file_io(p.body);
  if (!f) {
    notice("malformed file I/O ignored: " + f.error().message);
    return;
  }
  wire::FileIo reply = *f;
  reply.path.clear();
  reply.data.clear();
  reply.status = wire::kStatusNoSuchFile;
  if (f->api == wire::kFileIoCreateFile) {
    std::string name = utf16_to_utf8(f->path);
    std::map<std::string, std::string> files;
    {
      std::lock_guard lock(mutex_);
      files = kdfiles_;
    }
    for (const auto& [target_path, host_path] : files) {
      // .kdfiles compares names case-insensitively and by tail (\SystemRoot\...\x.sys).
      auto lower = [](std::string s) {
        for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
        return s;
      };
      std::string a = lower(name), b = lower(target_path);
      if (a == b || (a.size() > b.size() && a.ends_with(b) && a[a.size() - b.size() - 1] == '\\')) {
        std::ifstream in(host_path, std::ios::binary | std::ios::ate);
        if (!in) break;
        auto& args = std::get<wire::CreateFileArgs>(reply.args);
        args.length = static_cast<std::uint64_t>(in.tellg());
        args.handle = next_file_handle_++;
        open_files_[args.handle] = host_path;
        reply.status = wire::kStatusSuccess;
        notice(fmt::format("KdPullRemoteFile: serving {} from {}", name, host_path));
        break;
      }
    }
  } else if (f->api == wire::kFileIoReadFile) {
    auto* args = std::get_if<wire::FileTransferArgs>(&reply.args);
    if (args && open_files_.count(args->handle)) {
      std::ifstream in(open_files_[args->handle], std::ios::binary);
      in.seekg(static_cast<std::streamoff>(args->offset));
      std::uint32_t want = std::min<std::uint32_t>(args->length, 4000 - 64);
      reply.data.resize(want);
      in.read(reinterpret_cast<char*>(reply.data.data()), want);
      reply.data.resize(static_cast<std::size_t>(in.gcount()));
      args->length = static_cast<std::uint32_t>(reply.data.size());
      reply.status = wire::kStatusSuccess;
    }
  } else if (f->api == wire::kFileIoCloseFile) {
    if (auto* args = std::get_if<wire::CloseFileArgs>(&reply.args); args && open_files_.erase(args->handle))
      reply.status = wire::kStatusSuccess;
  }
  send_packet(PacketType::FileIo, wire::encode(reply));
}

// ---------------------------------------------------------------- engine side

Result<StopEvent> KdSession::wait_for_stop(std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lock(mutex_);
  auto ready = [&] { return !stops_.empty() || failure_.has_value(); };
  if (timeout) {
    if (!cv_.wait_for(lock, *timeout, ready)) return std::unexpected(Error{"timed out waiting for the target"});
  } else {
    cv_.wait(lock, ready);
  }
  if (stops_.empty()) return std::unexpected(Error{*failure_});
  last_stop_ = std::move(stops_.front());
  stops_.pop_front();
  running_ = false;
  lock.unlock();
  if (!have_version_) {
    wire::Manipulate m;
    m.api = static_cast<std::uint32_t>(wire::Api::GetVersion);
    m.args = wire::GetVersion64{};
    auto r = request(m);
    if (!r) return std::unexpected(r.error());
    if (auto* v = std::get_if<wire::GetVersion64>(&r->args)) {
      version_ = *v;
      have_version_ = true;
    }
  }
  return last_stop_;
}

bool KdSession::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

link::LinkCounters KdSession::counters() const {
  // Read on the I/O thread's behalf: the counters are plain integers, a torn read only mis-prints.
  return link_.counters();
}

std::string KdSession::transport_description() const { return stream_ ? stream_->describe() : std::string{}; }

void KdSession::set_kdfiles(std::map<std::string, std::string> files) {
  std::lock_guard lock(mutex_);
  kdfiles_ = std::move(files);
}

std::uint32_t KdSession::number_processors() const { return last_stop_.change.number_processors; }
std::uint16_t KdSession::current_processor() const { return last_stop_.change.processor; }

void KdSession::set_callbacks(TargetCallbacks callbacks) {
  asio::post(io_, [this, callbacks = std::move(callbacks)]() mutable { callbacks_ = std::move(callbacks); });
  if (!thread_.joinable()) callbacks_ = callbacks;  // not started: set directly
}

Result<wire::Manipulate> KdSession::request(wire::Manipulate m) {
  m.processor = current_processor();
  {
    std::lock_guard lock(mutex_);
    if (failure_) return std::unexpected(Error{*failure_});
    if (running_) return std::unexpected(Error{"the target is running: break in first (Ctrl-C)"});
    reply_.reset();
    awaited_api_ = m.api;
  }
  asio::post(io_, [this, body = wire::encode(m)]() mutable { send_packet(PacketType::StateManipulate, std::move(body)); });
  std::unique_lock lock(mutex_);
  if (!cv_.wait_for(lock, options_.request_timeout, [&] { return reply_.has_value() || failure_.has_value(); }))
    return std::unexpected(Error{fmt::format("the target did not answer {} within {} s", api_label(m.api),
                                             options_.request_timeout.count() / 1000)});
  if (!reply_) return std::unexpected(Error{*failure_});
  wire::Manipulate reply = std::move(*reply_);
  reply_.reset();
  awaited_api_ = 0;
  return reply;
}

Result<std::size_t> KdSession::transfer(wire::Api api, std::uint64_t address, std::span<std::uint8_t> in,
                                        wire::ByteView out, std::uint32_t flags) {
  const bool reading = !in.empty();
  const std::size_t total = reading ? in.size() : out.size();
  std::size_t done = 0;
  while (done < total) {
    std::size_t chunk = std::min(total - done, wire::kMaxReadChunk);
    wire::Manipulate m;
    m.api = static_cast<std::uint32_t>(api);
    m.args = wire::MemoryTransfer{address + done, static_cast<std::uint32_t>(chunk), flags};
    if (!reading) m.data.assign(out.begin() + done, out.begin() + done + chunk);
    auto r = request(std::move(m));
    if (!r) return std::unexpected(r.error());
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
        return std::unexpected(Error{fmt::format("Memory access error at {:#x}", address), r->return_status});
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
    return std::unexpected(Error{fmt::format("{} failed: status {:08x}", what, r->return_status), r->return_status});
  if (auto* a = std::get_if<Args>(&r->args)) return *a;
  return std::unexpected(Error{fmt::format("{}: reply has the wrong layout", what)});
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
    return std::unexpected(Error{fmt::format("GetContext failed: status {:08x}", r->return_status), r->return_status});
  auto c = wire::decode_context(r->data);
  if (!c) return std::unexpected(Error{c.error().message});
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
  auto s = wire::decode_special_registers(wire::ByteView(buf.data(), *n));
  if (!s) return std::unexpected(Error{s.error().message});
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

Result<StopEvent> KdSession::send_and_wait_stop(wire::Manipulate m) {
  if (static_cast<wire::Api>(m.api) != wire::Api::SwitchProcessor) m.processor = current_processor();
  {
    std::lock_guard lock(mutex_);
    if (failure_) return std::unexpected(Error{*failure_});
    running_ = true;
  }
  asio::post(io_, [this, body = wire::encode(m)]() mutable { send_packet(PacketType::StateManipulate, std::move(body)); });
  return wait_for_stop();
}

Result<StopEvent> KdSession::resume(const ResumeOptions& o) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::Continue2);
  m.return_status = o.status;  // WinDbg also carries the status here
  wire::Continue2Args c;
  c.continue_status = o.status;
  c.trace_flag = o.single_step ? 1 : 0;
  c.dr7 = o.dr7;
  m.args = c;
  return send_and_wait_stop(std::move(m));
}

void KdSession::request_break() {
  asio::post(io_, [this] {
    link_.send_break_in();
    flush();
  });
}

Result<StopEvent> KdSession::switch_processor(std::uint16_t processor) {
  if (processor >= number_processors())
    return std::unexpected(Error{fmt::format("processor {} does not exist (the target has {})", processor,
                                             number_processors())});
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::SwitchProcessor);
  m.processor = processor;
  return send_and_wait_stop(std::move(m));
}

Result<StopEvent> KdSession::reboot() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::Reboot);
  have_version_ = false;  // the rebooted kernel reports itself again
  asio::post(io_, [this] { resync_after_send_ = true; });
  return send_and_wait_stop(std::move(m));
}

Result<StopEvent> KdSession::cause_bugcheck() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::CauseBugCheck);
  return send_and_wait_stop(std::move(m));
}

}  // namespace openkd::debugger
