// KD stub handlers for processor state: contexts, control space, MSRs, I/O
// space, version, processor switch and bug check.
#include <algorithm>

#include "simulator/kd_stub.hpp"

namespace openkd::sim {
namespace {
using wire::Manipulate;
using wire::MemoryTransfer;

// AMD64 control space addresses (docs/protocol.md section 2).
enum : std::uint64_t { kControlKpcr = 0, kControlKprcb = 1, kControlSpecialRegisters = 2, kControlThread = 3 };
constexpr std::uint32_t kManuallyInitiatedCrash = 0xE2;  // MANUALLY_INITIATED_CRASH

// DBGKD_GET_VERSION64 facts for this target (docs/protocol.md section 2).
constexpr std::uint16_t kMajorFreeNt = 0x0F;  // NT kernel (0x0 high byte), free build (0xF)
constexpr std::uint8_t kMaxStateChange = 0x3033 - 0x3030;     // DbgKdMaximumStateChange - minimum
constexpr std::uint8_t kMaxManipulate = 0x3161 - 0x3130;      // DbgKdMaximumManipulate - minimum
}  // namespace

bool KdStub::handle_get_context(const Manipulate&, Manipulate& reply, TimePoint) {
  reply.data = wire::encode(machine_->get_context(cpu_));
  return true;
}

bool KdStub::handle_set_context(const Manipulate& request, Manipulate& reply, TimePoint) {
  auto ctx = wire::decode_context(request.data);
  if (!ctx) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  const auto* a = std::get_if<wire::SetContextArgs>(&request.args);
  if (a && a->context_flags) ctx->context_flags = a->context_flags;
  machine_->set_context(cpu_, *ctx);
  reply.data.clear();
  return true;
}

bool KdStub::handle_get_context_ex(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::ContextExArgs>(&request.args);
  auto bytes = wire::encode(machine_->get_context(cpu_));
  auto& out = std::get<wire::ContextExArgs>(reply.args);
  if (!a || a->offset >= bytes.size()) {
    out.bytes_copied = 0;
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  std::size_t n = std::min<std::size_t>({a->byte_count, bytes.size() - a->offset, wire::kMaxReadChunk});
  reply.data.assign(bytes.begin() + a->offset, bytes.begin() + a->offset + static_cast<std::ptrdiff_t>(n));
  out.bytes_copied = static_cast<std::uint32_t>(n);
  return true;
}

bool KdStub::handle_set_context_ex(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::ContextExArgs>(&request.args);
  auto bytes = wire::encode(machine_->get_context(cpu_));
  auto& out = std::get<wire::ContextExArgs>(reply.args);
  reply.data.clear();
  if (!a || a->offset > bytes.size() || request.data.size() > bytes.size() - a->offset) {
    out.bytes_copied = 0;
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  std::copy(request.data.begin(), request.data.end(), bytes.begin() + a->offset);
  auto ctx = wire::decode_context(bytes);
  if (!ctx) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  ctx->context_flags = wire::kContextAll;
  machine_->set_context(cpu_, *ctx);
  out.bytes_copied = static_cast<std::uint32_t>(request.data.size());
  return true;
}

bool KdStub::handle_read_control_space(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* t = std::get_if<MemoryTransfer>(&request.args);
  wire::Bytes value;
  wire::Writer w(value);
  switch (t ? t->target_base_address : ~0ull) {
    case kControlKpcr: w.u64(machine_->kpcr(cpu_)); break;
    case kControlKprcb: w.u64(machine_->kprcb(cpu_)); break;
    case kControlSpecialRegisters: value = wire::encode(machine_->get_special_registers(cpu_)); break;
    case kControlThread: w.u64(machine_->current_thread(cpu_)); break;
    default: break;
  }
  std::size_t n = std::min<std::size_t>(t ? t->transfer_count : 0, value.size());
  reply.data.assign(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(n));
  std::get<MemoryTransfer>(reply.args).actual_bytes = static_cast<std::uint32_t>(n);
  reply.return_status = n > 0 ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_write_control_space(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* t = std::get_if<MemoryTransfer>(&request.args);
  reply.data.clear();
  // Only KSPECIAL_REGISTERS is writable; a partial write patches the current value.
  if (!t || t->target_base_address != kControlSpecialRegisters || request.data.empty() ||
      request.data.size() > wire::kSpecialRegistersSize) {
    std::get<MemoryTransfer>(reply.args).actual_bytes = 0;
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  auto bytes = wire::encode(machine_->get_special_registers(cpu_));
  std::copy(request.data.begin(), request.data.end(), bytes.begin());
  auto regs = wire::decode_special_registers(bytes);
  if (!regs) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  machine_->set_special_registers(cpu_, *regs);
  std::get<MemoryTransfer>(reply.args).actual_bytes = static_cast<std::uint32_t>(request.data.size());
  return true;
}

namespace {
bool valid_io_size(std::uint32_t size) { return size == 1 || size == 2 || size == 4; }
}  // namespace

bool KdStub::handle_read_io_space(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::IoArgs>(&request.args);
  auto& out = std::get<wire::IoArgs>(reply.args);
  if (!a || !valid_io_size(a->data_size) || a->io_address > 0xFFFF) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  out.data_value = machine_->io().read(static_cast<std::uint16_t>(a->io_address), static_cast<int>(a->data_size));
  return true;
}

bool KdStub::handle_write_io_space(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::IoArgs>(&request.args);
  if (!a || !valid_io_size(a->data_size) || a->io_address > 0xFFFF) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  machine_->io().write(static_cast<std::uint16_t>(a->io_address), static_cast<int>(a->data_size), a->data_value);
  return true;
}

// The Extended forms add the bus (interface type, bus number, address space);
// the machine has one ISA-style I/O space (address space 1).
bool KdStub::handle_read_io_space_extended(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::IoExtendedArgs>(&request.args);
  auto& out = std::get<wire::IoExtendedArgs>(reply.args);
  if (!a || !valid_io_size(a->data_size) || a->io_address > 0xFFFF || a->bus_number != 0 || a->address_space != 1) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  out.data_value = machine_->io().read(static_cast<std::uint16_t>(a->io_address), static_cast<int>(a->data_size));
  return true;
}

bool KdStub::handle_write_io_space_extended(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::IoExtendedArgs>(&request.args);
  if (!a || !valid_io_size(a->data_size) || a->io_address > 0xFFFF || a->bus_number != 0 || a->address_space != 1) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  machine_->io().write(static_cast<std::uint16_t>(a->io_address), static_cast<int>(a->data_size), a->data_value);
  return true;
}

bool KdStub::handle_read_msr(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::MsrArgs>(&request.args);
  auto& out = std::get<wire::MsrArgs>(reply.args);
  auto v = a ? machine_->read_msr(cpu_, a->msr) : std::nullopt;
  if (!v) {
    reply.return_status = wire::kStatusUnsuccessful;  // a real CPU would #GP
    return true;
  }
  out.data_value_low = static_cast<std::uint32_t>(*v);
  out.data_value_high = static_cast<std::uint32_t>(*v >> 32);
  return true;
}

bool KdStub::handle_write_msr(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::MsrArgs>(&request.args);
  std::uint64_t value = a ? (std::uint64_t(a->data_value_high) << 32 | a->data_value_low) : 0;
  if (!a || !machine_->write_msr(cpu_, a->msr, value)) reply.return_status = wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_get_version(const Manipulate&, Manipulate& reply, TimePoint) {
  wire::GetVersion64 v;
  v.major_version = kMajorFreeNt;
  v.minor_version = static_cast<std::uint16_t>(machine_->config().build);
  v.protocol_version = 6;
  v.kd_secondary_version = 2;  // KD_SECONDARY_VERSION_AMD64_CONTEXT
  v.flags = wire::kVersionFlagPtr64 | wire::kVersionFlagData |
            (machine_->cpu_count() > 1 ? wire::kVersionFlagMp : 0);
  v.machine_type = 0x8664;
  v.max_packet_type = static_cast<std::uint8_t>(wire::kdcom::PacketType::Max);
  v.max_state_change = kMaxStateChange;
  v.max_manipulate = kMaxManipulate;
  v.simulation = 0;
  v.kern_base = machine_->kernel_base();
  v.ps_loaded_module_list = machine_->kernel_export("PsLoadedModuleList").value_or(0);
  v.debugger_data_list = machine_->kernel_export("KdpDebuggerDataListHead").value_or(0);
  reply.args = v;
  return true;
}

bool KdStub::handle_cause_bug_check(const Manipulate&, Manipulate& reply, TimePoint) {
  // No reply (the kernel stops in the bug check): the processor calls
  // KeBugCheckEx and the debugger hears of it as the bug check breakpoint.
  if (!machine_->call_bugcheck(cpu_, kManuallyInitiatedCrash)) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  resume(wire::kDbgContinue, false, std::nullopt);
  return false;
}

bool KdStub::handle_switch_processor(const Manipulate& request, Manipulate& reply, TimePoint now) {
  unsigned target = request.processor;
  if (target >= machine_->cpu_count()) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  // No reply: the chosen processor reports a state change. The original stop
  // (and any machine event it carries) stays pending until Continue.
  Stop s;
  if (origin_stop_ && origin_stop_->cpu == target) {
    s = *origin_stop_;
  } else {
    s.cpu = target;
    s.code = wire::kExceptionBreakpoint;
    s.address = machine_->cpu(target).rip();
    s.information = {0};
  }
  stop_and_report(std::move(s), now, false);
  return false;
}

}  // namespace openkd::sim
