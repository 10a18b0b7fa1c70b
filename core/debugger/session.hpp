// The blocking facade over the host session: a HostRunner on its own I/O
// thread behind debugger::Target, for kd's engine thread, Python and tests.
// Every call posts to the I/O thread and waits for its answer with a
// deadline; nothing else crosses threads. Callbacks (DbgPrint, DbgPrompt,
// notices) run on the I/O thread and must not block: a prompt is answered
// later through answer_prompt().
#pragma once
#include <atomic>
#include <condition_variable>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/debugger/file_server.hpp"
#include "core/debugger/host_runner.hpp"
#include "core/debugger/target.hpp"

namespace openkd::debugger {

struct SessionOptions {
  StreamOpener open;
  /// RESETs to send before giving up; 0 keeps resetting (KD's resets=0). -1: default (forever).
  int resets = -1;
  /// Reopen the transport when it drops (KD's `reconnect` for pipes and TCP).
  bool reconnect = false;
  /// How long a request waits for the target's reply.
  std::chrono::milliseconds request_timeout{10000};
  /// Host file names served to the target's FILE_IO requests (.kdfiles): target path -> host path.
  std::map<std::string, std::string> kdfiles;
  link::IdScheme scheme = link::IdScheme::Kdcom;
  /// Where .kdfiles reads (tests give a fake).
  FileSystem* file_system = nullptr;
};

/// A snapshot of the session's figures, taken on the I/O thread.
struct SessionCounters {
  link::LinkCounters link;
  HostCounters host;
  RunnerCounters runner;
};

class KdSession final : public Target {
public:
  explicit KdSession(SessionOptions options);
  ~KdSession() override;
  KdSession(const KdSession&) = delete;
  KdSession& operator=(const KdSession&) = delete;

  /// Opens the transport and starts synchronising (RESET). Returns once the
  /// transport is open; the target may still be running.
  Result<void> start();
  /// Waits for the target to stop (for attaching: the first stop, or one a
  /// break-in causes). A stop that arrived since the last resume is returned
  /// at once. Fetches the version on the first stop and checks the machine type.
  Result<StopEvent> wait_for_stop(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  /// True between a resume and the next stop.
  bool running() const;
  /// The target is gone for good (the link gave up or the transport closed, without reconnect).
  bool lost() const;
  /// Ends the session: closes the transport and stops the I/O thread. Safe
  /// while a prompt waits or another thread waits in a call (it gets an Error).
  void close();
  SessionCounters counters() const;
  /// The tail of the session's traffic record (HostSession::traffic), one line per packet, oldest first.
  std::vector<std::string> traffic(std::size_t last) const;
  std::string transport_description() const;
  /// The transport's own counters as one line (KDNET), "" for a plain stream.
  std::string transport_statistics() const;
  void set_kdfiles(std::map<std::string, std::string> files);
  /// Answers the DbgPrompt that on_prompt announced with this id.
  void answer_prompt(std::uint64_t id, std::string text);
  /// Makes the call now waiting (on another thread) return Cancelled, and a
  /// multi-packet transfer stop between packets. A resume stays sent.
  void cancel_wait();

  // ---- Target
  const wire::GetVersion64& version() const override { return version_; }
  std::uint32_t number_processors() const override;
  std::uint16_t current_processor() const override;
  const StopEvent& last_stop() const override { return last_stop_; }
  Result<std::size_t> read_virtual(std::uint64_t address, std::span<std::uint8_t> out) override;
  Result<std::size_t> write_virtual(std::uint64_t address, wire::ByteView data) override;
  Result<std::size_t> read_physical(std::uint64_t address, std::span<std::uint8_t> out) override;
  Result<std::size_t> write_physical(std::uint64_t address, wire::ByteView data) override;
  Result<std::uint64_t> search_memory(std::uint64_t start, std::uint64_t length, wire::ByteView pattern) override;
  Result<std::uint32_t> fill_memory(std::uint64_t address, std::uint32_t length, wire::ByteView pattern,
                                    bool physical) override;
  Result<wire::Context> get_context() override;
  Result<void> set_context(const wire::Context& ctx) override;
  Result<wire::SpecialRegisters> get_special_registers() override;
  Result<void> set_special_registers(const wire::SpecialRegisters& s) override;
  Result<std::uint64_t> read_control_pointer(std::uint64_t which) override;
  Result<std::uint64_t> read_msr(std::uint32_t msr) override;
  Result<void> write_msr(std::uint32_t msr, std::uint64_t value) override;
  Result<std::uint32_t> read_io(std::uint64_t port, std::uint32_t size) override;
  Result<void> write_io(std::uint64_t port, std::uint32_t size, std::uint32_t value) override;
  Result<std::uint32_t> write_breakpoint(std::uint64_t address) override;
  Result<void> restore_breakpoint(std::uint32_t handle) override;
  Result<StopEvent> resume(const ResumeOptions& options) override;
  void request_break() override;
  Result<StopEvent> switch_processor(std::uint16_t processor) override;
  Result<StopEvent> reboot() override;
  Result<StopEvent> cause_bugcheck() override;
  void set_callbacks(TargetCallbacks callbacks) override;

  /// One manipulate request and its reply (the reply's status is checked by callers).
  Result<wire::Manipulate> request(wire::Manipulate m);

private:
  /// A runner's text, read on the I/O thread ("" when closed or stuck).
  /// Runs `fn` on the I/O thread and returns its answer (T{} without a runner or after 2 s).
  template <class T>
  T ask_io_thread(std::function<T(HostRunner&)> fn) const;
  using Answer = std::variant<wire::Manipulate, StopEvent>;
  Result<Answer> call(wire::Manipulate m, Expect expect, std::optional<std::chrono::milliseconds> limit,
                      bool break_after = false);
  Result<StopEvent> call_stop(wire::Manipulate m, std::optional<std::chrono::milliseconds> limit,
                              bool break_after = false);
  Result<std::size_t> transfer(wire::Api api, std::uint64_t address, std::span<std::uint8_t> in,
                               wire::ByteView out, std::uint32_t flags);
  Result<void> fetch_version();
  void on_event(HostEvent&& e);  // I/O thread

  SessionOptions options_;
  asio::io_context io_;
  std::unique_ptr<HostRunner> runner_;
  FileServer files_;  // I/O thread
  std::thread thread_;

  // Shared between the I/O thread and the caller, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<std::expected<void, std::string>> opened_;
  RequestId waiting_id_ = 0;
  std::uint64_t call_seq_ = 0;  // one per call; a posted request from an abandoned call is not sent
  std::optional<Result<Answer>> answer_;
  std::optional<StopEvent> unclaimed_stop_;  // the newest stop no call took (attach, break-in)
  std::optional<std::string> lost_;          // the target is gone (no reconnect)
  bool running_ = true;
  bool closed_ = false;
  std::atomic<bool> cancel_{false};
  TargetCallbacks callbacks_;  // set before start()

  // Caller's state.
  wire::GetVersion64 version_{};
  bool have_version_ = false;
  StopEvent last_stop_{};
};

}  // namespace openkd::debugger
