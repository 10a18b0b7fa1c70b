// Deterministic round-robin scheduling (ABI.md "Scheduling"): each CPU runs a
// slice of N instructions in turn; at a slice end a CPU may switch to the next
// ready thread; one timer tick per round increments KeTickCount.
#include "simulator/machine.hpp"

namespace openkd::sim {
namespace {
constexpr int kGprIds[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                             UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                             UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                             UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
constexpr std::uint64_t kPrcbCurrentThread = 0x08, kPrcbNextThread = 0x10, kPrcbIdleThread = 0x18;
}  // namespace

ThreadRegisters Machine::save_registers(unsigned i) {
  Cpu& c = *cpus_[i].cpu;
  ThreadRegisters r;
  for (int k = 0; k < 16; ++k) r.gpr[k] = c.reg(kGprIds[k]);
  r.rip = c.rip();
  r.rflags = c.reg(UC_X86_REG_RFLAGS);
  for (int k = 0; k < 16; ++k) c.read_reg_bytes(UC_X86_REG_XMM0 + k, r.xmm[k].data());
  r.mxcsr = static_cast<std::uint32_t>(c.reg(UC_X86_REG_MXCSR));
  return r;
}

void Machine::load_registers(unsigned i, const ThreadRegisters& r) {
  Cpu& c = *cpus_[i].cpu;
  for (int k = 0; k < 16; ++k) c.set_reg(kGprIds[k], r.gpr[k]);
  c.set_rip(r.rip);
  c.set_reg(UC_X86_REG_RFLAGS, r.rflags);
  for (int k = 0; k < 16; ++k) c.write_reg_bytes(UC_X86_REG_XMM0 + k, r.xmm[k].data());
  c.set_reg(UC_X86_REG_MXCSR, r.mxcsr);
}

void Machine::set_current_thread_field(unsigned i) {
  const CpuSlot& s = cpus_[i];
  std::uint64_t thread = s.thread ? s.thread->kthread : space_->read_u64(kprcb(i) + kPrcbIdleThread);
  space_->write_u64(kprcb(i) + kPrcbCurrentThread, thread);
  space_->write_u64(kprcb(i) + kPrcbNextThread, 0);
}

void Machine::switch_to_next(unsigned i, bool requeue_current) {
  CpuSlot& s = cpus_[i];
  if (ready_.empty() && !(s.thread && !requeue_current)) return;  // nothing else to run
  ThreadRegisters current = save_registers(i);
  if (s.thread) {
    if (requeue_current) {
      s.thread->regs = current;
      ready_.push_back(*s.thread);
    }
    s.thread.reset();
  } else {
    s.idle_regs = current;
  }
  if (!ready_.empty()) {
    s.thread = ready_.front();
    ready_.pop_front();
    load_registers(i, s.thread->regs);
  } else {
    load_registers(i, s.idle_regs);  // the exiting thread leaves the CPU to its idle thread
  }
  s.halted = false;
  set_current_thread_field(i);
}

bool Machine::runnable(unsigned i) {
  CpuSlot& s = cpus_[i];
  if (s.halted_for_good) return false;
  if (!s.halted) return true;
  if (!s.thread && !ready_.empty()) {  // an idle CPU wakes for a ready thread
    switch_to_next(i, false);
    return true;
  }
  return false;
}

void Machine::end_slice(unsigned i) {
  CpuSlot& s = cpus_[i];
  if (!s.halted_for_good && !s.halted && !ready_.empty()) switch_to_next(i, s.thread.has_value());
  advance();
}

void Machine::advance() {
  current_ = (current_ + 1) % cpus_.size();
  cpus_[current_].slice_left = config_.slice;
  if (current_ == 0) {  // a round is over: one timer tick
    ++ticks_;
    space_->write_u64(tick_count_va_, space_->read_u64(tick_count_va_) + 1);
    io_.pit().tick();
  }
}

}  // namespace openkd::sim
