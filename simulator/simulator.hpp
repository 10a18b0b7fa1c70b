// The simulated target as one object: the Machine, the KD stub, seeded link
// faults and serial-line pacing, behind a byte interface with time as an input.
// Single-threaded: for use from another thread see SimulatorThread.
//
//   auto sim = Simulator::create(config);   // boots the machine
//   sim->feed(bytes_from_debugger, now);
//   sim->run_for(200'000, now);             // emulate (while no debugger holds it)
//   auto out = sim->take_output(now);        // bytes for the debugger
#pragma once
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/link/line_pacer.hpp"
#include "core/link/link_types.hpp"
#include "simulator/fault_injector.hpp"
#include "simulator/kd_stub.hpp"
#include "simulator/machine.hpp"

namespace openkd::sim {

struct SimulatorConfig {
  MachineConfig machine;
  bool break_on_boot = false;
  FaultConfig faults;         // seeded link faults (none by default)
  std::uint32_t baud = 0;     // pace the link like a serial line (10 bits a byte); 0 = unpaced
  link::LinkConfig link = link::LinkConfig::target(link::IdScheme::Kdcom);
  OnDetach on_detach = OnDetach::Freeze;  // a stopped kernel when the debugger goes away
};

struct RunProgress {
  std::uint64_t executed = 0;  // instructions retired in this call
  bool idle = false;           // nothing will happen until input arrives or next_deadline() passes
};

class Simulator {
public:
  using TimePoint = link::TimePoint;

  static std::expected<std::unique_ptr<Simulator>, std::string> create(SimulatorConfig config);

  /// Bytes from the debugger (through the incoming fault injector).
  void feed(wire::ByteView bytes, TimePoint now);
  /// Bytes for the debugger that are due by `now` (faults, delay and baud applied).
  wire::Bytes take_output(TimePoint now);
  /// The same, one link frame per element, for a datagram transport (KDNET:
  /// one frame per datagram). Use one of the two, not both.
  std::vector<wire::Bytes> take_output_frames(TimePoint now);
  /// The transport closed: a running kernel runs on, a stopped one follows
  /// config().on_detach; the next debugger resynchronises.
  void disconnected(TimePoint now);
  /// The transport changes, before a debugger came, to one that needs another
  /// link (KDNET: the KDNET id scheme, datagram timing). Pending bytes are dropped.
  void use_link(const link::LinkConfig& link, TimePoint now);
  /// Delivers due input, runs timers, then emulates up to `instructions`
  /// while no debugger holds the machine.
  RunProgress run_for(std::uint64_t instructions, TimePoint now);
  /// When run_for must be called again even without input.
  std::optional<TimePoint> next_deadline() const;

  Machine& machine() { return *machine_; }
  const KdStub& stub() const { return *stub_; }
  const SimulatorConfig& config() const { return config_; }
  /// Set when the machine failed (a Unicorn error); it no longer runs.
  const std::string& failure() const { return failure_; }
  const FaultCounters& incoming_faults() const { return in_faults_.counters(); }
  const FaultCounters& outgoing_faults() const { return out_faults_.counters(); }

private:
  explicit Simulator(SimulatorConfig config);
  void pump(TimePoint now);
  void collect_output(TimePoint now);

  struct Timed {
    TimePoint due;
    wire::Bytes bytes;
  };
  SimulatorConfig config_;
  std::unique_ptr<Machine> machine_;
  std::unique_ptr<KdStub> stub_;
  FaultInjector in_faults_, out_faults_;
  std::deque<Timed> inbox_, outbox_;
  std::optional<link::LinePacer> line_;  // baud pacing (config_.baud), else none
  std::string failure_;
};

}  // namespace openkd::sim
