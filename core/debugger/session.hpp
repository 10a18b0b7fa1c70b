// The live KD session: the host role of core/link over a Stream, on its own I/O
// thread, behind the blocking debugger::Target interface (callable from any one
// other thread: kd's engine thread, Python, tests).
#pragma once
#include <condition_variable>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/debugger/stream.hpp"
#include "core/debugger/target.hpp"
#include "core/link/link.hpp"

namespace openkd::debugger {

using StreamOpener = std::function<asio::awaitable<std::expected<std::unique_ptr<Stream>, std::string>>()>;

struct SessionOptions {
  StreamOpener open;
  /// RESETs to send before giving up; 0 keeps resetting (KD's resets=0). -1: default (forever).
  int resets = -1;
  /// Reopen the transport when it drops (KD's `reconnect` for pipes).
  bool reconnect = false;
  /// How long a request waits for the target's reply.
  std::chrono::milliseconds request_timeout{10000};
  /// Host file names served to the target's FILE_IO requests (.kdfiles): target path -> host path.
  std::map<std::string, std::string> kdfiles;
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
  /// Waits for the target's next state change (nullopt timeout: for ever).
  /// A stop that arrived earlier is returned at once. Fetches the version on
  /// the first stop.
  Result<StopEvent> wait_for_stop(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  /// True between a resume and the next stop.
  bool running() const;
  /// Ends the session: closes the transport and stops the I/O thread.
  void close();
  link::LinkCounters counters() const;
  std::string transport_description() const;
  void set_kdfiles(std::map<std::string, std::string> files);

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
  asio::awaitable<void> run_transport();
  asio::awaitable<void> run_timer();
  void flush();
  void handle_events();
  void handle_packet(const wire::kdcom::Packet& p);
  void handle_debug_io(const wire::kdcom::Packet& p);
  void handle_file_io(const wire::kdcom::Packet& p);
  void send_packet(wire::kdcom::PacketType type, wire::Bytes body);
  void fail(std::string why);
  Result<std::size_t> transfer(wire::Api api, std::uint64_t address, std::span<std::uint8_t> in,
                               wire::ByteView out, std::uint32_t flags);
  Result<StopEvent> send_and_wait_stop(wire::Manipulate m);
  void notice(std::string line);

  SessionOptions options_;
  asio::io_context io_;
  asio::steady_timer timer_{io_};
  std::unique_ptr<Stream> stream_;
  link::Link link_;
  bool writing_ = false;
  bool resync_after_send_ = false;  // I/O thread: RESET once the Reboot request is acknowledged
  std::deque<wire::Bytes> out_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<wire::Manipulate> reply_;
  std::uint32_t awaited_api_ = 0;
  std::deque<StopEvent> stops_;
  bool running_ = true;
  std::optional<std::string> failure_;
  bool opened_ = false;
  TargetCallbacks callbacks_;
  std::map<std::string, std::string> kdfiles_;
  std::map<std::uint64_t, std::string> open_files_;
  std::uint64_t next_file_handle_ = 1;

  // Engine-thread state.
  wire::GetVersion64 version_{};
  bool have_version_ = false;
  StopEvent last_stop_{};
};

}  // namespace openkd::debugger
