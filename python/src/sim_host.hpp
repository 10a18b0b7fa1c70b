// openkd.Simulator: the simulated kernel on its own thread (SimulatorThread),
// reachable by one debugger at a time over a Unix socket, TCP, a pty, KDNET
// (a backends::KdnetTarget: UDP, one link frame per datagram, as kdsim --kdnet)
// or an in-process socketpair (Debugger.connect("sim:...")), plus ground truth read
// straight from the machine (memory, registers, instruction count, modules)
// and scenario controls (the TriggerBug crash, a DbgPrint, simdrv2.sys loaded
// and unloaded on request).
//
// Two pump threads join the transport to the SimulatorThread's byte pipe: one
// polls the listener and the debugger's descriptor and feeds the simulator,
// one writes the simulator's output (over KDNET: frame by frame, both threads
// using the KdnetTarget under kdnet_mutex_). Every wait is bounded (poll
// timeouts), so close() always returns.
#pragma once
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/kdnet_target.hpp"
#include "core/io/listener.hpp"
#include "core/io/pty.hpp"
#include "simulator/simulator_thread.hpp"

namespace openkd::py {

struct SimConfig {
  unsigned cpus = 1;
  std::uint64_t seed = 0;
  std::uint64_t memory_mib = 256;
  std::uint32_t build = 19041;
  std::string faults;  // kdsim --faults syntax: "drop=P,corrupt=P,dup=P,truncate=P,delay=MS,seed=N"
  bool break_on_boot = true;
  std::string kernel_dir;  // empty: OPENKD_KERNEL_DIR from the environment, else the build's images
  bool manual_driver_cycle = false;  // simdrv2.sys only on request (request_driver), not on the kernel's pacing
  bool boot_prompt = false;          // the kernel asks for boot options (kdsim --boot-prompt)
  bool on_detach_run = false;        // a stopped kernel continues when its debugger goes away (kdsim --on-detach run)
};

/// The kernel's image cycler as the host sees it (simulator/kernel/ntos/imagectl.c).
struct DriverState {
  std::string state;     // "automatic", "starting", "unloaded", "loading", "loaded", "unloading", "failed"
  bool pending = false;  // a request the kernel has not finished
  bool running = false;  // the machine runs (no debugger holds it stopped)
};

struct SimModule {
  std::string name;
  std::uint64_t base = 0, size = 0;
};

class SimHost {
public:
  explicit SimHost(const SimConfig& config);  // throws KdError
  ~SimHost();
  SimHost(const SimHost&) = delete;
  SimHost& operator=(const SimHost&) = delete;

  /// Starts listening ("pipe:PATH", "tcp:HOST:PORT" (port 0: any free one),
  /// "pty", "kdnet:port=N,key=K[,hostip=IP][,bind=IP]" (port 0 or none: a
  /// free one; no key: a fresh one)) and returns the -k string a debugger
  /// needs. Once per simulator.
  std::string listen(const std::string& where);
  /// An in-process link: returns the debugger's end of a socketpair (the
  /// caller owns it). Instead of listen().
  int socketpair();
  /// Where it listens ("" before listen()).
  const std::string& connect_string() const { return connect_; }

  // ---- ground truth (the machine paused between slices)
  std::vector<std::uint8_t> read_memory(std::uint64_t va, std::size_t n);
  std::size_t write_memory(std::uint64_t va, const std::vector<std::uint8_t>& data);
  std::map<std::string, std::uint64_t> registers(unsigned cpu);
  std::uint64_t instruction_count();
  std::vector<SimModule> modules();
  unsigned cpus() const { return config_.cpus; }
  /// An exported symbol ("simdrv!TriggerBug", "nt!KeBugCheckEx") from the images' export tables.
  std::optional<std::uint64_t> symbol(const std::string& name);
  /// Fault counters of both directions.
  std::map<std::string, std::uint64_t> fault_counters();
  /// The KDNET target's counters (datagrams, authentication failures, replays,
  /// sessions...); empty unless listening on kdnet:.
  std::map<std::string, std::uint64_t> kdnet_counters();
  /// Text the kernel printed while no debugger took it.
  std::string console();

  // ---- scenario controls
  /// Writes `value` to simdrv!TriggerBug: 1 crashes simdrv's worker (bug check 0x7E), 2 makes it break in once.
  void trigger_bug(std::uint32_t value);
  /// `text` arrives at the debugger as a DbgPrint from `cpu`.
  void emit_print(const std::string& text, unsigned cpu);
  /// simdrv2.sys on request (manual_driver_cycle): posts a load (true) or an
  /// unload; throws KdError when the kernel cycles it by itself, a request is
  /// pending, or it is already in that state.
  void request_driver(bool load);
  /// Where the cycler is; waits up to `slice` for a pending request to finish.
  DriverState wait_driver(std::chrono::milliseconds slice);
  /// Takes back a request the kernel has not started on (true if it did).
  bool withdraw_driver_request();

  void close();

private:
  void start_pumps();
  void pump_in();
  void pump_out();
  void drop_peer();  // pump_in's thread
  std::string listen_kdnet(const std::string& words);
  void pump_kdnet_in();
  void pump_kdnet_out();

  SimConfig config_;
  std::unique_ptr<sim::SimulatorThread> thread_;
  std::unique_ptr<boost::asio::io_context> io_;  // gives the acceptor an executor; nothing runs it
  std::unique_ptr<io::Listener> listener_;
  io::Fd pty_slave_;
  std::mutex peer_mutex_;  // the peer descriptor: pump_in replaces it, pump_out writes to it
  io::Fd peer_;
  bool is_pty_ = false;
  std::mutex kdnet_mutex_;  // the KDNET target: pump_kdnet_in receives, pump_kdnet_out sends
  std::unique_ptr<backends::KdnetTarget> kdnet_;
  io::Fd wake_read_, wake_write_;
  std::string connect_;
  std::atomic<bool> stopping_{false};
  bool closed_ = false;
  std::mutex close_mutex_;
  std::thread in_, out_;
};

}  // namespace openkd::py
