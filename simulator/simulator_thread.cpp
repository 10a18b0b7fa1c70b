#include "simulator/simulator_thread.hpp"

#include <optional>
#include <utility>

namespace openkd::sim {

SimulatorThread::SimulatorThread(std::unique_ptr<Simulator> sim, std::uint64_t slice)
    : sim_(std::move(sim)), slice_(slice), thread_([this] { loop(); }) {}

SimulatorThread::~SimulatorThread() { stop(); }

void SimulatorThread::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  readable_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SimulatorThread::write(wire::ByteView bytes) {
  {
    std::lock_guard lock(mutex_);
    inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
  }
  wake_.notify_all();
}

wire::Bytes SimulatorThread::read(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  readable_.wait_for(lock, timeout, [&] { return !outbox_.empty() || stop_; });
  wire::Bytes out;
  for (auto& frame : outbox_) out.insert(out.end(), frame.begin(), frame.end());
  outbox_.clear();
  return out;
}

std::vector<wire::Bytes> SimulatorThread::read_frames(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  readable_.wait_for(lock, timeout, [&] { return !outbox_.empty() || stop_; });
  std::vector<wire::Bytes> out(std::make_move_iterator(outbox_.begin()), std::make_move_iterator(outbox_.end()));
  outbox_.clear();
  return out;
}

void SimulatorThread::disconnect() {
  {
    std::lock_guard lock(mutex_);
    disconnect_ = true;
    outbox_.clear();
  }
  wake_.notify_all();
}

void SimulatorThread::with(const std::function<void(Simulator&)>& fn) {
  // The simulator is the loop's while it emulates a slice: wait for its end.
  std::lock_guard sim(sim_mutex_);
  fn(*sim_);
}

void SimulatorThread::loop() {
  // Two locks: mutex_ guards only the byte pipe and the flags, so write(),
  // read() and disconnect() never wait behind an emulation slice; sim_mutex_
  // guards the simulator (the loop's, or with()'s between slices).
  for (;;) {
    bool disconnect = false;
    wire::Bytes in;
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      disconnect = std::exchange(disconnect_, false);
      in.swap(inbox_);
    }
    RunProgress p;
    std::vector<wire::Bytes> out;
    std::optional<std::chrono::steady_clock::time_point> deadline;
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard sim(sim_mutex_);
      if (disconnect) sim_->disconnected(now);
      if (!in.empty()) sim_->feed(in, now);
      p = sim_->run_for(slice_, now);
      out = sim_->take_output_frames(now);
      deadline = sim_->next_deadline();
    }
    std::unique_lock lock(mutex_);
    if (!out.empty()) {
      for (auto& frame : out) outbox_.push_back(std::move(frame));
      while (outbox_.size() > kMaxPendingFrames) outbox_.pop_front();
      readable_.notify_all();
    }
    if (p.idle) {
      // Nothing runs: sleep until input, the next deadline, or 50 ms.
      auto until = now + std::chrono::milliseconds(50);
      if (deadline && *deadline < until) until = *deadline;
      wake_.wait_until(lock, until, [&] { return stop_ || disconnect_ || !inbox_.empty(); });
    }
  }
}

}  // namespace openkd::sim
