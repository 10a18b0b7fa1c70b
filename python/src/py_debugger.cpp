#include "python/src/py_debugger.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include "backends/connect_string.hpp"
#include "backends/stream.hpp"
#include "core/commands/registers.hpp"
#include "python/src/errors.hpp"

namespace openkd::py {

namespace asio = boost::asio;
using Kind = KdError::Kind;
using debugger::Result;

std::string StopInfo::describe() const {
  std::string s = fmt::format("{} on processor {}", reason, processor);
  if (reason == "module_load" || reason == "module_unload") return s + fmt::format(": {} at {:#x}", module, module_base);
  s += fmt::format(" at {:#x}", address);
  if (code) s += fmt::format(" (code {:#010x})", code);
  if (breakpoint) s += fmt::format(" (breakpoint {})", *breakpoint);
  return s;
}

namespace {

const char* error_kind_name(debugger::ErrorKind k) {
  using debugger::ErrorKind;
  switch (k) {
    case ErrorKind::Status: return "status";
    case ErrorKind::Malformed: return "malformed";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Disconnected: return "disconnected";
    case ErrorKind::Running: return "running";
    case ErrorKind::Busy: return "busy";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Unsupported: return "unsupported";
    default: return "failed";
  }
}

/// The engine's text, kept for the job that is running.
class CaptureOutput final : public commands::Output {
public:
  void write(std::string_view text) override {
    std::lock_guard lock(m_);
    if (text_.size() < (16u << 20)) text_.append(text);  // bounded: a runaway command cannot eat memory
  }
  std::string take() {
    std::lock_guard lock(m_);
    return std::exchange(text_, {});
  }

private:
  std::mutex m_;
  std::string text_;
};

/// A bounded record of what went to the target and what came back, for the
/// pytest plugin's failure report. One line per request; cheap (a ring).
class TrafficRing {
public:
  void add(std::string line) {
    std::lock_guard lock(m_);
    if (ring_.size() >= kLimit) ring_.pop_front();
    ring_.push_back(fmt::format("#{} {}", ++seq_, line));
  }
  std::vector<std::string> tail(std::size_t n) const {
    std::lock_guard lock(m_);
    n = std::min(n, ring_.size());
    return {ring_.end() - std::ptrdiff_t(n), ring_.end()};
  }

private:
  static constexpr std::size_t kLimit = 512;
  mutable std::mutex m_;
  std::deque<std::string> ring_;
  std::uint64_t seq_ = 0;
};

}  // namespace

/// The session as the engine sees it, with every stop observed (typed stop,
/// breakpoint hits, events) and every request recorded in the traffic ring.
class ObservedTarget final : public debugger::Target {
public:
  ObservedTarget(debugger::KdSession& s, TrafficRing& traffic, std::function<void(const debugger::StopEvent&)> on_stop)
      : s_(s), traffic_(traffic), on_stop_(std::move(on_stop)) {}

  template <class T>
  Result<T> note(const char* api, const std::string& args, Result<T> r) {
    if (r) traffic_.add(fmt::format("{} {} -> ok", api, args));
    else
      traffic_.add(fmt::format("{} {} -> {} {:#010x}: {}", api, args, error_kind_name(r.error().kind), r.error().ntstatus,
                               r.error().message));
    return r;
  }
  Result<debugger::StopEvent> stop(const char* api, const std::string& args, Result<debugger::StopEvent> r) {
    note(api, args, r);
    if (r) {
      traffic_.add(fmt::format("StateChange processor {} pc {:#x}", r->change.processor, r->change.program_counter));
      on_stop_(*r);
    } else {
      last_resume_error = r.error();
    }
    return r;
  }
  std::optional<debugger::Error> last_resume_error;

  const wire::GetVersion64& version() const override { return s_.version(); }
  std::uint32_t number_processors() const override { return s_.number_processors(); }
  std::uint16_t current_processor() const override { return s_.current_processor(); }
  const debugger::StopEvent& last_stop() const override { return s_.last_stop(); }
  Result<std::size_t> read_virtual(std::uint64_t a, std::span<std::uint8_t> out) override {
    return note("ReadVirtualMemory", fmt::format("{:#x} L{:#x}", a, out.size()), s_.read_virtual(a, out));
  }
  Result<std::size_t> write_virtual(std::uint64_t a, wire::ByteView d) override {
    return note("WriteVirtualMemory", fmt::format("{:#x} L{:#x}", a, d.size()), s_.write_virtual(a, d));
  }
  Result<std::size_t> read_physical(std::uint64_t a, std::span<std::uint8_t> out) override {
    return note("ReadPhysicalMemory", fmt::format("{:#x} L{:#x}", a, out.size()), s_.read_physical(a, out));
  }
  Result<std::size_t> write_physical(std::uint64_t a, wire::ByteView d) override {
    return note("WritePhysicalMemory", fmt::format("{:#x} L{:#x}", a, d.size()), s_.write_physical(a, d));
  }
  Result<std::uint64_t> search_memory(std::uint64_t start, std::uint64_t length, wire::ByteView p) override {
    return note("SearchMemory", fmt::format("{:#x} L{:#x}", start, length), s_.search_memory(start, length, p));
  }
  Result<std::uint32_t> fill_memory(std::uint64_t a, std::uint32_t n, wire::ByteView p, bool phys) override {
    return note("FillMemory", fmt::format("{:#x} L{:#x}", a, n), s_.fill_memory(a, n, p, phys));
  }
  Result<wire::Context> get_context() override { return note("GetContext", "", s_.get_context()); }
  Result<void> set_context(const wire::Context& c) override { return note("SetContext", "", s_.set_context(c)); }
  Result<wire::SpecialRegisters> get_special_registers() override {
    return note("ReadControlSpace", "KSPECIAL_REGISTERS", s_.get_special_registers());
  }
  Result<void> set_special_registers(const wire::SpecialRegisters& r) override {
    return note("WriteControlSpace", "KSPECIAL_REGISTERS", s_.set_special_registers(r));
  }
  Result<std::uint64_t> read_control_pointer(std::uint64_t w) override {
    return note("ReadControlSpace", std::to_string(w), s_.read_control_pointer(w));
  }
  Result<std::uint64_t> read_msr(std::uint32_t m) override { return note("ReadMachineSpecificRegister", fmt::format("{:#x}", m), s_.read_msr(m)); }
  Result<void> write_msr(std::uint32_t m, std::uint64_t v) override {
    return note("WriteMachineSpecificRegister", fmt::format("{:#x}", m), s_.write_msr(m, v));
  }
  Result<std::uint32_t> read_io(std::uint64_t p, std::uint32_t n) override { return note("ReadIoSpace", fmt::format("{:#x}", p), s_.read_io(p, n)); }
  Result<void> write_io(std::uint64_t p, std::uint32_t n, std::uint32_t v) override {
    return note("WriteIoSpace", fmt::format("{:#x}", p), s_.write_io(p, n, v));
  }
  Result<std::uint32_t> write_breakpoint(std::uint64_t a) override {
    return note("WriteBreakPoint", fmt::format("{:#x}", a), s_.write_breakpoint(a));
  }
  Result<void> restore_breakpoint(std::uint32_t h) override {
    return note("RestoreBreakPoint", std::to_string(h), s_.restore_breakpoint(h));
  }
  Result<debugger::StopEvent> resume(const debugger::ResumeOptions& o) override {
    last_resume_error.reset();
    return stop("Continue2", fmt::format("status {:#x}{}", o.status, o.single_step ? " trace" : ""), s_.resume(o));
  }
  void request_break() override { s_.request_break(); }
  Result<debugger::StopEvent> switch_processor(std::uint16_t p) override {
    return stop("SwitchProcessor", std::to_string(p), s_.switch_processor(p));
  }
  Result<debugger::StopEvent> reboot() override { return stop("Reboot", "", s_.reboot()); }
  Result<debugger::StopEvent> cause_bugcheck() override { return stop("CauseBugCheck", "", s_.cause_bugcheck()); }
  void set_callbacks(debugger::TargetCallbacks c) override { s_.set_callbacks(std::move(c)); }

private:
  debugger::KdSession& s_;
  TrafficRing& traffic_;
  std::function<void(const debugger::StopEvent&)> on_stop_;
};

class DebuggerCore {
public:
  explicit DebuggerCore(DebuggerOptions o) : options_(std::move(o)) {}

  void open() {
    auto spec = backends::parse_connect_string(options_.connect);
    if (!spec) throw KdError(Kind::Error, "bad connection string '" + options_.connect + "': " + spec.error());
    debugger::SessionOptions so;
    so.resets = spec->resets;
    so.reconnect = spec->reconnect;
    so.request_timeout = options_.request_timeout;
    if (spec->kind == backends::ConnectSpec::Kind::Net) so.scheme = link::IdScheme::Kdnet;  // as kd does
    if (spec->kind == backends::ConnectSpec::Kind::Sim) {
      SimConfig c = options_.sim;
      c.cpus = spec->cpus;
      c.seed = spec->seed;
      c.build = spec->build;
      c.break_on_boot = true;
      // Boot options to answer with: the kernel is asked to prompt for them.
      c.boot_prompt = spec->boot_prompt || !options_.boot_options.empty();
      sim_ = std::make_unique<SimHost>(c);
      sim_fd_ = sim_->socketpair();
      const int fd = sim_fd_;
      so.open = [fd]() { return backends::async_open_dup(fd, "simulator (in process)"); };
    } else {
      so.open = [s = *spec]() { return backends::async_open_stream(s); };
    }
    session_ = std::make_unique<debugger::KdSession>(std::move(so));
    target_ = std::make_unique<ObservedTarget>(*session_, traffic_, [this](const debugger::StopEvent& s) { on_stop(s); });
    session_->set_callbacks(debugger::TargetCallbacks{
        [this](std::string_view text) {
          prints_.push(std::string(text));
          emit(Event{"print", std::string(text), std::nullopt});
        },
        [this](std::uint64_t id, std::string_view prompt, std::uint32_t max) {
          // The I/O thread: answer at once (never block here).
          std::string answer = options_.boot_options.substr(0, max);
          traffic_.add(fmt::format("DbgPrompt \"{}\" answered \"{}\"", prompt, answer));
          session_->answer_prompt(id, answer);
        },
        [this](std::string_view line) {
          traffic_.add(fmt::format("notice: {}", line));
          emit(Event{"notice", std::string(line), std::nullopt});
        },
        [this](std::string_view line) {
          traffic_.add(fmt::format("connection: {}", line));
          emit(Event{"connection", std::string(line), std::nullopt});
        },
        [this](std::uint64_t) {
          // Prompts are answered at once above, so none is ever left to withdraw.
          traffic_.add("DbgPrompt withdrawn: its target restarted or went away");
        }});
    if (auto r = session_->start(); !r) throw to_kd_error(r.error());
    session_->request_break();
  }

  /// Waits up to `slice` for the first stop (so the caller can honour Ctrl-C
  /// between slices); true once attached. Throws when the target is gone.
  bool attach(std::chrono::milliseconds slice) {
    check_open();
    std::lock_guard lock(target_mutex_);
    if (engine_) return true;
    auto first = session_->wait_for_stop(slice);
    if (!first) {
      if (first.error().kind == debugger::ErrorKind::Timeout) return false;
      throw to_kd_error(first.error());
    }
    traffic_.add(fmt::format("attached: {} processor(s), stopped at {:#x}", session_->number_processors(),
                             first->change.program_counter));
    modules_ = std::make_unique<debugger::ModuleList>(*session_, debugger::kernel_location(session_->version()));
    symbols_ = std::make_unique<debugger::SymbolTable>(*session_, *modules_);
    commands::EngineOptions eo;
    eo.break_on_module_load = options_.break_on_module_load;
    engine_ = std::make_shared<commands::Engine>(*target_, output_, eo);
    {
      std::lock_guard cl(cancel_mutex_);
      cancel_handle_ = engine_;
    }
    engine_->report_stop(*first);
    (void)output_.take();
    on_stop(*first);
    attached_ = true;
    return true;
  }

  ~DebuggerCore() { close(); }

  void close() {
    {
      std::lock_guard lock(state_mutex_);
      if (closed_) return;
      closed_ = true;
    }
    if (session_) {
      session_->request_break();
      session_->cancel_wait();
      cancel_engine();
    }
    bool job_running;
    {
      std::lock_guard lock(job_mutex_);
      job_running = job_.joinable();
    }
    if (job_running) {
      // A job still in the engine ends once the session closes under it.
      if (session_) session_->close();
      join_job();
    }
    {
      std::lock_guard lock(cancel_mutex_);
      cancel_handle_.reset();
    }
    {
      std::lock_guard lock(target_mutex_);
      engine_.reset();
      symbols_.reset();
      modules_.reset();
      if (session_) session_->close();
    }
    if (sim_) sim_->close();
    if (sim_fd_ >= 0) ::close(sim_fd_);
    sim_fd_ = -1;
    prints_.close();
    events_.close();
  }

  void check_open() {
    std::lock_guard lock(state_mutex_);
    if (closed_) throw KdError(Kind::Connection, "the debugger is closed");
  }
  /// The target for one direct call, waiting at most request_timeout: a command
  /// may hold it for as long as the target runs (a remote client's `g`).
  std::unique_lock<std::timed_mutex> lock_target() {
    std::unique_lock lock(target_mutex_, std::defer_lock);
    if (!lock.try_lock_for(options_.request_timeout))
      throw KdError(Kind::Running, "the target is busy: a command (a remote client's `g`?) has held it for " +
                                       std::to_string(options_.request_timeout.count() / 1000) +
                                       " s; break in or wait for it to stop");
    return lock;
  }
  void check_stopped() {
    check_open();
    if (!attached_) throw KdError(Kind::Running, "not attached yet: the target has not stopped");
    if (resuming_) throw KdError(Kind::Running, "the target is running: call wait() or break_in() first");
  }

  // ---- jobs
  void start_job(std::string line, bool resumes) {
    check_stopped();
    std::lock_guard lock(job_mutex_);
    if (job_active_) throw KdError(Kind::Running, "another command is still running: call wait() first");
    if (job_.joinable()) job_.join();  // finished (job_done_), so this returns at once
    job_active_ = true;
    job_done_ = false;
    job_error_ = nullptr;
    resuming_ = resumes;
    job_ = std::thread([this, line = std::move(line)] {
      std::string out;
      std::exception_ptr error;
      try {
        std::lock_guard tlock(target_mutex_);
        if (!engine_) throw KdError(Kind::Connection, "the debugger is closed");
        target_->last_resume_error.reset();
        engine_->execute(line);
        session_->set_kdfiles(engine_->kdfiles());
        out = output_.take();
        if (target_->last_resume_error) {
          auto e = *target_->last_resume_error;
          if (e.kind != debugger::ErrorKind::Cancelled) throw to_kd_error(e);
        }
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard jl(job_mutex_);
        job_output_ = std::move(out);
        job_error_ = error;
        job_done_ = true;
        resuming_ = false;
      }
      job_cv_.notify_all();
    });
  }
  bool wait_job(std::chrono::milliseconds slice) {
    std::unique_lock lock(job_mutex_);
    if (!job_active_) return true;
    return job_cv_.wait_for(lock, slice, [&] { return job_done_; });
  }
  std::string finish_job() {
    std::unique_lock lock(job_mutex_);
    if (!job_active_) return {};
    job_cv_.wait(lock, [&] { return job_done_; });
    job_active_ = false;
    auto error = std::exchange(job_error_, nullptr);
    std::string out = std::exchange(job_output_, {});
    lock.unlock();
    join_job();
    if (error) std::rethrow_exception(error);
    return out;
  }
  bool job_active() {
    std::lock_guard lock(job_mutex_);
    return job_active_;
  }
  void interrupt() {
    cancel_engine();
    session_->request_break();
  }
  /// Asks a running command to stop, from any thread: the engine is reached
  /// through its own handle, not through engine_ (which close() replaces under
  /// target_mutex_, held by that very command).
  void cancel_engine() {
    std::shared_ptr<commands::Engine> e;
    {
      std::lock_guard lock(cancel_mutex_);
      e = cancel_handle_;
    }
    if (e) e->request_cancel();
  }
  /// Joins the job thread once, whoever asks (close(), finish_job(), start_job()).
  void join_job() {
    std::thread t;
    {
      std::lock_guard lock(job_mutex_);
      t = std::move(job_);
    }
    // No Python code runs on the job thread (callbacks have their own), so
    // this is never the job joining itself.
    if (t.joinable()) t.join();
  }
  void break_in() {
    check_open();
    session_->request_break();
  }

  // ---- direct calls
  std::vector<std::uint8_t> read(bool physical, std::uint64_t address, std::size_t n) {
    check_stopped();
    if (n > (64u << 20)) throw KdError(Kind::Error, "read: at most 64 MiB at once");
    std::vector<std::uint8_t> out(n);
    auto lock = lock_target();
    std::size_t done = 0;
    while (done < n) {
      std::span<std::uint8_t> rest(out.data() + done, n - done);
      auto r = physical ? target_->read_physical(address + done, rest) : target_->read_virtual(address + done, rest);
      if (!r) {
        auto e = to_kd_error(r.error());
        if (r.error().kind == debugger::ErrorKind::Status)
          e = KdError(Kind::Target, fmt::format("Memory access error at {:016x} ({})", address + done, r.error().message),
                      r.error().ntstatus);
        throw e;
      }
      if (*r == 0) throw KdError(Kind::Target, fmt::format("Memory access error at {:016x}", address + done), 0xC0000005);
      done += *r;
    }
    return out;
  }
  std::size_t write(bool physical, std::uint64_t address, const std::uint8_t* data, std::size_t n) {
    check_stopped();
    auto lock = lock_target();
    std::size_t done = 0;
    while (done < n) {
      wire::ByteView rest(data + done, n - done);
      auto r = physical ? target_->write_physical(address + done, rest) : target_->write_virtual(address + done, rest);
      if (!r) throw to_kd_error(r.error());
      if (*r == 0) throw KdError(Kind::Target, fmt::format("Memory access error at {:016x}", address + done), 0xC0000005);
      done += *r;
    }
    return done;
  }
  std::map<std::string, std::uint64_t> registers() {
    check_stopped();
    auto lock = lock_target();
    auto ctx = target_->get_context();
    if (!ctx) throw to_kd_error(ctx.error());
    std::map<std::string, std::uint64_t> out;
    for (const char* name : {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12",
                             "r13", "r14", "r15", "rip", "efl", "cs", "ds", "es", "fs", "gs", "ss", "dr0", "dr1", "dr2",
                             "dr3", "dr6", "dr7"})
      if (auto v = commands::get_register(*ctx, name)) out[name] = *v;
    return out;
  }
  void set_register(const std::string& name, std::uint64_t value) {
    check_stopped();
    auto lock = lock_target();
    auto ctx = target_->get_context();
    if (!ctx) throw to_kd_error(ctx.error());
    std::string lower;
    for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (!commands::set_register(*ctx, lower, value)) throw KdError(Kind::Error, "Bad register error: no register '" + name + "'");
    if (auto r = target_->set_context(*ctx); !r) throw to_kd_error(r.error());
    engine_->invalidate();  // the engine caches registers
  }
  std::vector<debugger::Module> modules() {
    check_stopped();
    auto lock = lock_target();
    return modules_->modules();
  }
  std::string symbol(std::uint64_t address) {
    check_stopped();
    auto lock = lock_target();
    return symbols_->describe(address);
  }
  std::optional<std::uint64_t> address(const std::string& name) {
    check_stopped();
    auto lock = lock_target();
    return symbols_->address_of(name);
  }
  StopInfo last_stop() {
    std::lock_guard lock(stop_mutex_);
    return last_stop_;
  }

  std::pair<unsigned, std::uint64_t> set_breakpoint(const std::string& expression) {
    check_stopped();
    auto lock = lock_target();
    auto before = engine_->breakpoints().all();
    engine_->execute("bp " + expression);
    std::string out = output_.take();
    const commands::Breakpoint* made = nullptr;
    for (const auto& bp : engine_->breakpoints().all()) {
      bool old = false;
      for (const auto& b : before) old = old || (b.id == bp.id && b.address == bp.address && b.deferred == bp.deferred);
      if (!old) made = &bp;
    }
    if (!made) {
      // "breakpoint N redefined": the same address again.
      for (const auto& bp : engine_->breakpoints().all())
        if (out.find(fmt::format("breakpoint {} redefined", bp.id)) != std::string::npos) made = &bp;
    }
    if (!made) {
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      throw KdError(Kind::Error, out.empty() ? "bp " + expression + ": no breakpoint was set" : out);
    }
    if (made->deferred) throw KdError(Kind::Error, "bp " + expression + ": cannot resolve '" + expression + "' (deferred)");
    std::lock_guard hl(hits_mutex_);
    hits_.try_emplace(made->address, 0);
    return {made->id, made->address};
  }
  void remove_breakpoint(unsigned id) {
    check_stopped();
    auto lock = lock_target();
    engine_->execute(fmt::format("bc {}", id));
    (void)output_.take();
  }
  std::string run_command(const std::string& line) {
    check_open();
    auto lock = lock_target();
    if (!engine_) throw KdError(Kind::Connection, "the debugger is closed");
    engine_->execute(line);
    session_->set_kdfiles(engine_->kdfiles());
    return output_.take();
  }
  /// The engine's prompt; while a command holds the target (a `g`), the last one
  /// seen, so the remoting server's loop never waits on a running target.
  std::string prompt() {
    std::unique_lock lock(target_mutex_, std::try_to_lock);
    std::lock_guard pl(prompt_mutex_);
    if (lock.owns_lock()) prompt_ = engine_ ? engine_->prompt() : std::string("kd> ");
    return prompt_;
  }
  std::uint64_t hits(std::uint64_t address) {
    std::lock_guard hl(hits_mutex_);
    auto it = hits_.find(address);
    return it == hits_.end() ? 0 : it->second;
  }

  std::map<std::string, std::uint64_t> counters() const {
    auto c = session_->counters();
    return {
        {"packets_sent", c.link.packets_sent},     {"packets_received", c.link.packets_received},
        {"bytes_sent", c.link.bytes_sent},         {"bytes_received", c.link.bytes_received},
        {"retransmissions", c.link.retransmissions}, {"timeouts", c.link.timeouts},
        {"resyncs", c.link.resets_sent + c.link.unexpected_resets},
        {"resets_sent", c.link.resets_sent},       {"resets_received", c.link.resets_received},
        {"resends_sent", c.link.resends_sent},     {"resends_received", c.link.resends_received},
        {"duplicates_dropped", c.link.duplicates_dropped}, {"framing_errors", c.link.framing_errors()},
        {"bad_checksums", c.link.bad_checksums},   {"break_ins_sent", c.link.break_ins_sent},
        {"stray_stops", c.host.stray_stops},       {"malformed_packets", c.host.malformed_packets},
        {"print_bytes_dropped", c.host.print_bytes_dropped}, {"prompts", c.host.prompts},
        {"writes", c.runner.writes},               {"frames_dropped", c.runner.frames_dropped},
        {"connects", c.runner.connects},           {"prints_dropped", prints_.dropped()},
        {"events_dropped", events_.dropped()},
    };
  }

  BoundedQueue<std::string> prints_{4096};
  BoundedQueue<Event> events_{4096};
  std::atomic<BoundedQueue<Event>*> sink_{nullptr};
  TrafficRing traffic_;
  std::unique_ptr<SimHost> sim_;
  std::unique_ptr<debugger::KdSession> session_;
  bool closed() {
    std::lock_guard lock(state_mutex_);
    return closed_;
  }

private:
  void emit(Event e) {
    if (auto* s = sink_.load()) s->push(e);
    events_.push(std::move(e));
  }
  // The engine's thread, under target_mutex_ (from ObservedTarget) or during open().
  void on_stop(const debugger::StopEvent& s) {
    StopInfo info;
    const auto& c = s.change;
    info.processor = c.processor;
    info.thread = c.thread;
    info.address = c.program_counter;
    if (const auto* e = std::get_if<wire::ExceptionState>(&c.state)) {
      info.code = e->record.code;
      info.address = e->record.address;
      info.first_chance = e->first_chance != 0;
      info.parameters.assign(e->record.information.begin(),
                             e->record.information.begin() + std::min<std::uint32_t>(e->record.number_parameters, 15));
      if (e->record.code == wire::kExceptionBreakpoint) {
        info.reason = "break";
        std::lock_guard hl(hits_mutex_);
        if (auto it = hits_.find(info.address); it != hits_.end()) {
          ++it->second;
          info.reason = "breakpoint";
          if (engine_)
            for (const auto& bp : engine_->breakpoints().all())
              if (bp.address == info.address && bp.kind == commands::Breakpoint::Kind::Software) info.breakpoint = bp.id;
        }
        if (info.reason == "break" && symbols_) {
          if (!bugcheck_break_) bugcheck_break_ = symbols_->address_of("nt!RtlpBreakWithStatusInstruction").value_or(0);
          if (*bugcheck_break_ && info.address == *bugcheck_break_) info.reason = "bugcheck";
        }
      } else if (e->record.code == wire::kExceptionSingleStep) {
        info.reason = (c.control.dr6 & 0xF) ? "hardware_breakpoint" : "single_step";
      } else {
        info.reason = "exception";
      }
    } else if (const auto* l = std::get_if<wire::LoadSymbolsState>(&c.state)) {
      info.reason = l->unload ? "module_unload" : "module_load";
      info.module = l->path;
      info.module_base = l->base_of_dll;
      if (modules_) modules_->refresh();
      if (symbols_) symbols_->refresh();
    } else {
      info.reason = "command_string";
    }
    {
      std::lock_guard lock(stop_mutex_);
      last_stop_ = info;
    }
    emit(Event{"stop", info.describe(), info});
  }

  DebuggerOptions options_;
  int sim_fd_ = -1;
  std::unique_ptr<ObservedTarget> target_;
  CaptureOutput output_;
  std::unique_ptr<debugger::ModuleList> modules_;
  std::unique_ptr<debugger::SymbolTable> symbols_;
  std::shared_ptr<commands::Engine> engine_;
  std::optional<std::uint64_t> bugcheck_break_;
  std::atomic<bool> attached_{false};

  std::timed_mutex target_mutex_;  // engine, module list, symbols, target calls
  std::mutex state_mutex_;
  bool closed_ = false;
  std::mutex stop_mutex_;
  StopInfo last_stop_;
  mutable std::mutex hits_mutex_;
  std::map<std::uint64_t, std::uint64_t> hits_;

  std::mutex cancel_mutex_;
  std::shared_ptr<commands::Engine> cancel_handle_;  // engine_, for request_cancel from any thread
  std::mutex prompt_mutex_;
  std::string prompt_ = "kd> ";

  std::mutex job_mutex_;
  std::condition_variable job_cv_;
  std::thread job_;  // joined by join_job() only
  bool job_active_ = false, job_done_ = false;
  std::atomic<bool> resuming_{false};
  std::string job_output_;
  std::exception_ptr job_error_;
};

PyDebugger::PyDebugger(DebuggerOptions options) : core_(std::make_unique<DebuggerCore>(std::move(options))) {
  core_->open();
}
bool PyDebugger::attach(std::chrono::milliseconds slice) { return core_->attach(slice); }
PyDebugger::~PyDebugger() { close(); }
void PyDebugger::start_job(std::string line, bool resumes) { core_->start_job(std::move(line), resumes); }
bool PyDebugger::wait_job(std::chrono::milliseconds slice) { return core_->wait_job(slice); }
std::string PyDebugger::finish_job() { return core_->finish_job(); }
bool PyDebugger::job_active() const { return core_->job_active(); }
void PyDebugger::interrupt() { core_->interrupt(); }
void PyDebugger::break_in() { core_->break_in(); }
std::vector<std::uint8_t> PyDebugger::read_virtual(std::uint64_t a, std::size_t n) { return core_->read(false, a, n); }
std::size_t PyDebugger::write_virtual(std::uint64_t a, const std::uint8_t* d, std::size_t n) { return core_->write(false, a, d, n); }
std::vector<std::uint8_t> PyDebugger::read_physical(std::uint64_t a, std::size_t n) { return core_->read(true, a, n); }
std::size_t PyDebugger::write_physical(std::uint64_t a, const std::uint8_t* d, std::size_t n) { return core_->write(true, a, d, n); }
std::map<std::string, std::uint64_t> PyDebugger::registers() { return core_->registers(); }
void PyDebugger::set_register(const std::string& name, std::uint64_t v) { core_->set_register(name, v); }
std::vector<debugger::Module> PyDebugger::modules() { return core_->modules(); }
std::string PyDebugger::symbol(std::uint64_t a) { return core_->symbol(a); }
std::optional<std::uint64_t> PyDebugger::address(const std::string& name) { return core_->address(name); }
StopInfo PyDebugger::last_stop() { return core_->last_stop(); }
std::map<std::string, std::uint64_t> PyDebugger::counters() const { return core_->counters(); }
std::vector<std::string> PyDebugger::traffic(std::size_t n) const { return core_->traffic_.tail(n); }
std::vector<std::string> PyDebugger::packets(std::size_t n) const {
  return core_->closed() ? std::vector<std::string>{} : core_->session_->traffic(n);
}
std::uint32_t PyDebugger::processors() const { return core_->session_->number_processors(); }
std::string PyDebugger::transport() const { return core_->session_->transport_description(); }
std::pair<unsigned, std::uint64_t> PyDebugger::set_breakpoint(const std::string& e) { return core_->set_breakpoint(e); }
void PyDebugger::remove_breakpoint(unsigned id) { core_->remove_breakpoint(id); }
std::uint64_t PyDebugger::hits(std::uint64_t a) const { return core_->hits(a); }
BoundedQueue<std::string>& PyDebugger::prints() { return core_->prints_; }
BoundedQueue<Event>& PyDebugger::events() { return core_->events_; }
void PyDebugger::set_event_sink(BoundedQueue<Event>* sink) { core_->sink_ = sink; }
std::string PyDebugger::run_command(const std::string& line) { return core_->run_command(line); }
std::string PyDebugger::prompt() { return core_->prompt(); }
SimHost* PyDebugger::simulator() { return core_->sim_.get(); }
void PyDebugger::close() { core_->close(); }
bool PyDebugger::closed() const { return core_->closed(); }

}  // namespace openkd::py
