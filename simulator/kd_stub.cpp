#include "simulator/kd_stub.hpp"

#include <algorithm>

namespace openkd::sim {
using wire::kdcom::PacketType;

namespace {
// How long a FILE_IO request waits for the debugger's answer before the
// kernel is told STATUS_NO_SUCH_FILE (a debugger that ACKs but never answers).
constexpr auto kFileIoTimeout = std::chrono::seconds(5);
// KeProcessorLevel of a family-6 x64 CPU, as Windows reports it in packets.
constexpr std::uint16_t kProcessorLevel = 6;
// CreateFile arguments KD sends for a read-only open (GENERIC_READ, FILE_ATTRIBUTE_NORMAL,
// FILE_SHARE_READ, FILE_OPEN).
constexpr std::uint32_t kGenericRead = 0x80000000, kFileAttributeNormal = 0x80, kFileShareRead = 1, kFileOpen = 1;
}  // namespace

KdStub::KdStub(Machine& machine, link::LinkConfig link_config, bool break_on_boot)
    : machine_(&machine), link_config_(link_config), link_(link_config),
      state_(break_on_boot ? State::WaitingAtBoot : State::Running) {}

std::string_view KdStub::state_name() const {
  switch (state_) {
    case State::Running: return "running";
    case State::WaitingAtBoot: return "waiting-at-boot";
    case State::Stopped: return "stopped";
    case State::PrintPending: return "print";
    case State::PromptPending: return "prompt";
    case State::FilePending: return "file";
  }
  return "?";
}

std::optional<KdStub::TimePoint> KdStub::next_deadline() const {
  auto d = link_.next_deadline();
  if (file_deadline_ && (!d || *file_deadline_ < *d)) d = file_deadline_;
  return d;
}

void KdStub::on_receive(wire::ByteView bytes, TimePoint now) {
  link_.on_receive(bytes, now);
  handle_link_events(now);
}

void KdStub::on_timer(TimePoint now) {
  link_.on_timer(now);
  if (state_ == State::FilePending && file_deadline_ && now >= *file_deadline_) {
    file_deadline_.reset();
    machine_->resolve_without_debugger();
    back_to_running(now);
  }
  handle_link_events(now);
}

void KdStub::on_disconnect(TimePoint now) {
  detach(now);
  // Freeze (the default, as Windows): a kernel stopped in the debugger stays in
  // KdpSendWaitContinue until a debugger answers; the next one's RESET makes the
  // stub send the same state change again (handle_link_events). Run: the kernel
  // continues as a detach would: debug traps continue, anything else goes to the
  // kernel's own handling.
  if (state_ == State::Stopped && on_detach_ == OnDetach::Run) {
    std::uint32_t code = origin_stop_ ? origin_stop_->code : 0;
    bool trap = code == wire::kExceptionBreakpoint || code == wire::kExceptionSingleStep || code == 0;
    resume(trap ? wire::kDbgContinue : wire::kDbgExceptionNotHandled, false, std::nullopt);
  }
  // A fresh link for the next debugger: ids restart, nothing stays in flight.
  link_ = link::Link(link_config_);
}

void KdStub::use_link(link::LinkConfig config, TimePoint) {
  link_config_ = config;
  link_ = link::Link(link_config_);  // nothing in flight survives a change of transport
}

void KdStub::attach(TimePoint now) {
  if (attached_) return;
  attached_ = true;
  if (state_ == State::WaitingAtBoot) {
    // --break-on-boot: the first thing a debugger sees is the first instruction.
    Stop s;
    s.cpu = 0;
    s.code = wire::kExceptionBreakpoint;
    s.address = machine_->cpu(0).rip();
    s.information = {0};
    stop_and_report(std::move(s), now);
  }
}

void KdStub::detach(TimePoint) {
  attached_ = false;
  // Whatever waited on the debugger gets the no-debugger answer; a stopped
  // machine stays stopped (as Windows, which keeps re-sending its state change)
  // until a debugger resets the link and takes it.
  switch (state_) {
    case State::PrintPending:
    case State::PromptPending:
    case State::FilePending:
      file_deadline_.reset();
      machine_->resolve_without_debugger();
      state_ = State::Running;
      break;
    default:
      break;
  }
}

void KdStub::handle_link_events(TimePoint now) {
  while (auto ev = link_.take_event()) {
    if (auto* p = std::get_if<link::PacketReceived>(&*ev)) {
      attach(now);
      on_packet(p->packet, now);
    } else if (std::holds_alternative<link::BreakInReceived>(*ev)) {
      attach(now);
      if (state_ == State::Running) break_in(now);
      else if (state_ != State::Stopped) break_in_pending_ = true;
    } else if (std::holds_alternative<link::ResetReceived>(*ev)) {
      attach(now);
      // A debugger that (re)synchronises learns why we are stopped, unless the
      // link is already re-sending that state change.
      if (state_ == State::Stopped && link_.pending_sends() == 0) send_state_change(now);
    } else if (auto* c = std::get_if<link::SendComplete>(&*ev)) {
      if (state_ == State::PrintPending && c->type == PacketType::DebugIo) {
        machine_->complete_print();
        back_to_running(now);
      }
    } else if (std::holds_alternative<link::PeerGone>(*ev)) {
      detach(now);
    }
  }
}

void KdStub::break_in(TimePoint now) {
  ++counters_.break_ins;
  break_in_pending_ = false;
  Stop s;
  s.cpu = machine_->current_cpu();
  s.code = wire::kExceptionBreakpoint;
  s.address = machine_->cpu(s.cpu).rip();
  s.information = {0};
  stop_and_report(std::move(s), now);
}

void KdStub::back_to_running(TimePoint now) {
  state_ = State::Running;
  if (break_in_pending_ && attached_) break_in(now);
  break_in_pending_ = false;
}

void KdStub::on_packet(const wire::kdcom::Packet& p, TimePoint now) {
  switch (p.type) {
    case PacketType::StateManipulate:
      if (state_ == State::Stopped) on_manipulate(p, now);
      break;
    case PacketType::DebugIo:
      if (state_ == State::PromptPending) {
        auto io = wire::decode_debug_io(p.body);
        machine_->complete_prompt(io ? std::string_view(io->text) : std::string_view{});
        back_to_running(now);
      }
      break;
    case PacketType::FileIo:
      if (state_ == State::FilePending) {
        auto f = wire::decode_file_io(p.body);
        if (!f) {
          ++counters_.malformed;
          break;
        }
        file_deadline_.reset();
        const auto& pending = machine_->pending();
        if (pending && std::holds_alternative<FileOpenEvent>(pending->detail)) {
          auto* create = std::get_if<wire::CreateFileArgs>(&f->args);
          file_handle_ = create ? create->handle : 0;
          machine_->complete_file_open(f->status, create ? create->length : 0);
        } else {
          machine_->complete_file_read(f->status, f->data);
        }
        back_to_running(now);
      }
      break;
    default:
      break;  // nothing else is for a target
  }
}

void KdStub::send(PacketType type, wire::Bytes body, TimePoint now) {
  (void)link_.send(type, std::move(body), now);  // bodies are built below 4000 bytes
}

void KdStub::on_machine_event(TimePoint now) {
  const auto& pending = machine_->pending();
  if (!pending || state_ != State::Running) return;
  if (!attached_) {
    if (std::holds_alternative<PrintEvent>(pending->detail)) ++counters_.prints_dropped;
    machine_->resolve_without_debugger();
    return;
  }
  unsigned cpu = pending->cpu;
  if (auto* ex = std::get_if<ExceptionEvent>(&pending->detail)) {
    Stop s;
    s.cpu = cpu;
    s.code = ex->code;
    s.address = ex->address;
    s.information = ex->information;
    s.first_chance = ex->first_chance;
    stop_and_report(std::move(s), now);
  } else if (auto* sym = std::get_if<SymbolsEvent>(&pending->detail)) {
    Stop s;
    s.cpu = cpu;
    s.address = machine_->cpu(cpu).rip();
    s.symbols = *sym;
    stop_and_report(std::move(s), now);
  } else if (auto* print = std::get_if<PrintEvent>(&pending->detail)) {
    ++counters_.prints;
    wire::DebugIo io;
    io.api = wire::kDebugIoPrintString;
    io.processor_level = kProcessorLevel;
    io.processor = static_cast<std::uint16_t>(cpu);
    io.text = print->text;
    state_ = State::PrintPending;
    send(PacketType::DebugIo, wire::encode(io), now);
  } else if (auto* prompt = std::get_if<PromptEvent>(&pending->detail)) {
    wire::DebugIo io;
    io.api = wire::kDebugIoGetString;
    io.processor_level = kProcessorLevel;
    io.processor = static_cast<std::uint16_t>(cpu);
    io.text = prompt->prompt;
    io.length_of_string_read = prompt->max_reply;
    state_ = State::PromptPending;
    send(PacketType::DebugIo, wire::encode(io), now);
  } else if (auto* open = std::get_if<FileOpenEvent>(&pending->detail)) {
    wire::FileIo f;
    f.api = wire::kFileIoCreateFile;
    wire::CreateFileArgs args;
    args.desired_access = kGenericRead;
    args.file_attributes = kFileAttributeNormal;
    args.share_access = kFileShareRead;
    args.create_disposition = kFileOpen;
    f.args = args;
    f.path = open->path;
    state_ = State::FilePending;
    file_deadline_ = now + kFileIoTimeout;
    send(PacketType::FileIo, wire::encode(f), now);
  } else if (auto* read = std::get_if<FileReadEvent>(&pending->detail)) {
    start_file_read(*read, now);
  }
}

void KdStub::start_file_read(const FileReadEvent& ev, TimePoint now) {
  wire::FileIo f;
  f.api = wire::kFileIoReadFile;
  wire::FileTransferArgs args;
  args.handle = file_handle_;
  args.offset = ev.offset;
  // One reply carries at most a packet's worth: 4000 - 64-byte FILE_IO header.
  args.length = std::min<std::uint32_t>(ev.length, 4000 - 64);
  f.args = args;
  state_ = State::FilePending;
  file_deadline_ = now + kFileIoTimeout;
  send(PacketType::FileIo, wire::encode(f), now);
}

void KdStub::stop_and_report(Stop stop, TimePoint now, bool origin) {
  if (origin) origin_stop_ = stop;
  cpu_ = stop.cpu;
  stop_ = std::move(stop);
  state_ = State::Stopped;
  send_state_change(now);
}

void KdStub::send_state_change(TimePoint now) {
  if (!stop_) return;
  const Stop& s = *stop_;
  Cpu& c = machine_->cpu(s.cpu);
  wire::StateChange sc;
  sc.processor_level = kProcessorLevel;
  sc.processor = static_cast<std::uint16_t>(s.cpu);
  sc.number_processors = machine_->cpu_count();
  sc.thread = machine_->current_thread(s.cpu);
  sc.program_counter = c.rip();
  StateChangeRecord rec{s.cpu, wire::kStateException, s.code, c.rip(), machine_->instructions()};
  if (s.symbols) {
    wire::LoadSymbolsState ls;
    ls.base_of_dll = s.symbols->base;
    ls.process_id = s.symbols->process_id;
    ls.checksum = s.symbols->checksum;
    ls.size_of_image = s.symbols->size;
    ls.unload = s.symbols->unload;
    ls.path = s.symbols->path;
    sc.state = ls;
    rec.new_state = wire::kStateLoadSymbols;
    rec.code = 0;
  } else {
    wire::ExceptionState es;
    es.record.code = s.code;
    es.record.address = s.address;
    es.record.number_parameters = static_cast<std::uint32_t>(std::min<std::size_t>(s.information.size(), 15));
    for (std::size_t k = 0; k < es.record.number_parameters; ++k) es.record.information[k] = s.information[k];
    es.first_chance = s.first_chance ? 1 : 0;
    sc.state = es;
  }
  // AMD64 control report: debug registers, flags, the next 16 instruction bytes, segments.
  const auto& d = c.debug_registers();
  sc.control.dr6 = d.dr6;
  sc.control.dr7 = d.dr7;
  sc.control.eflags = static_cast<std::uint32_t>(c.reg(UC_X86_REG_RFLAGS));
  sc.control.instruction_count = static_cast<std::uint16_t>(
      machine_->space().read(c.rip(), sc.control.instruction_stream));
  sc.control.report_flags = 3;  // REPORT_INCLUDES_SEGS | REPORT_STANDARD_CS
  sc.control.seg_cs = static_cast<std::uint16_t>(c.reg(UC_X86_REG_CS));
  sc.control.seg_ds = static_cast<std::uint16_t>(c.reg(UC_X86_REG_DS));
  sc.control.seg_es = static_cast<std::uint16_t>(c.reg(UC_X86_REG_ES));
  sc.control.seg_fs = static_cast<std::uint16_t>(c.reg(UC_X86_REG_FS));
  ++counters_.state_changes;
  history_.push_back(rec);
  send(PacketType::StateChange64, wire::encode(sc), now);
}

void KdStub::resume(std::uint32_t continue_status, bool single_step, std::optional<std::uint64_t> dr7) {
  if (dr7) {
    DebugRegisters d = machine_->cpu(cpu_).debug_registers();
    d.dr7 = *dr7;
    machine_->set_debug_registers(d);
  }
  machine_->set_single_step(cpu_, single_step);
  const auto& pending = machine_->pending();
  if (pending) {
    if (std::holds_alternative<ExceptionEvent>(pending->detail))
      machine_->resume_exception(continue_status != wire::kDbgExceptionNotHandled);
    else if (std::holds_alternative<SymbolsEvent>(pending->detail))
      machine_->complete_symbols();
  }
  stop_.reset();
  origin_stop_.reset();
  state_ = State::Running;
}

void KdStub::on_rebooted(Machine& machine, TimePoint now) {
  machine_ = &machine;
  reboot_requested_ = false;
  breakpoints_.clear();
  stop_.reset();
  cpu_ = 0;
  link_ = link::Link(link_config_);  // a rebooted target starts its ids over (SYNC)
  state_ = State::WaitingAtBoot;
  // The debugger that asked for the reboot sees the new kernel's first instruction.
  if (attached_) {
    attached_ = false;
    attach(now);
  }
}

void KdStub::on_manipulate(const wire::kdcom::Packet& p, TimePoint now) {
  ++counters_.manipulates;
  auto request = wire::decode_manipulate(p.body);
  if (!request) {
    // Malformed: echo the header back with an error if there is one to echo.
    ++counters_.malformed;
    if (p.body.size() < wire::kManipulateHeaderSize) return;
    wire::Manipulate echo;
    wire::Reader r(p.body);
    echo.api = r.u32();
    wire::RawUnion raw;
    std::copy_n(p.body.begin() + 16, 40, raw.bytes.begin());
    echo.args = raw;
    echo.processor = static_cast<std::uint16_t>(cpu_);
    echo.return_status = wire::kStatusUnsuccessful;
    send(PacketType::StateManipulate, wire::encode(echo), now);
    return;
  }
  wire::Manipulate reply = *request;
  reply.data.clear();
  reply.processor_level = kProcessorLevel;
  reply.processor = static_cast<std::uint16_t>(cpu_);
  reply.return_status = wire::kStatusSuccess;
  const auto& table = dispatch_table();
  auto it = std::find_if(table.begin(), table.end(),
                         [&](const ApiEntry& e) { return static_cast<std::uint32_t>(e.api) == request->api; });
  bool send_reply;
  if (it == table.end()) {
    ++counters_.unknown_apis;
    reply.return_status = wire::kStatusUnsuccessful;  // as Windows' KdpNotSupported
    send_reply = true;
  } else {
    send_reply = (this->*(it->handler))(*request, reply, now);
  }
  if (send_reply) send(PacketType::StateManipulate, wire::encode(reply), now);
}

const std::vector<KdStub::ApiEntry>& KdStub::dispatch_table() {
  using A = wire::Api;
  static const std::vector<ApiEntry> table = {
      {A::ReadVirtualMemory, &KdStub::handle_read_virtual_memory},
      {A::WriteVirtualMemory, &KdStub::handle_write_virtual_memory},
      {A::GetContext, &KdStub::handle_get_context},
      {A::SetContext, &KdStub::handle_set_context},
      {A::WriteBreakPoint, &KdStub::handle_write_breakpoint},
      {A::RestoreBreakPoint, &KdStub::handle_restore_breakpoint},
      {A::Continue, &KdStub::handle_continue},
      {A::ReadControlSpace, &KdStub::handle_read_control_space},
      {A::WriteControlSpace, &KdStub::handle_write_control_space},
      {A::ReadIoSpace, &KdStub::handle_read_io_space},
      {A::WriteIoSpace, &KdStub::handle_write_io_space},
      {A::Reboot, &KdStub::handle_reboot},
      {A::Continue2, &KdStub::handle_continue2},
      {A::ReadPhysicalMemory, &KdStub::handle_read_physical_memory},
      {A::WritePhysicalMemory, &KdStub::handle_write_physical_memory},
      {A::QuerySpecialCalls, &KdStub::handle_not_implemented},
      {A::SetSpecialCall, &KdStub::handle_not_implemented},
      {A::ClearSpecialCalls, &KdStub::handle_not_implemented},
      {A::SetInternalBreakPoint, &KdStub::handle_not_implemented},
      {A::GetInternalBreakPoint, &KdStub::handle_not_implemented},
      {A::ReadIoSpaceExtended, &KdStub::handle_read_io_space_extended},
      {A::WriteIoSpaceExtended, &KdStub::handle_write_io_space_extended},
      {A::GetVersion, &KdStub::handle_get_version},
      {A::WriteBreakPointEx, &KdStub::handle_write_breakpoint_ex},
      {A::RestoreBreakPointEx, &KdStub::handle_restore_breakpoint_ex},
      {A::CauseBugCheck, &KdStub::handle_cause_bug_check},
      {A::SwitchProcessor, &KdStub::handle_switch_processor},
      {A::PageIn, &KdStub::handle_not_implemented},
      {A::ReadMachineSpecificRegister, &KdStub::handle_read_msr},
      {A::WriteMachineSpecificRegister, &KdStub::handle_write_msr},
      {A::OldVlm1, &KdStub::handle_not_implemented},
      {A::OldVlm2, &KdStub::handle_not_implemented},
      {A::SearchMemory, &KdStub::handle_search_memory},
      {A::GetBusData, &KdStub::handle_not_implemented},
      {A::SetBusData, &KdStub::handle_not_implemented},
      {A::CheckLowMemory, &KdStub::handle_check_low_memory},
      {A::ClearAllInternalBreakpoints, &KdStub::handle_clear_all_internal_breakpoints},
      {A::FillMemory, &KdStub::handle_fill_memory},
      {A::QueryMemory, &KdStub::handle_query_memory},
      {A::SwitchPartition, &KdStub::handle_not_implemented},
      {A::WriteCustomBreakpoint, &KdStub::handle_not_implemented},
      {A::GetContextEx, &KdStub::handle_get_context_ex},
      {A::SetContextEx, &KdStub::handle_set_context_ex},
  };
  return table;
}

bool KdStub::handle_not_implemented(const wire::Manipulate&, wire::Manipulate& reply, TimePoint) {
  reply.return_status = wire::kStatusNotImplemented;
  return true;
}

bool KdStub::handle_clear_all_internal_breakpoints(const wire::Manipulate&, wire::Manipulate&, TimePoint) {
  return false;  // no internal breakpoints exist; this API has no reply (docs/protocol.md section 2)
}

bool KdStub::handle_check_low_memory(const wire::Manipulate&, wire::Manipulate&, TimePoint) {
  return true;  // every physical page is below 4 GiB and fine
}

bool KdStub::handle_continue(const wire::Manipulate& request, wire::Manipulate&, TimePoint) {
  const auto* args = std::get_if<wire::ContinueArgs>(&request.args);
  resume(args ? args->continue_status : wire::kDbgContinue, false, std::nullopt);
  return false;
}

bool KdStub::handle_continue2(const wire::Manipulate& request, wire::Manipulate&, TimePoint) {
  const auto* args = std::get_if<wire::Continue2Args>(&request.args);
  if (!args) {
    resume(wire::kDbgContinue, false, std::nullopt);
    return false;
  }
  resume(args->continue_status, args->trace_flag != 0, args->dr7);
  return false;
}

bool KdStub::handle_reboot(const wire::Manipulate&, wire::Manipulate&, TimePoint) {
  reboot_requested_ = true;
  stop_.reset();
  state_ = State::Running;
  return false;
}

}  // namespace openkd::sim
