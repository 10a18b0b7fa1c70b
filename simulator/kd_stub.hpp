// The target side of KD: core/link in the target role plus one handler per
// DbgKd API (one dispatch table). It turns machine events into state changes,
// DEBUG_IO and FILE_IO packets, and holds the machine stopped while the
// debugger manipulates it. No I/O, no clock: bytes and time go in, frames come out.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/link/link.hpp"
#include "core/wire/dbgkd.hpp"
#include "simulator/machine.hpp"

namespace openkd::sim {

/// One state change as sent, for logs and determinism checks.
struct StateChangeRecord {
  unsigned cpu = 0;
  std::uint32_t new_state = 0;  // 0x3030 exception, 0x3031 load symbols
  std::uint32_t code = 0;       // exception code (0 for load symbols)
  std::uint64_t pc = 0;
  std::uint64_t instructions = 0;  // the machine's total at the time
  bool operator==(const StateChangeRecord&) const = default;
};

struct StubCounters {
  std::uint64_t manipulates = 0, unknown_apis = 0, malformed = 0, state_changes = 0, prints = 0,
                prints_dropped = 0, break_ins = 0;
};

/// What a stopped kernel does when its debugger goes away (kdsim --on-detach).
enum class OnDetach {
  Freeze,  // as Windows: it stays stopped until a debugger attaches and is told why
  Run,     // it continues (debug traps handled, anything else to the kernel)
};

class KdStub {
public:
  using TimePoint = link::TimePoint;

  KdStub(Machine& machine, link::LinkConfig link_config, bool break_on_boot);

  // ---- inputs
  void on_receive(wire::ByteView bytes, TimePoint now);
  void on_timer(TimePoint now);
  /// The transport closed: the debugger is gone. A running kernel runs on; a
  /// stopped one stays stopped or continues as set_on_detach() says.
  void on_disconnect(TimePoint now);
  void set_on_detach(OnDetach policy) { on_detach_ = policy; }
  OnDetach on_detach() const { return on_detach_; }
  /// The transport changes before a debugger came (a KDNET socket instead of a
  /// byte line): a fresh link of `config` (ids, timing), also after a reboot.
  void use_link(link::LinkConfig config, TimePoint now);
  /// The machine has a pending event: report it (debugger attached) or
  /// resolve it with the no-debugger defaults.
  void on_machine_event(TimePoint now);
  /// After the owner rebuilt the machine for a Reboot request.
  void on_rebooted(Machine& machine, TimePoint now);

  // ---- outputs and state
  std::optional<wire::Bytes> take_frame() { return link_.take_frame(); }
  std::optional<TimePoint> next_deadline() const;
  /// The machine may run (no debugger holds it).
  bool running() const { return state_ == State::Running; }
  bool attached() const { return attached_; }
  /// "running", "stopped", "print", ... for logs.
  std::string_view state_name() const;
  /// A Reboot request arrived: the owner rebuilds the machine, then calls on_rebooted.
  bool reboot_requested() const { return reboot_requested_; }
  unsigned current_processor() const { return cpu_; }
  const std::vector<StateChangeRecord>& history() const { return history_; }
  const StubCounters& counters() const { return counters_; }
  const link::Link& link() const { return link_; }

private:
  enum class State {
    Running,         // the machine runs; break-in is polled
    WaitingAtBoot,   // --break-on-boot: nothing runs until a debugger attaches
    Stopped,         // a state change went out; manipulate requests until Continue
    PrintPending,    // a DEBUG_IO print waits for its ACK
    PromptPending,   // a GetString waits for the debugger's answer
    FilePending,     // a FILE_IO request waits for the debugger's answer
  };
  // Why the machine is stopped: the machine's own pending event, or a stop
  // the stub made (break-in, boot, processor switch).
  struct Stop {
    unsigned cpu = 0;
    std::uint32_t code = 0;
    std::uint64_t address = 0;
    std::vector<std::uint64_t> information;
    bool first_chance = true;
    std::optional<SymbolsEvent> symbols;
  };

  void handle_link_events(TimePoint now);
  void on_packet(const wire::kdcom::Packet& p, TimePoint now);
  void attach(TimePoint now);
  void detach(TimePoint now);
  /// `origin`: a new stop (not a processor switch), remembered to switch back to.
  void stop_and_report(Stop stop, TimePoint now, bool origin = true);
  void send_state_change(TimePoint now);
  void send(wire::kdcom::PacketType type, wire::Bytes body, TimePoint now);
  void resume(std::uint32_t continue_status, bool single_step, std::optional<std::uint64_t> dr7);
  void on_manipulate(const wire::kdcom::Packet& p, TimePoint now);
  void break_in(TimePoint now);
  /// Back to Running after a print/prompt/file exchange; a break-in that came meanwhile stops now.
  void back_to_running(TimePoint now);
  void start_file_read(const FileReadEvent& ev, TimePoint now);

  // One handler per API (stub_memory.cpp, stub_processor.cpp). A handler
  // fills `reply` (a copy of the request) and returns false when no reply goes out.
  using Handler = bool (KdStub::*)(const wire::Manipulate& request, wire::Manipulate& reply, TimePoint now);
  struct ApiEntry {
    wire::Api api;
    Handler handler;
  };
  static const std::vector<ApiEntry>& dispatch_table();

  bool handle_read_virtual_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_virtual_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_read_physical_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_physical_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_get_context(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_set_context(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_get_context_ex(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_set_context_ex(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_breakpoint(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_restore_breakpoint(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_breakpoint_ex(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_restore_breakpoint_ex(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_continue(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_continue2(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_read_control_space(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_control_space(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_read_io_space(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_io_space(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_read_io_space_extended(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_io_space_extended(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_reboot(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_get_version(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_cause_bug_check(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_switch_processor(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_read_msr(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_write_msr(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_search_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_fill_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_query_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_check_low_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_clear_all_internal_breakpoints(const wire::Manipulate&, wire::Manipulate&, TimePoint);
  bool handle_not_implemented(const wire::Manipulate&, wire::Manipulate&, TimePoint);

  struct SoftwareBreakpoint {
    std::uint64_t address = 0;
    std::uint8_t original = 0;
  };
  std::optional<std::uint32_t> insert_breakpoint(std::uint64_t address);
  bool remove_breakpoint(std::uint32_t handle);

  Machine* machine_;
  link::LinkConfig link_config_;
  link::Link link_;
  State state_;
  bool attached_ = false;
  bool reboot_requested_ = false;
  OnDetach on_detach_ = OnDetach::Freeze;
  bool break_in_pending_ = false;  // 'b' arrived while a print or prompt was in flight
  unsigned cpu_ = 0;  // the processor the debugger talks to
  std::optional<Stop> stop_;
  std::optional<Stop> origin_stop_;  // the stop before any processor switch
  std::map<std::uint32_t, SoftwareBreakpoint> breakpoints_;
  std::uint32_t next_handle_ = 1;
  std::uint64_t file_handle_ = 0;
  std::optional<TimePoint> file_deadline_;
  std::vector<StateChangeRecord> history_;
  StubCounters counters_;
};

}  // namespace openkd::sim
