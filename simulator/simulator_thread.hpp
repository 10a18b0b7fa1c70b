// A Simulator on its own thread behind a thread-safe byte pipe: what a
// debugger embeds to talk to the simulator as if over a serial line
// (kd -k sim), or as if over datagrams (read_frames: one link frame each, for
// KDNET). write(), read() and read_frames() may be called from any thread.
//
//   auto sim = Simulator::create(config);
//   SimulatorThread thread(std::move(*sim));
//   thread.write(kd_bytes);
//   auto reply = thread.read(std::chrono::milliseconds(100));
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "simulator/simulator.hpp"

namespace openkd::sim {

class SimulatorThread {
public:
  explicit SimulatorThread(std::unique_ptr<Simulator> sim, std::uint64_t slice = 200000);
  ~SimulatorThread();  // stops the thread
  SimulatorThread(const SimulatorThread&) = delete;
  SimulatorThread& operator=(const SimulatorThread&) = delete;

  /// Bytes from the debugger.
  void write(wire::ByteView bytes);
  /// Bytes for the debugger: waits up to `timeout` for at least one.
  wire::Bytes read(std::chrono::milliseconds timeout);
  /// The same, one link frame per element (a datagram transport). Use read() or this, not both.
  std::vector<wire::Bytes> read_frames(std::chrono::milliseconds timeout);
  /// Frames waiting for a reader at most; older ones are dropped beyond it
  /// (a reader that stopped reading loses them, as a line would; the link retransmits).
  static constexpr std::size_t kMaxPendingFrames = 4096;
  /// The debugger went away (the kernel runs on).
  void disconnect();
  /// Runs `fn` on the simulator with the simulation paused (between slices).
  void with(const std::function<void(Simulator&)>& fn);
  void stop();

private:
  void loop();
  std::unique_ptr<Simulator> sim_;
  std::uint64_t slice_;
  std::mutex mutex_;      // the byte pipe and the flags
  std::mutex sim_mutex_;  // the simulator
  std::condition_variable wake_, readable_;
  wire::Bytes inbox_;
  std::deque<wire::Bytes> outbox_;  // link frames, in order
  bool disconnect_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace openkd::sim
