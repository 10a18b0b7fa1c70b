#include "simulator/simulator_thread.hpp"

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
  out.swap(outbox_);
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
  // The loop holds the lock except while it emulates or sleeps: taking it
  // here waits for the current slice to finish.
  std::lock_guard lock(mutex_);
  fn(*sim_);
}

void SimulatorThread::loop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    if (disconnect_) {
      sim_->disconnected(now);
      disconnect_ = false;
    }
    if (!inbox_.empty()) {
      wire::Bytes in;
      in.swap(inbox_);
      sim_->feed(in, now);
    }
    RunProgress p = sim_->run_for(slice_, now);
    wire::Bytes out = sim_->take_output(now);
    if (!out.empty()) {
      outbox_.insert(outbox_.end(), out.begin(), out.end());
      readable_.notify_all();
    }
    if (p.idle) {
      // Nothing runs: sleep until input, the next deadline, or 50 ms.
      auto until = now + std::chrono::milliseconds(50);
      if (auto d = sim_->next_deadline(); d && *d < until) until = *d;
      wake_.wait_until(lock, until, [&] { return stop_ || disconnect_ || !inbox_.empty(); });
    } else {
      // Let writers and with() in between slices.
      lock.unlock();
      std::this_thread::yield();
      lock.lock();
    }
  }
}

}  // namespace openkd::sim
