#include "sim_host.hpp"

#include <stdexcept>

namespace openkd::sim::test {
using wire::kdcom::PacketType;

std::unique_ptr<Simulator> make_simulator(const HostOptions& o) {
  SimulatorConfig c;
  c.machine.cpus = o.cpus;
  c.machine.seed = o.seed;
  c.machine.kernel_dir = OPENKD_KERNEL_DIR;
  c.break_on_boot = o.break_on_boot;
  c.faults = o.faults;
  c.machine.boot_prompt = o.boot_prompt;
  c.on_detach = o.on_detach;
  auto s = Simulator::create(c);
  if (!s) throw std::runtime_error(s.error());
  return std::move(*s);
}

Host::Host(Simulator& sim) : sim_(sim) {}

std::uint64_t Host::now_ms() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count());
}

void Host::pump(std::uint64_t instructions) {
  while (auto f = session_.take_frame()) sim_.feed(*f, now_);
  sim_.run_for(instructions, now_);
  auto out = sim_.take_output(now_);
  if (!out.empty()) session_.on_bytes(out, now_);
  // 20 ms of fake time per round: retries (1 s) happen only when something was lost.
  now_ += std::chrono::milliseconds(20);
  session_.on_timer(now_);
  while (auto e = session_.take_event()) on_event(*e);
  while (auto f = session_.take_frame()) sim_.feed(*f, now_);
}

void Host::on_event(debugger::HostEvent& e) {
  if (auto* s = std::get_if<debugger::Stopped>(&e)) {
    changes.push_back(s->change);
  } else if (auto* r = std::get_if<debugger::ReplyReady>(&e)) {
    replies_[r->id] = std::move(r->reply);
  } else if (auto* f = std::get_if<debugger::RequestFailed>(&e)) {
    failures_[f->id] = f->error;
  } else if (auto* p = std::get_if<debugger::Printed>(&e)) {
    prints += p->text;
  } else if (auto* q = std::get_if<debugger::PromptAsked>(&e)) {
    session_.answer_prompt(q->id, prompt_reply, now_);
  } else if (auto* fr = std::get_if<debugger::FileRequested>(&e)) {
    const wire::FileIo& f = fr->request;
    wire::FileIo answer = f;
    answer.status = wire::kStatusNoSuchFile;
    answer.path.clear();
    answer.data.clear();
    if (f.api == wire::kFileIoCreateFile) {
      std::string path(f.path.begin(), f.path.end());  // ASCII paths
      open_file_ = nullptr;
      for (const auto& [suffix, bytes] : served_files)
        if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
          open_file_ = &bytes;
      if (open_file_) {
        auto& args = std::get<wire::CreateFileArgs>(answer.args);
        args.handle = 1;
        args.length = open_file_->size();
        answer.status = wire::kStatusSuccess;
      }
    } else if (f.api == wire::kFileIoReadFile && open_file_) {
      const auto& args = std::get<wire::FileTransferArgs>(f.args);
      std::size_t from = std::min<std::size_t>(args.offset, open_file_->size());
      std::size_t n = std::min<std::size_t>(args.length, open_file_->size() - from);
      answer.data.assign(open_file_->begin() + static_cast<std::ptrdiff_t>(from),
                         open_file_->begin() + static_cast<std::ptrdiff_t>(from + n));
      answer.status = wire::kStatusSuccess;
    }
    session_.answer_file(std::move(answer), now_);
  }
}

void Host::start_sync() {
  if (session_.connected()) {
    session_.resync(now_);
  } else {
    session_.on_connected(now_);
  }
}

wire::StateChange Host::attach() {
  start_sync();
  auto sc = wait_state_change();
  if (!sc) throw std::runtime_error("no state change after attaching");
  return *sc;
}

std::optional<wire::Manipulate> Host::request(wire::Manipulate m, int max_pumps) {
  auto id = session_.submit(std::move(m), debugger::Expect::Reply, now_);
  for (int k = 0; k < max_pumps; ++k) {
    while (auto e = session_.take_event()) on_event(*e);
    if (auto it = replies_.find(id); it != replies_.end()) {
      auto r = std::move(it->second);
      replies_.erase(it);
      return r;
    }
    if (failures_.erase(id)) return std::nullopt;
    pump(0);
  }
  return std::nullopt;
}

void Host::send_only(const wire::Manipulate& m) {
  auto id = session_.submit(m, debugger::Expect::Stop, now_);
  while (auto e = session_.take_event()) on_event(*e);
  if (auto it = failures_.find(id); it != failures_.end())
    throw std::runtime_error("request refused: " + it->second.message);
}

void Host::send_raw(wire::kdcom::PacketType type, wire::Bytes body) { session_.send_raw(type, std::move(body), now_); }

void Host::break_in() { session_.break_in(now_); }

std::optional<wire::StateChange> Host::wait_state_change(int max_pumps) {
  for (int k = 0; k < max_pumps && changes.empty(); ++k) pump();
  if (changes.empty()) return std::nullopt;
  auto sc = changes.front();
  changes.pop_front();
  return sc;
}

std::optional<wire::StateChange> Host::go(std::uint32_t status, bool step, std::uint64_t dr7, int max_pumps) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::Continue2);
  wire::Continue2Args a;
  a.continue_status = status;
  a.trace_flag = step ? 1 : 0;
  a.dr7 = dr7;
  m.args = a;
  send_only(m);
  return wait_state_change(max_pumps);
}

wire::Bytes Host::read_virtual(std::uint64_t address, std::uint32_t count, std::uint32_t* status) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::ReadVirtualMemory);
  m.args = wire::MemoryTransfer{address, count, 0};
  auto r = request(m);
  if (!r) throw std::runtime_error("no reply to ReadVirtualMemory");
  if (status) *status = r->return_status;
  return r->data;
}

std::uint32_t Host::write_virtual(std::uint64_t address, wire::ByteView data) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::WriteVirtualMemory);
  m.args = wire::MemoryTransfer{address, static_cast<std::uint32_t>(data.size()), 0};
  m.data.assign(data.begin(), data.end());
  auto r = request(m);
  if (!r) throw std::runtime_error("no reply to WriteVirtualMemory");
  return r->return_status;
}

wire::Bytes Host::read_physical(std::uint64_t address, std::uint32_t count) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::ReadPhysicalMemory);
  m.args = wire::MemoryTransfer{address, count, 0};
  auto r = request(m);
  if (!r) throw std::runtime_error("no reply to ReadPhysicalMemory");
  return r->data;
}

wire::Context Host::get_context() {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::GetContext);
  auto r = request(m);
  if (!r) throw std::runtime_error("no reply to GetContext");
  auto c = wire::decode_context(r->data);
  if (!c) throw std::runtime_error("bad CONTEXT");
  return *c;
}

std::uint32_t Host::set_context(const wire::Context& c) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::SetContext);
  m.args = wire::SetContextArgs{c.context_flags};
  m.data = wire::encode(c);
  auto r = request(m);
  if (!r) throw std::runtime_error("no reply to SetContext");
  return r->return_status;
}

wire::Bytes Host::read_control(std::uint64_t which, std::uint32_t count) {
  wire::Manipulate m;
  m.api = static_cast<std::uint32_t>(wire::Api::ReadControlSpace);
  m.args = wire::MemoryTransfer{which, count, 0};
  auto r = request(m);
  if (!r) throw std::runtime_error("no reply to ReadControlSpace");
  return r->data;
}

std::uint64_t driver_export(const std::string& file, std::uint64_t base, const std::string& name) {
  auto pe = load_pe_file(std::string(OPENKD_KERNEL_DIR) + "/" + file);
  if (!pe) throw std::runtime_error(pe.error());
  auto it = pe->exports.find(name);
  if (it == pe->exports.end()) throw std::runtime_error(file + " does not export " + name);
  return base + it->second;
}

}  // namespace openkd::sim::test
