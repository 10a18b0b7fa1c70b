#include "simulator/simulator.hpp"

namespace openkd::sim {

Simulator::Simulator(SimulatorConfig config)
    : config_(std::move(config)), in_faults_(config_.faults, 1), out_faults_(config_.faults, 2) {
  if (config_.baud) line_.emplace(config_.baud);
}

std::expected<std::unique_ptr<Simulator>, std::string> Simulator::create(SimulatorConfig config) {
  std::unique_ptr<Simulator> s(new Simulator(std::move(config)));
  auto m = Machine::create(s->config_.machine);
  if (!m) return std::unexpected(m.error());
  s->machine_ = std::move(*m);
  s->stub_ = std::make_unique<KdStub>(*s->machine_, s->config_.link, s->config_.break_on_boot);
  s->stub_->set_on_detach(s->config_.on_detach);
  return s;
}

void Simulator::feed(wire::ByteView bytes, TimePoint now) {
  if (bytes.empty()) return;
  wire::Bytes chunk(bytes.begin(), bytes.end());
  if (!config_.faults.any()) {
    stub_->on_receive(chunk, now);
    collect_output(now);
    return;
  }
  for (auto& piece : in_faults_.apply(std::move(chunk))) inbox_.push_back({now + config_.faults.delay, std::move(piece)});
  pump(now);
}

void Simulator::pump(TimePoint now) {
  while (!inbox_.empty() && inbox_.front().due <= now) {
    auto bytes = std::move(inbox_.front().bytes);
    inbox_.pop_front();
    stub_->on_receive(bytes, now);
  }
  if (auto d = stub_->next_deadline(); d && *d <= now) stub_->on_timer(now);
  collect_output(now);
}

void Simulator::collect_output(TimePoint now) {
  while (auto frame = stub_->take_frame()) {
    std::vector<wire::Bytes> pieces;
    if (config_.faults.any()) pieces = out_faults_.apply(std::move(*frame));
    else pieces.push_back(std::move(*frame));
    for (auto& piece : pieces) {
      TimePoint due = now + config_.faults.delay;
      // A serial line: the piece is due once its last byte has left (link::LinePacer).
      if (line_) due = line_->send(piece.size(), due);
      outbox_.push_back({due, std::move(piece)});
    }
  }
}

wire::Bytes Simulator::take_output(TimePoint now) {
  pump(now);
  wire::Bytes out;
  while (!outbox_.empty() && outbox_.front().due <= now) {
    out.insert(out.end(), outbox_.front().bytes.begin(), outbox_.front().bytes.end());
    outbox_.pop_front();
  }
  return out;
}

std::vector<wire::Bytes> Simulator::take_output_frames(TimePoint now) {
  pump(now);
  std::vector<wire::Bytes> out;
  while (!outbox_.empty() && outbox_.front().due <= now) {
    out.push_back(std::move(outbox_.front().bytes));
    outbox_.pop_front();
  }
  return out;
}

void Simulator::disconnected(TimePoint now) {
  inbox_.clear();
  outbox_.clear();
  stub_->on_disconnect(now);
}

void Simulator::use_link(const link::LinkConfig& link, TimePoint now) {
  config_.link = link;
  inbox_.clear();
  outbox_.clear();
  stub_->use_link(link, now);
}

std::optional<Simulator::TimePoint> Simulator::next_deadline() const {
  std::optional<TimePoint> d = stub_->next_deadline();
  auto earlier = [&](TimePoint t) { if (!d || t < *d) d = t; };
  if (!inbox_.empty()) earlier(inbox_.front().due);
  if (!outbox_.empty()) earlier(outbox_.front().due);
  return d;
}

RunProgress Simulator::run_for(std::uint64_t instructions, TimePoint now) {
  RunProgress progress;
  pump(now);
  if (stub_->reboot_requested()) {
    // Reboot: a new machine from the same configuration boots from scratch.
    auto m = Machine::create(config_.machine);
    if (!m) {
      failure_ = m.error();
    } else {
      machine_ = std::move(*m);
      stub_->on_rebooted(*machine_, now);
    }
    collect_output(now);
  }
  while (failure_.empty() && stub_->running() && progress.executed < instructions) {
    RunResult r = machine_->run(instructions - progress.executed);
    progress.executed += r.executed;
    if (r.outcome == RunResult::Outcome::Event) {
      stub_->on_machine_event(now);
      collect_output(now);
    } else if (r.outcome == RunResult::Outcome::Idle) {
      progress.idle = true;
      break;
    } else if (r.outcome == RunResult::Outcome::Failed) {
      failure_ = r.error;
      break;
    }
  }
  if (!failure_.empty() || !stub_->running()) progress.idle = true;
  collect_output(now);
  return progress;
}

}  // namespace openkd::sim
