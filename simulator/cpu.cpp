#include "simulator/cpu.hpp"

#include <algorithm>

namespace openkd::sim {
namespace {
// Dr7 fields (Intel SDM vol. 3, 17.2.4): L/G enable bits 2n/2n+1, R/W at 16+4n, LEN at 18+4n.
bool dr7_enabled(std::uint64_t dr7, unsigned n) { return (dr7 >> (2 * n)) & 3; }
unsigned dr7_rw(std::uint64_t dr7, unsigned n) { return (dr7 >> (16 + 4 * n)) & 3; }
std::uint64_t dr7_len(std::uint64_t dr7, unsigned n) {
  static constexpr std::uint64_t kLen[4] = {1, 2, 8, 4};  // 00 byte, 01 word, 10 qword, 11 dword
  return kLen[(dr7 >> (18 + 4 * n)) & 3];
}
}  // namespace

Cpu::Cpu(unsigned index) : index_(index) {
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc_) != UC_ERR_OK) {
    uc_ = nullptr;
    return;
  }
  uc_hook h;
  // One code hook on every instruction: counting, budget, execute breakpoints.
  uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&Cpu::on_code), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_INTR, reinterpret_cast<void*>(&Cpu::on_interrupt), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(&Cpu::on_unmapped), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&Cpu::on_in), this, 1, 0, UC_X86_INS_IN);
  uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(&Cpu::on_out), this, 1, 0, UC_X86_INS_OUT);
}

Cpu::~Cpu() {
  if (uc_) uc_close(uc_);
}

bool Cpu::map(const Region& region, std::uint8_t* host) {
  // Every page is mapped with full rights in Unicorn; the page tables carry the
  // protections a debugger reads. The kernel image writes its own data sections.
  return uc_mem_map_ptr(uc_, region.va, region.size, UC_PROT_ALL, host) == UC_ERR_OK;
}

void Cpu::unmap(const Region& region) {
  // Only the range's translations go: a full TB flush costs about a millisecond.
  flush_code(region.va, region.size);
  uc_mem_unmap(uc_, region.va, region.size);
}

void Cpu::flush_code(std::uint64_t va, std::uint64_t size) {
  if (size == 0) return;
  uc_ctl_remove_cache(uc_, va, va + size);
}


std::uint64_t Cpu::reg(int id) const {
  std::uint64_t v = 0;
  uc_reg_read(uc_, id, &v);
  return v;
}

void Cpu::set_reg(int id, std::uint64_t value) { uc_reg_write(uc_, id, &value); }

bool Cpu::read_reg_bytes(int id, void* out) const { return uc_reg_read(uc_, id, out) == UC_ERR_OK; }
bool Cpu::write_reg_bytes(int id, const void* in) { return uc_reg_write(uc_, id, in) == UC_ERR_OK; }

std::optional<std::uint64_t> Cpu::read_msr(std::uint32_t msr) const {
  uc_x86_msr m{msr, 0};
  if (uc_reg_read(uc_, UC_X86_REG_MSR, &m) != UC_ERR_OK) return std::nullopt;
  return m.value;
}

bool Cpu::write_msr(std::uint32_t msr, std::uint64_t value) {
  uc_x86_msr m{msr, value};
  return uc_reg_write(uc_, UC_X86_REG_MSR, &m) == UC_ERR_OK;
}

bool Cpu::set_debug_registers(const DebugRegisters& d) {
  for (auto& w : data_watches_) uc_hook_del(uc_, w.hook);
  bool had_data = !data_watches_.empty();
  data_watches_.clear();
  exec_breakpoints_.clear();
  debug_ = d;
  for (unsigned n = 0; n < 4; ++n) {
    if (!dr7_enabled(d.dr7, n)) continue;
    unsigned rw = dr7_rw(d.dr7, n);
    if (rw == 0) {
      exec_breakpoints_.emplace_back(n, d.dr[n]);
    } else if (rw == 1 || rw == 3) {
      std::uint64_t len = dr7_len(d.dr7, n);
      DataWatch w{n, d.dr[n] & ~(len - 1), len, rw == 3};
      int type = UC_HOOK_MEM_WRITE | (w.on_read ? UC_HOOK_MEM_READ : 0);
      // Unicorn matches a hook range against the access's first byte; start 7
      // bytes early so an 8-byte access that overlaps the watch is seen too.
      std::uint64_t begin = w.address >= 7 ? w.address - 7 : 0;
      uc_hook_add(uc_, &w.hook, type, reinterpret_cast<void*>(&Cpu::on_data_access), this, begin,
                  w.address + w.length - 1);
      data_watches_.push_back(w);
    }
    // rw == 2 (I/O breakpoints) needs CR4.DE; not emulated.
  }
  return had_data || !data_watches_.empty();
}

void Cpu::stop_with(CpuStop stop) {
  if (!stop_) stop_ = std::move(stop);
  uc_emu_stop(uc_);
}

void Cpu::on_code(uc_engine*, std::uint64_t address, std::uint32_t, void* p) {
  auto* self = static_cast<Cpu*>(p);
  if (self->stop_) return;  // already stopping; do not count what will not run
  if (self->data_hit_) {    // a data breakpoint traps after the accessing instruction
    CpuStop s = CpuStop::of(CpuStop::Kind::HardwareBreakpoint);
    s.dr_index = *self->data_hit_;
    self->data_hit_.reset();
    self->stop_with(s);
    return;
  }
  if (self->executed_ >= self->budget_) {
    self->stop_with(CpuStop::of(CpuStop::Kind::Budget));
    return;
  }
  bool resume = self->resume_at_ && *self->resume_at_ == address;
  self->resume_at_.reset();
  if (!resume) {
    for (auto [n, bp] : self->exec_breakpoints_) {
      if (bp == address) {
        CpuStop s = CpuStop::of(CpuStop::Kind::HardwareBreakpoint);
        s.dr_index = n;
        self->stop_with(s);
        return;
      }
    }
  }
  ++self->executed_;
}

void Cpu::on_interrupt(uc_engine*, std::uint32_t intno, void* p) {
  auto* self = static_cast<Cpu*>(p);
  CpuStop s = CpuStop::of(CpuStop::Kind::Interrupt);
  s.vector = intno;
  self->stop_with(s);
}

bool Cpu::on_unmapped(uc_engine*, uc_mem_type type, std::uint64_t address, int, std::int64_t, void* p) {
  auto* self = static_cast<Cpu*>(p);
  CpuStop s = CpuStop::of(CpuStop::Kind::MemoryFault);
  s.address = address;
  if (type == UC_MEM_WRITE_UNMAPPED) s.access = 1;
  else if (type == UC_MEM_FETCH_UNMAPPED) s.access = 8;
  else s.access = 0;
  // The faulting instruction was counted by the code hook but does not retire.
  // An instruction fetch fault never reached the code hook.
  if (s.access != 8 && self->executed_ > 0) --self->executed_;
  if (!self->stop_) self->stop_ = s;
  return false;
}

void Cpu::on_data_access(uc_engine*, uc_mem_type type, std::uint64_t address, int size, std::int64_t, void* p) {
  auto* self = static_cast<Cpu*>(p);
  bool write = type == UC_MEM_WRITE;
  for (const auto& w : self->data_watches_) {
    if (!write && !w.on_read) continue;
    if (address < w.address + w.length && w.address < address + std::uint64_t(size)) {
      if (!self->data_hit_) self->data_hit_ = w.index;
      return;
    }
  }
}

std::uint32_t Cpu::on_in(uc_engine*, std::uint32_t port, int size, void* p) {
  auto* self = static_cast<Cpu*>(p);
  return self->port_in_ ? self->port_in_(static_cast<std::uint16_t>(port), size) : 0xFFFFFFFFu;
}

void Cpu::on_out(uc_engine*, std::uint32_t port, int size, std::uint32_t value, void* p) {
  auto* self = static_cast<Cpu*>(p);
  if (self->port_out_) self->port_out_(static_cast<std::uint16_t>(port), size, value);
}

CpuStop Cpu::run(std::uint64_t budget) {
  stop_.reset();
  executed_ = 0;
  budget_ = budget;
  if (data_hit_) {  // a data breakpoint on the last instruction of the previous run
    CpuStop s = CpuStop::of(CpuStop::Kind::HardwareBreakpoint);
    s.dr_index = *data_hit_;
    data_hit_.reset();
    return s;
  }
  if (budget == 0) return CpuStop::of(CpuStop::Kind::Budget);
  // `until` = 1: an odd address in the never-mapped first page, so it is never reached.
  uc_err err = uc_emu_start(uc_, rip(), 1, 0, 0);
  retired_ += executed_;
  if (stop_) return *stop_;
  if (err == UC_ERR_INSN_INVALID) return CpuStop::of(CpuStop::Kind::InvalidInstruction);
  if (err != UC_ERR_OK) {
    CpuStop s = CpuStop::of(CpuStop::Kind::Error);
    s.error = uc_strerror(err);
    return s;
  }
  if (executed_ >= budget_) return CpuStop::of(CpuStop::Kind::Budget);
  std::uint64_t pc = rip();
  if (pc == 1) {  // jumped to the `until` address: an execute fault there
    CpuStop s = CpuStop::of(CpuStop::Kind::MemoryFault);
    s.address = 1;
    s.access = 8;
    return s;
  }
  return CpuStop::of(CpuStop::Kind::Halt);  // Unicorn returns on hlt
}

}  // namespace openkd::sim
