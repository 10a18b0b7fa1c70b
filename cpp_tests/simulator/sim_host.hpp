// A tiny synchronous debugger for the simulator tests: the host session
// (core/debugger HostSession, the same core kd runs on) driven in-process
// against a Simulator with a fake clock. Each request pumps the simulator
// until its answer arrives.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/debugger/host_session.hpp"
#include "core/wire/context.hpp"
#include "core/wire/dbgkd.hpp"
#include "simulator/simulator.hpp"

namespace openkd::sim::test {

struct HostOptions {
  unsigned cpus = 1;
  std::uint64_t seed = 0;
  bool break_on_boot = true;
  FaultConfig faults;
  bool boot_prompt = false;  // the kernel asks for boot options (answered with Host::prompt_reply)
  OnDetach on_detach = OnDetach::Freeze;
};

inline HostOptions options(unsigned cpus, bool break_on_boot = true, std::uint64_t seed = 0, FaultConfig faults = {}) {
  HostOptions o;
  o.cpus = cpus;
  o.break_on_boot = break_on_boot;
  o.seed = seed;
  o.faults = faults;
  return o;
}
std::unique_ptr<Simulator> make_simulator(const HostOptions& options);

class Host {
public:
  explicit Host(Simulator& sim);

  /// One round: our frames to the simulator, `instructions` of emulation, its bytes to us.
  void pump(std::uint64_t instructions = 200000);
  /// RESET until the target answers; returns the first state change.
  wire::StateChange attach();
  /// Sends a manipulate request and pumps until its reply (nullopt if none came).
  std::optional<wire::Manipulate> request(wire::Manipulate m, int max_pumps = 2000);
  /// Sends a request that ends in a stop (Continue, Reboot, ...): its stop
  /// arrives in `changes` with the others.
  void send_only(const wire::Manipulate& m);
  /// A packet as given, outside any request (malformed-input tests).
  void send_raw(wire::kdcom::PacketType type, wire::Bytes body);
  void break_in();
  std::optional<wire::StateChange> wait_state_change(int max_pumps = 5000);
  /// Continue (Continue2 with the control set) and wait for the next state change.
  std::optional<wire::StateChange> go(std::uint32_t status = wire::kDbgContinue, bool step = false,
                                      std::uint64_t dr7 = 0, int max_pumps = 5000);
  /// Connects the session (its first RESET), or resynchronises a connected one.
  void start_sync();

  // typed helpers
  wire::Bytes read_virtual(std::uint64_t address, std::uint32_t count, std::uint32_t* status = nullptr);
  std::uint32_t write_virtual(std::uint64_t address, wire::ByteView data);
  wire::Bytes read_physical(std::uint64_t address, std::uint32_t count);
  wire::Context get_context();
  std::uint32_t set_context(const wire::Context& c);
  wire::Bytes read_control(std::uint64_t which, std::uint32_t count);

  std::string prints;                    // DbgPrint text received
  std::deque<wire::StateChange> changes; // state changes not yet taken
  std::string prompt_reply = "hello";
  /// Files this debugger serves over FILE_IO (.kdfiles), by the end of the requested path.
  std::map<std::string, wire::Bytes> served_files;
  std::uint64_t now_ms() const;
  debugger::HostSession& session() { return session_; }

private:
  void on_event(debugger::HostEvent& e);
  Simulator& sim_;
  debugger::HostSession session_;
  link::TimePoint now_{};
  std::map<debugger::RequestId, wire::Manipulate> replies_;
  std::map<debugger::RequestId, debugger::Error> failures_;
  const wire::Bytes* open_file_ = nullptr;
};

/// The address of an export of a driver image in the kernel directory, at `base`.
std::uint64_t driver_export(const std::string& file, std::uint64_t base, const std::string& name);

}  // namespace openkd::sim::test
