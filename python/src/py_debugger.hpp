// openkd.Debugger without Python: a KdSession (core/debugger/session.hpp), the
// command engine kd runs (core/commands) over it, the module list and export
// symbols, typed stops, bounded queues of DbgPrint text and events, and
// breakpoint hit counts. module.cpp adds the GIL, Ctrl-C and Python objects.
//
// Threads: target calls are serialised by one mutex. Commands that run the
// target (g, t, p, and any execute()) run as a "job" on a worker thread so the
// caller can wait in slices and honour Ctrl-C; break_in() is safe from any
// thread at any time.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/commands/engine.hpp"
#include "core/debugger/modules.hpp"
#include "core/debugger/session.hpp"
#include "core/debugger/symbols.hpp"
#include "python/src/sim_host.hpp"

namespace openkd::py {

struct StopInfo {
  std::string reason;  // breakpoint, break, bugcheck, single_step, hardware_breakpoint, exception,
                       // module_load, module_unload, command_string
  std::uint32_t code = 0;
  std::uint64_t address = 0;
  std::uint32_t processor = 0;
  std::uint64_t thread = 0;
  bool first_chance = true;
  std::vector<std::uint64_t> parameters;
  std::string module;  // module_load/unload: the image path
  std::uint64_t module_base = 0;
  std::optional<unsigned> breakpoint;  // the engine's breakpoint id
  std::string describe() const;
};

struct Event {
  std::string kind;  // print, stop, notice, connection
  std::string text;
  std::optional<StopInfo> stop;
};

/// A bounded FIFO: the oldest entry goes when it is full (counted).
template <class T>
class BoundedQueue {
public:
  explicit BoundedQueue(std::size_t limit) : limit_(limit) {}
  void push(T v) {
    {
      std::lock_guard lock(m_);
      if (q_.size() >= limit_) {
        q_.pop_front();
        ++dropped_;
      }
      q_.push_back(std::move(v));
    }
    cv_.notify_all();
  }
  std::optional<T> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty() || closed_; }) || q_.empty()) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    return v;
  }
  void close() {
    {
      std::lock_guard lock(m_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  std::uint64_t dropped() const {
    std::lock_guard lock(m_);
    return dropped_;
  }

private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<T> q_;
  std::size_t limit_;
  std::uint64_t dropped_ = 0;
  bool closed_ = false;
};

struct DebuggerOptions {
  std::string connect;  // any -k string, sim: included
  std::chrono::milliseconds request_timeout{10000};  // each request
  std::string boot_options;  // the answer to the target's DbgPrompt (simkrnl asks for boot options)
  bool break_on_module_load = false;
  SimConfig sim;  // for sim: (cpus/seed/build from the string win)
};

class DebuggerCore;

class PyDebugger {
public:
  /// Opens the transport and asks the target to stop; throws KdError.
  explicit PyDebugger(DebuggerOptions options);
  /// Waits up to `slice` for the first stop; true once attached (then every call works).
  bool attach(std::chrono::milliseconds slice);
  ~PyDebugger();
  PyDebugger(const PyDebugger&) = delete;
  PyDebugger& operator=(const PyDebugger&) = delete;

  // ---- jobs: engine commands on the worker thread
  /// Starts `line` on the worker thread. `resumes`: reads fail fast while it runs.
  void start_job(std::string line, bool resumes);
  /// True once the job is done (false: still running after `slice`).
  bool wait_job(std::chrono::milliseconds slice);
  /// The finished job's output (throws what the job threw).
  std::string finish_job();
  bool job_active() const;
  /// Break in and stop a multi-step command: what Ctrl-C does in kd.
  void interrupt();
  void break_in();

  // ---- direct target calls (serialised; fail while the target runs)
  std::vector<std::uint8_t> read_virtual(std::uint64_t address, std::size_t n);
  std::size_t write_virtual(std::uint64_t address, const std::uint8_t* data, std::size_t n);
  std::vector<std::uint8_t> read_physical(std::uint64_t address, std::size_t n);
  std::size_t write_physical(std::uint64_t address, const std::uint8_t* data, std::size_t n);
  std::map<std::string, std::uint64_t> registers();
  void set_register(const std::string& name, std::uint64_t value);
  std::vector<debugger::Module> modules();
  std::string symbol(std::uint64_t address);
  std::optional<std::uint64_t> address(const std::string& name);
  StopInfo last_stop();
  std::map<std::string, std::uint64_t> counters() const;
  std::vector<std::string> traffic(std::size_t n) const;
  /// The session's packet record (core/debugger HostSession::traffic): packet, id, API, status.
  std::vector<std::string> packets(std::size_t n) const;
  std::uint32_t processors() const;
  std::string transport() const;

  /// Adds a breakpoint (bp) and returns its id and address.
  std::pair<unsigned, std::uint64_t> set_breakpoint(const std::string& expression);
  void remove_breakpoint(unsigned id);
  std::uint64_t hits(std::uint64_t address) const;

  BoundedQueue<std::string>& prints();
  BoundedQueue<Event>& events();
  /// Every event also goes here when set (module.cpp's callback dispatcher).
  void set_event_sink(BoundedQueue<Event>* sink);

  /// Runs a command line on the calling thread (the remoting server's loop) and returns its output.
  std::string run_command(const std::string& line);
  std::string prompt();

  SimHost* simulator();
  void close();
  bool closed() const;

private:
  std::unique_ptr<DebuggerCore> core_;
};

}  // namespace openkd::py
