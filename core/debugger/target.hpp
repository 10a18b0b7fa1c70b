// The debugger's view of a target: every operation the command language needs,
// as blocking calls that return std::expected, in three narrow interfaces. The live KD session implements it
// over the link; tests implement it in memory. Callable from any one thread that
// is not the session's I/O thread (the engine thread, Python, tests).
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/wire/context.hpp"
#include "core/wire/dbgkd.hpp"

namespace openkd::debugger {

/// What kind of failure an Error is, so callers and tests branch on kinds, not text.
enum class ErrorKind {
  Failed,        // anything else (a local check, an unreadable range)
  Status,        // the target answered with a failure NTSTATUS (in `ntstatus`)
  Malformed,     // the target's answer did not decode or did not fit the request
  Timeout,       // no answer within the deadline
  Disconnected,  // the transport closed or the target stopped answering
  Running,       // the target is running: break in first
  Busy,          // another request is outstanding
  Cancelled,     // the caller gave up (Ctrl-C, quit)
  Unsupported,   // the target cannot do this (wrong machine type, API not implemented)
};

/// An operation's failure: one line for the user, the NTSTATUS the target gave
/// (if any) and the kind.
struct Error {
  std::string message;
  std::uint32_t ntstatus = 0;
  ErrorKind kind = ErrorKind::Failed;
};
template <class T>
using Result = std::expected<T, Error>;

/// Why the target stopped, as the session reports it to the engine.
struct StopEvent {
  wire::StateChange change;  // the raw state change (exception / load symbols / command string)
  /// A break-in was asked for and not yet answered when this stop came. An
  /// engine that continues past this stop (a module load) must ask again
  /// (ResumeOptions::break_in), or the user's break-in is lost.
  bool break_requested = false;
};

/// Continue and step requests, mapped onto Continue2's control set.
struct ResumeOptions {
  std::uint32_t status = wire::kDbgContinue;
  bool single_step = false;
  std::uint64_t dr7 = 0;  // hardware breakpoints (Dr0..Dr3 are set in the context first)
  bool break_in = false;  // send a break-in right after the continue (StopEvent::break_requested)
};

/// Things that arrive while the target runs or during a wait.
struct TargetCallbacks {
  std::function<void(std::string_view text)> on_print;                  // DbgPrint
  /// DbgPrompt: the target waits for a line of at most `max` characters. Do
  /// not block: answer later with the session's answer_prompt(id, text).
  std::function<void(std::uint64_t id, std::string_view prompt, std::uint32_t max)> on_prompt;
  std::function<void(std::string_view line)> on_notice;                 // link notices (resync, retries)
  /// The connection was lost or regained (shown even when notices are not).
  std::function<void(std::string_view line)> on_connection;
  /// The DbgPrompt announced with this id will not be answered: its target is gone or restarted.
  std::function<void(std::uint64_t id)> on_prompt_withdrawn;
};

// The target is three narrow interfaces (as SerenityOS LibDebug splits it), so a
// component takes only what it uses and a test fake implements only what its test
// needs: the module list, symbols and PE reading take TargetMemory alone.
// `Target` is their union, what the live session implements and the engine drives.

/// Memory: virtual and physical reads and writes, fill and search.
/// Partial reads return what the target gave; 0 bytes is an Error.
class TargetMemory {
public:
  virtual ~TargetMemory() = default;

  virtual Result<std::size_t> read_virtual(std::uint64_t address, std::span<std::uint8_t> out) = 0;
  virtual Result<std::size_t> write_virtual(std::uint64_t address, wire::ByteView data) = 0;
  virtual Result<std::size_t> read_physical(std::uint64_t address, std::span<std::uint8_t> out) = 0;
  virtual Result<std::size_t> write_physical(std::uint64_t address, wire::ByteView data) = 0;
  /// The first address in [start, start + length) where the whole pattern lies
  /// (DbgKdSearchMemoryApi: the target searches). A failure NTSTATUS means "not
  /// found"; STATUS_NOT_IMPLEMENTED (or ErrorKind::Unsupported) means the target
  /// cannot search and the caller scans itself. Some stubs answer a search they do
  /// not implement with a plain failure, so `s` trusts a target only once it has
  /// found a known pattern (core/commands/cmd_memory.cpp).
  /// The default answers STATUS_NOT_IMPLEMENTED, so a fake need not implement it.
  virtual Result<std::uint64_t> search_memory(std::uint64_t start, std::uint64_t length, wire::ByteView pattern);
  virtual Result<std::uint32_t> fill_memory(std::uint64_t address, std::uint32_t length, wire::ByteView pattern,
                                            bool physical) = 0;
};

/// Processor state: what the target is, its processors and the current one's
/// registers, control space, MSRs and I/O ports.
class TargetProcessor {
public:
  virtual ~TargetProcessor() = default;

  virtual const wire::GetVersion64& version() const = 0;
  virtual std::uint32_t number_processors() const = 0;
  virtual std::uint16_t current_processor() const = 0;
  virtual const StopEvent& last_stop() const = 0;

  // --- of the current processor
  virtual Result<wire::Context> get_context() = 0;
  virtual Result<void> set_context(const wire::Context& ctx) = 0;
  virtual Result<wire::SpecialRegisters> get_special_registers() = 0;
  virtual Result<void> set_special_registers(const wire::SpecialRegisters& s) = 0;
  /// Control space 0 KPCR, 1 KPRCB, 3 KTHREAD pointers.
  virtual Result<std::uint64_t> read_control_pointer(std::uint64_t which) = 0;
  virtual Result<std::uint64_t> read_msr(std::uint32_t msr) = 0;
  virtual Result<void> write_msr(std::uint32_t msr, std::uint64_t value) = 0;
  virtual Result<std::uint32_t> read_io(std::uint64_t port, std::uint32_t size) = 0;
  virtual Result<void> write_io(std::uint64_t port, std::uint32_t size, std::uint32_t value) = 0;
};

/// Execution control: running, stopping, breakpoints and what arrives meanwhile.
class TargetExecution {
public:
  virtual ~TargetExecution() = default;

  // --- software breakpoints (the target writes 0xCC and keeps the original byte)
  virtual Result<std::uint32_t> write_breakpoint(std::uint64_t address) = 0;
  virtual Result<void> restore_breakpoint(std::uint32_t handle) = 0;

  // --- each returns when the target next stops (state change).
  virtual Result<StopEvent> resume(const ResumeOptions& options) = 0;
  /// Requests a break-in; safe to call from any thread (Ctrl-C handler).
  virtual void request_break() = 0;
  virtual Result<StopEvent> switch_processor(std::uint16_t processor) = 0;
  /// Reboot: the target restarts and resynchronises; returns its first stop.
  virtual Result<StopEvent> reboot() = 0;
  virtual Result<StopEvent> cause_bugcheck() = 0;

  virtual void set_callbacks(TargetCallbacks callbacks) = 0;
};

/// The whole target, as the command engine drives it.
class Target : public TargetMemory, public TargetProcessor, public TargetExecution {};

inline Result<std::uint64_t> TargetMemory::search_memory(std::uint64_t, std::uint64_t, wire::ByteView) {
  return std::unexpected(Error{"the target does not search memory", wire::kStatusNotImplemented, ErrorKind::Unsupported});
}

}  // namespace openkd::debugger
