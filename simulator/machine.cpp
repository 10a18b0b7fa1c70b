#include "simulator/machine.hpp"
#include "simulator/sim_builds.hpp"

#include <algorithm>
#include <cstring>

namespace openkd::sim {
namespace {
// Windows x64 GDT selectors (KGDT64_*) and their descriptors (Intel SDM vol. 3, 3.4.5).
constexpr std::uint16_t kSelR0Code = 0x10, kSelR0Data = 0x18, kSelR3Data = 0x2B, kSelR3Teb = 0x53, kSelTss = 0x40;
constexpr std::uint64_t kDescR0Code64 = 0x00209B0000000000ull;  // P, DPL0, code exec/read, L
constexpr std::uint64_t kDescR0Data = 0x00CF93000000FFFFull;
constexpr std::uint64_t kDescR3Compat = 0x00CFFB000000FFFFull;
constexpr std::uint64_t kDescR3Data = 0x00CFF3000000FFFFull;
constexpr std::uint64_t kDescR3Code64 = 0x0020FB0000000000ull;
constexpr std::uint16_t kGdtLimit = 0x6F;
constexpr std::uint32_t kBootPrompt = 0x1;  // SIM_LOADER_BLOCK.BootFlags: SIM_BOOT_PROMPT (sdk/kd.h)
constexpr std::uint64_t kTssSize = 0x68;
// Offsets inside a CPU's per-CPU area.
constexpr std::uint64_t kGdtOffset = 0x1000, kIdtOffset = 0x2000, kTssOffset = 0x3000, kLoaderBlockOffset = 0x4000;
// KPCR fields the simulator fills (Windows 10 x64): GdtBase, TssBase, IdtBase.
constexpr std::uint64_t kKpcrGdtBase = 0x00, kKpcrTssBase = 0x08, kKpcrIdtBase = 0x38;

constexpr std::uint32_t kMsrTsc = 0x10, kMsrApicBase = 0x1B, kMsrPat = 0x277, kMsrEfer = 0xC0000080,
                        kMsrStar = 0xC0000081, kMsrLstar = 0xC0000082, kMsrCstar = 0xC0000083,
                        kMsrSfmask = 0xC0000084, kMsrFsBase = 0xC0000100, kMsrGsBase = 0xC0000101,
                        kMsrKernelGsBase = 0xC0000102, kMsrTscAux = 0xC0000103;
}  // namespace

std::uint32_t exception_code_for_vector(std::uint32_t vector) {
  switch (vector) {
    case 0: return 0xC0000094;   // STATUS_INTEGER_DIVIDE_BY_ZERO
    case 1: return 0x80000004;   // STATUS_SINGLE_STEP
    case 3: return 0x80000003;   // STATUS_BREAKPOINT
    case 4: return 0xC0000095;   // STATUS_INTEGER_OVERFLOW
    case 5: return 0xC000008C;   // STATUS_ARRAY_BOUNDS_EXCEEDED
    case 6: return 0xC000001D;   // STATUS_ILLEGAL_INSTRUCTION
    case 13: return 0xC0000096;  // STATUS_PRIVILEGED_INSTRUCTION (#GP)
    case 14: return 0xC0000005;  // STATUS_ACCESS_VIOLATION
    case 16: case 19: return 0xC00002B5;  // STATUS_FLOAT_MULTIPLE_TRAPS
    case 17: return 0x80000002;  // STATUS_DATATYPE_MISALIGNMENT
    default: return 0xC000001D;
  }
}

Machine::Machine(MachineConfig config) : config_(std::move(config)) {}
Machine::~Machine() = default;

std::expected<std::unique_ptr<Machine>, std::string> Machine::create(const MachineConfig& config) {
  if (config.cpus < 1 || config.cpus > kMaxCpus) return std::unexpected("--cpus must be 1 to 8");
  if (config.memory_mib < 32 || config.memory_mib > 16384) return std::unexpected("--memory must be 32 to 16384 MiB");
  std::unique_ptr<Machine> m(new Machine(config));
  if (auto ok = m->boot(); !ok) return std::unexpected(ok.error());
  return m;
}

std::expected<void, std::string> Machine::boot() {
  physical_ = std::make_unique<PhysicalMemory>(config_.memory_mib << 20);
  space_ = std::make_unique<AddressSpace>(*physical_);
  for (unsigned i = 0; i < config_.cpus; ++i) {
    CpuSlot slot;
    slot.cpu = std::make_unique<Cpu>(i);
    if (!slot.cpu->ok()) return std::unexpected("cannot open a Unicorn x86-64 engine");
    slot.cpu->set_io_handlers([this](std::uint16_t port, int size) { return io_.read(port, size); },
                              [this](std::uint16_t port, int size, std::uint32_t v) { io_.write(port, size, v); });
    cpus_.push_back(std::move(slot));
  }
  // Every region goes into every engine, onto the same host bytes.
  space_->set_listener([this](const Region& r, bool mapped) {
    for (auto& c : cpus_) {
      if (mapped) c.cpu->map(r, physical_->host(r.pa));
      else c.cpu->unmap(r);
    }
  });

  // The image compiled for the build asked for (sim_builds.hpp); an unmodelled build is refused.
  auto kernel_path = kernel_image_path(config_.kernel_dir, config_.build);
  if (!kernel_path) return std::unexpected(kernel_path.error());
  auto kernel = load_pe_file(*kernel_path);
  if (!kernel) return std::unexpected(kernel.error());
  if (kernel->image_base != kKernelBase) return std::unexpected("simkrnl.exe is not based at 0xFFFFF80000400000");
  kernel_image_ = std::move(*kernel);
  auto kregion = map_pe(*space_, *kernel_image_, kKernelBase,
                        [](const std::string& m, const std::string& n) -> std::optional<std::uint64_t> {
                          (void)m; (void)n;
                          return std::nullopt;  // the kernel imports nothing
                        });
  if (!kregion) return std::unexpected(kregion.error());
  kernel_ = *kregion;
  modules_.push_back(kernel_);
  for (const char* name : {"KiSystemStartup", "KeTickCount", "KiUnhandledException", "KeBugCheckEx"})
    if (!kernel_export(name)) return std::unexpected(std::string("simkrnl.exe does not export ") + name);
  tick_count_va_ = *kernel_export("KeTickCount");
  // The int 3 of the kernel's break routines (trap.S: DbgBreakPoint is its int 3;
  // DbgBreakPointWithStatus's is at RtlpBreakWithStatusInstruction).
  for (const char* name : {"DbgBreakPoint", "RtlpBreakWithStatusInstruction"})
    if (auto va = kernel_export(name)) break_routines_.push_back(*va);

  std::uint64_t pool_size = std::min<std::uint64_t>(64ull << 20, (config_.memory_mib << 20) / 4);
  if (auto pool = space_->map("pool", kPoolBase, pool_size, kProtRead | kProtWrite); !pool)
    return std::unexpected(pool.error());

  auto driver = map_image("simdrv.sys");
  if (!driver) return std::unexpected(driver.error());

  if (auto area = space_->map("percpu", kPerCpuBase, kPerCpuStride * config_.cpus, kProtRead | kProtWrite); !area)
    return std::unexpected(area.error());
  for (unsigned i = 0; i < config_.cpus; ++i) {
    std::uint64_t stack = kBootStackBase + i * kBootStackStride;
    if (auto s = space_->map("stack" + std::to_string(i), stack, kBootStackSize, kProtRead | kProtWrite); !s)
      return std::unexpected(s.error());
  }
  // One SIM_LOADER_BLOCK per CPU (ABI.md "Entry"); layout checked by the kernel's C_ASSERTs.
  for (unsigned i = 0; i < config_.cpus; ++i) {
    std::uint64_t lb = kpcr(i) + kLoaderBlockOffset;
    wire::Bytes b;
    wire::Writer w(b);
    w.u64(kernel_.va).u64(kernel_.size).u64(kPoolBase).u64(pool_size);
    w.u32(config_.cpus).u32(i);
    for (unsigned k = 0; k < kMaxCpus; ++k) w.u64(k < config_.cpus ? kpcr(k) : 0);
    w.u64(driver->va).u64(driver->size);
    w.u32(config_.build).u32(config_.boot_prompt ? kBootPrompt : 0);  // BuildNumber, BootFlags
    w.u64(config_.seed);
    space_->write(lb, b);
    std::uint64_t stack_top = kBootStackBase + i * kBootStackStride + kBootStackSize;
    if (auto ok = setup_cpu(i, stack_top, lb); !ok) return ok;
  }
  return {};
}

std::expected<void, std::string> Machine::setup_cpu(unsigned i, std::uint64_t stack_top, std::uint64_t loader_block) {
  Cpu& c = *cpus_[i].cpu;
  std::uint64_t pcr = kpcr(i), gdt = pcr + kGdtOffset, idt = pcr + kIdtOffset, tss = pcr + kTssOffset;
  // GDT
  space_->write_u64(gdt + 0x10, kDescR0Code64);
  space_->write_u64(gdt + 0x18, kDescR0Data);
  space_->write_u64(gdt + 0x20, kDescR3Compat);
  space_->write_u64(gdt + 0x28, kDescR3Data);
  space_->write_u64(gdt + 0x30, kDescR3Code64);
  // 64-bit TSS descriptor: limit, base[23:0], type 0x89 (available TSS, present), base[31:24], base[63:32].
  std::uint64_t tss_low = (kTssSize - 1) | ((tss & 0xFFFFFF) << 16) | (0x89ull << 40) | (((tss >> 24) & 0xFF) << 56);
  space_->write_u64(gdt + kSelTss, tss_low);
  space_->write_u64(gdt + kSelTss + 8, tss >> 32);
  space_->write_u64(gdt + 0x50, kDescR3Data);
  // TSS.Rsp0 (offset 4) = the boot stack.
  space_->write_u64(tss + 4, stack_top);
  // IDT: 256 interrupt gates to KiUnhandledException (Unicorn reports interrupts
  // to the simulator, which dispatches them; the table is for debuggers to read).
  std::uint64_t handler = *kernel_export("KiUnhandledException");
  for (unsigned v = 0; v < 256; ++v) {
    std::uint64_t low = (handler & 0xFFFF) | (std::uint64_t(kSelR0Code) << 16) | (0x8Eull << 40) |
                        (((handler >> 16) & 0xFFFF) << 48);
    space_->write_u64(idt + 16 * v, low);
    space_->write_u64(idt + 16 * v + 8, handler >> 32);
  }
  space_->write_u64(pcr + kKpcrGdtBase, gdt);
  space_->write_u64(pcr + kKpcrTssBase, tss);
  space_->write_u64(pcr + 0x18, pcr);                  // Self
  space_->write_u64(pcr + 0x20, kprcb(i));             // CurrentPrcb
  space_->write_u64(pcr + kKpcrIdtBase, idt);
  space_->write_u32(kprcb(i) + 0x24, i);               // Number
  // The boot context is this CPU's idle thread (KiIdleThreadTable, ABI.md "Entry"):
  // the first state change names it, as Windows' names its initial thread.
  if (auto table = kernel_export("KiIdleThreadTable")) {
    std::uint64_t idle = space_->read_u64(*table + 8 * i);
    space_->write_u64(kprcb(i) + 0x08, idle);  // CurrentThread
    space_->write_u64(kprcb(i) + 0x18, idle);  // IdleThread
  }

  uc_x86_mmr gdtr{0, gdt, kGdtLimit, 0}, idtr{0, idt, 0xFFF, 0}, tr{kSelTss, tss, kTssSize - 1, 0x89};
  c.write_reg_bytes(UC_X86_REG_GDTR, &gdtr);
  c.write_reg_bytes(UC_X86_REG_IDTR, &idtr);
  c.write_reg_bytes(UC_X86_REG_TR, &tr);
  c.set_reg(UC_X86_REG_CS, kSelR0Code);
  c.set_reg(UC_X86_REG_SS, kSelR0Data);
  c.set_reg(UC_X86_REG_DS, kSelR3Data);
  c.set_reg(UC_X86_REG_ES, kSelR3Data);
  c.set_reg(UC_X86_REG_FS, kSelR3Teb);
  c.set_reg(UC_X86_REG_GS, kSelR3Data);
  c.set_reg(UC_X86_REG_GS_BASE, pcr);
  c.set_reg(UC_X86_REG_CR3, space_->cr3());
  // CR4.OSFXSR/OSXMMEXCPT: SSE instructions (clang emits them) need them.
  c.set_reg(UC_X86_REG_CR4, c.reg(UC_X86_REG_CR4) | 0x600);

  auto& msrs = msrs_[i];
  std::uint64_t syscall = kernel_export("KiSystemCall64").value_or(kernel_.va + kernel_image_->entry_rva);
  msrs[kMsrApicBase] = 0xFEE00800 | (i == 0 ? 0x100 : 0);  // enabled; BSP on CPU 0
  msrs[kMsrPat] = 0x0007040600070406ull;
  msrs[kMsrEfer] = 0xD01;                   // SCE | LME | LMA | NXE
  msrs[kMsrStar] = 0x0023001000000000ull;   // sysret base 0x23, syscall CS 0x10 (KGDT64_R0_CODE)
  msrs[kMsrLstar] = syscall;
  msrs[kMsrCstar] = kernel_export("KiSystemCall32").value_or(syscall);
  msrs[kMsrSfmask] = 0x4700;                // TF | IF | DF | NT cleared on syscall
  msrs[kMsrKernelGsBase] = 0;               // the user TEB; no user mode here
  msrs[kMsrTscAux] = i;
  for (std::uint32_t id : {kMsrStar, kMsrLstar, kMsrCstar, kMsrSfmask}) c.write_msr(id, msrs[id]);

  c.set_reg(UC_X86_REG_RSP, stack_top - 0x28);  // home space (ABI.md)
  c.set_reg(UC_X86_REG_RCX, loader_block);
  c.set_reg(UC_X86_REG_RFLAGS, 0x202);
  c.set_rip(*kernel_export("KiSystemStartup"));
  cpus_[i].slice_left = config_.slice;
  return {};
}

std::optional<std::uint64_t> Machine::kernel_export(const std::string& name) const {
  if (!kernel_image_) return std::nullopt;
  auto it = kernel_image_->exports.find(name);
  if (it == kernel_image_->exports.end()) return std::nullopt;
  return kernel_.va + it->second;
}

std::uint64_t Machine::current_thread(unsigned cpu) const { return space_->read_u64(kprcb(cpu) + 0x08); }

std::uint64_t Machine::instructions() const {
  std::uint64_t n = 0;
  for (const auto& c : cpus_) n += c.cpu->instructions();
  return n;
}

RunResult Machine::run(std::uint64_t budget) {
  RunResult result;
  if (pending_) {
    result.outcome = RunResult::Outcome::Event;
    return result;
  }
  while (result.executed < budget) {
    // Every CPU idle: nothing happens (not even ticks) until something changes,
    // so how often an owner polls cannot change what the kernel sees.
    bool any = false;
    for (const auto& s : cpus_)
      any = any || (!s.halted_for_good && (!s.halted || (!s.thread && !ready_.empty())));
    if (!any) {
      result.outcome = RunResult::Outcome::Idle;
      return result;
    }
    unsigned i = current_;
    if (!runnable(i)) {
      advance();
      continue;
    }
    CpuSlot& slot = cpus_[i];
    std::uint64_t want = std::min(slot.slice_left, budget - result.executed);
    std::uint64_t before = slot.cpu->instructions();
    CpuStop stop = slot.cpu->run(want);
    std::uint64_t ran = slot.cpu->instructions() - before;
    result.executed += ran;
    slot.slice_left -= std::min(ran, slot.slice_left);
    if (stop.kind == CpuStop::Kind::Error) {
      result.outcome = RunResult::Outcome::Failed;
      result.error = "CPU " + std::to_string(i) + ": " + stop.error;
      return result;
    }
    if (stop.kind != CpuStop::Kind::Budget) {
      if (auto ev = handle_stop(i, stop)) {
        pending_ = std::move(ev);
        result.outcome = RunResult::Outcome::Event;
        return result;
      }
    }
    if (slot.halted || slot.halted_for_good) {
      end_slice(i);
    } else if (slot.slice_left == 0) {
      end_slice(i);
    }
  }
  result.outcome = RunResult::Outcome::BudgetUsed;
  return result;
}

std::optional<MachineEvent> Machine::handle_stop(unsigned i, const CpuStop& stop) {
  Cpu& c = *cpus_[i].cpu;
  ExceptionEvent ex;
  switch (stop.kind) {
    case CpuStop::Kind::Budget:
    case CpuStop::Kind::Error:
      return std::nullopt;
    case CpuStop::Kind::Halt:
      cpus_[i].halted = true;
      return std::nullopt;
    case CpuStop::Kind::Interrupt:
      if (stop.vector == 0x2D) return service(i);
      if (stop.vector == 3) {
        // Unicorn leaves rip after the int 3; Windows reports (and leaves) the
        // breakpoint's own address.
        c.set_rip(c.rip() - 1);
        ex = {0x80000003, c.rip(), {0}, true, true};
      } else if (stop.vector == 1) {
        set_single_step(i, false);
        c.set_dr6((c.debug_registers().dr6 & ~0xFull) | 0x4000);  // BS: single step
        ex = {0x80000004, c.rip(), {}, true, false};
      } else {
        ex = {exception_code_for_vector(stop.vector), c.rip(), {}, true, false};
        if (stop.vector == 13) ex.information = {0, ~0ull};
      }
      break;
    case CpuStop::Kind::MemoryFault:
      cpus_[i].cr2 = stop.address;
      if (stop.access == 8) c.set_rip(stop.address);
      ex = {0xC0000005, c.rip(), {stop.access, stop.address}, true, false};
      break;
    case CpuStop::Kind::HardwareBreakpoint:
      c.set_dr6((c.debug_registers().dr6 & ~0x400Full) | (1ull << stop.dr_index));
      c.set_resume_flag();  // continuing must not hit the same execute breakpoint again
      ex = {0x80000004, c.rip(), {}, true, false};
      break;
    case CpuStop::Kind::InvalidInstruction:
      ex = {0xC000001D, c.rip(), {}, true, false};
      break;
  }
  return MachineEvent{i, ex};
}

void Machine::set_single_step(unsigned cpu, bool on) {
  Cpu& c = *cpus_.at(cpu).cpu;
  std::uint64_t fl = c.reg(UC_X86_REG_RFLAGS);
  fl = on ? (fl | 0x100) : (fl & ~0x100ull);
  c.set_reg(UC_X86_REG_RFLAGS, fl);
}

void Machine::resume_exception(bool handled, bool skip_any_int3) {
  if (!pending_) return;
  auto* ex = std::get_if<ExceptionEvent>(&pending_->detail);
  if (!ex) return;
  unsigned i = pending_->cpu;
  Cpu& c = *cpus_[i].cpu;
  if (handled) {
    // Windows' rules for the PC after a breakpoint (checked against ReactOS
    // ntoskrnl/ke/amd64/except.c and kd64/kdtrap.c):
    // - KiDispatchException moves the context's Rip back onto the int 3, so a
    //   breakpoint is reported (and continued) at the int 3 itself;
    // - KdpTrap steps past the int 3 itself only for debug services (int 2Dh,
    //   Information[0] != BREAKPOINT_BREAK), and only when the debugger left the
    //   PC where it was; Machine::service consumes that int 3 (KiDebugServiceTrap
    //   skips it before dispatching);
    // - a plain int 3 (BREAKPOINT_BREAK) goes to KdpReport, which never moves the
    //   PC: a debugger-owned breakpoint the debugger continues onto is reported
    //   again, and moving past a hard-coded int 3 is the debugger's job.
    // kdsim also steps over the int 3 of the kernel's own break routines
    // (DbgBreakPoint, DbgBreakPointWithStatus) when the debugger left the PC on
    // it, so a debugger that does not skip hard-coded breaks is not held there
    // for ever; one that does (as WinDbg) has moved the PC and nothing more happens.
    // Without a debugger (`skip_any_int3`) any int 3 still there is stepped over:
    // nobody else will move the PC.
    std::uint8_t byte = 0;
    bool at_int3 = ex->int3 && c.rip() == ex->address && space_->read(c.rip(), {&byte, 1}) == 1 && byte == 0xCC;
    bool break_routine = std::ranges::count(break_routines_, c.rip()) > 0;
    if (at_int3 && (skip_any_int3 || break_routine)) c.set_rip(c.rip() + 1);
  } else {
    // ABI.md: KiUnhandledException(code, rip, info0, info1) behind an interrupt frame.
    enter_with_interrupt_frame(i, *kernel_export("KiUnhandledException"), ex->code, ex->address,
                               ex->information.size() > 0 ? ex->information[0] : 0,
                               ex->information.size() > 1 ? ex->information[1] : 0);
  }
  pending_.reset();
}

void Machine::resolve_without_debugger() {
  if (!pending_) return;
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ExceptionEvent>) {
          bool debug_trap = e.code == 0x80000003 || e.code == 0x80000004;
          resume_exception(debug_trap, true);
        } else if constexpr (std::is_same_v<T, PrintEvent>) {
          console_ += e.text;
          if (console_.size() > (1u << 20)) console_.erase(0, console_.size() - (1u << 19));
          complete_print();
        } else if constexpr (std::is_same_v<T, PromptEvent>) {
          complete_prompt("");
        } else if constexpr (std::is_same_v<T, SymbolsEvent>) {
          complete_symbols();
        } else if constexpr (std::is_same_v<T, FileOpenEvent>) {
          complete_file_open(0xC000000F, 0);  // STATUS_NO_SUCH_FILE
        } else {
          complete_file_read(0xC000000F, {});
        }
      },
      pending_->detail);
}

// ---- processor state for the debugger ------------------------------------
namespace {
constexpr int kGprIds[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                             UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                             UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                             UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
}

wire::Context Machine::get_context(unsigned i) {
  Cpu& c = *cpus_.at(i).cpu;
  wire::Context x;
  x.context_flags = wire::kContextAll;
  x.mx_csr = static_cast<std::uint32_t>(c.reg(UC_X86_REG_MXCSR));
  x.seg_cs = static_cast<std::uint16_t>(c.reg(UC_X86_REG_CS));
  x.seg_ds = static_cast<std::uint16_t>(c.reg(UC_X86_REG_DS));
  x.seg_es = static_cast<std::uint16_t>(c.reg(UC_X86_REG_ES));
  x.seg_fs = static_cast<std::uint16_t>(c.reg(UC_X86_REG_FS));
  x.seg_gs = static_cast<std::uint16_t>(c.reg(UC_X86_REG_GS));
  x.seg_ss = static_cast<std::uint16_t>(c.reg(UC_X86_REG_SS));
  x.eflags = static_cast<std::uint32_t>(c.reg(UC_X86_REG_RFLAGS));
  const auto& d = c.debug_registers();
  x.dr0 = d.dr[0]; x.dr1 = d.dr[1]; x.dr2 = d.dr[2]; x.dr3 = d.dr[3]; x.dr6 = d.dr6; x.dr7 = d.dr7;
  std::uint64_t* g[16] = {&x.rax, &x.rcx, &x.rdx, &x.rbx, &x.rsp, &x.rbp, &x.rsi, &x.rdi,
                          &x.r8,  &x.r9,  &x.r10, &x.r11, &x.r12, &x.r13, &x.r14, &x.r15};
  for (int k = 0; k < 16; ++k) *g[k] = c.reg(kGprIds[k]);
  x.rip = c.rip();
  auto& f = x.flt_save;
  f.control_word = static_cast<std::uint16_t>(c.reg(UC_X86_REG_FPCW));
  f.status_word = static_cast<std::uint16_t>(c.reg(UC_X86_REG_FPSW));
  std::uint16_t tag = static_cast<std::uint16_t>(c.reg(UC_X86_REG_FPTAG));
  for (int k = 0; k < 8; ++k)  // FXSAVE's abridged tag: bit k set when register k is not empty (11b)
    if (((tag >> (2 * k)) & 3) != 3) f.tag_word |= static_cast<std::uint8_t>(1 << k);
  f.mx_csr = x.mx_csr;
  f.mx_csr_mask = 0xFFFF;
  for (int k = 0; k < 8; ++k) {
    // Unicorn returns an x87 register as its 10 bytes (mantissa, then sign/exponent).
    std::uint8_t st[16]{};
    c.read_reg_bytes(UC_X86_REG_FP0 + k, st);
    std::copy_n(st, 10, f.float_registers[k].begin());
  }
  for (int k = 0; k < 16; ++k) c.read_reg_bytes(UC_X86_REG_XMM0 + k, f.xmm_registers[k].data());
  return x;
}

void Machine::set_context(unsigned i, const wire::Context& x) {
  Cpu& c = *cpus_.at(i).cpu;
  std::uint32_t fl = x.context_flags;
  auto has = [&](std::uint32_t bits) { return (fl & bits & 0xFF) == (bits & 0xFF); };
  if (has(wire::kContextControl)) {
    c.set_reg(UC_X86_REG_RSP, x.rsp);
    c.set_rip(x.rip);
    // The debugger may not clear the bits the CPU keeps set (bit 1) or set IOPL/VM.
    c.set_reg(UC_X86_REG_RFLAGS, (x.eflags & 0x00254FD5u) | 0x2);
  }
  if (has(wire::kContextInteger)) {
    const std::uint64_t g[16] = {x.rax, x.rcx, x.rdx, x.rbx, x.rsp, x.rbp, x.rsi, x.rdi,
                                 x.r8,  x.r9,  x.r10, x.r11, x.r12, x.r13, x.r14, x.r15};
    for (int k = 0; k < 16; ++k)
      if (kGprIds[k] != UC_X86_REG_RSP) c.set_reg(kGprIds[k], g[k]);
  }
  if (has(wire::kContextFloatingPoint)) {
    c.set_reg(UC_X86_REG_MXCSR, x.mx_csr & 0xFFFF);
    c.set_reg(UC_X86_REG_FPCW, x.flt_save.control_word);
    for (int k = 0; k < 16; ++k) c.write_reg_bytes(UC_X86_REG_XMM0 + k, x.flt_save.xmm_registers[k].data());
  }
  if (has(wire::kContextDebugRegisters)) {
    DebugRegisters d = c.debug_registers();
    d.dr = {x.dr0, x.dr1, x.dr2, x.dr3};
    d.dr7 = x.dr7;
    set_debug_registers(d);
    c.set_dr6(x.dr6);
  }
  // Segment selectors stay: the machine has one flat kernel segment set.
}

wire::SpecialRegisters Machine::get_special_registers(unsigned i) {
  CpuSlot& s = cpus_.at(i);
  Cpu& c = *s.cpu;
  wire::SpecialRegisters r;
  r.cr0 = s.cr0;
  r.cr2 = s.cr2;
  r.cr3 = c.reg(UC_X86_REG_CR3);  // the CPU's own (a value of its state, not the one address space's)
  r.cr4 = s.cr4;
  const auto& d = c.debug_registers();
  r.kernel_dr0 = d.dr[0]; r.kernel_dr1 = d.dr[1]; r.kernel_dr2 = d.dr[2]; r.kernel_dr3 = d.dr[3];
  r.kernel_dr6 = d.dr6; r.kernel_dr7 = d.dr7;
  uc_x86_mmr gdtr{}, idtr{}, tr{};
  c.read_reg_bytes(UC_X86_REG_GDTR, &gdtr);
  c.read_reg_bytes(UC_X86_REG_IDTR, &idtr);
  c.read_reg_bytes(UC_X86_REG_TR, &tr);
  r.gdtr.limit = static_cast<std::uint16_t>(gdtr.limit);
  r.gdtr.base = gdtr.base;
  r.idtr.limit = static_cast<std::uint16_t>(idtr.limit);
  r.idtr.base = idtr.base;
  r.tr = tr.selector;
  r.ldtr = 0;
  r.mx_csr = static_cast<std::uint32_t>(c.reg(UC_X86_REG_MXCSR));
  r.cr8 = s.cr8;
  r.msr_gs_base = c.reg(UC_X86_REG_GS_BASE);
  r.msr_gs_swap = msrs_[i][kMsrKernelGsBase];
  r.msr_star = msrs_[i][kMsrStar];
  r.msr_lstar = msrs_[i][kMsrLstar];
  r.msr_cstar = msrs_[i][kMsrCstar];
  r.msr_syscall_mask = msrs_[i][kMsrSfmask];
  r.xcr0 = s.xcr0;
  return r;
}

void Machine::set_special_registers(unsigned i, const wire::SpecialRegisters& r) {
  CpuSlot& s = cpus_.at(i);
  s.cr0 = r.cr0;
  s.cr2 = r.cr2;
  s.cr4 = r.cr4;
  // A new CR3 (a page-aligned table inside physical memory) is the CPU's from now on.
  std::uint64_t cr3 = r.cr3 & 0x000FFFFFFFFFF000ull;
  if (cr3 != s.cpu->reg(UC_X86_REG_CR3) && cr3 != 0 && cr3 < physical_->size()) s.cpu->set_reg(UC_X86_REG_CR3, cr3);
  s.cr8 = r.cr8 & 0xF;
  DebugRegisters d = s.cpu->debug_registers();
  d.dr = {r.kernel_dr0, r.kernel_dr1, r.kernel_dr2, r.kernel_dr3};
  d.dr7 = r.kernel_dr7;
  set_debug_registers(d);
  s.cpu->set_dr6(r.kernel_dr6);
  write_msr(i, kMsrGsBase, r.msr_gs_base);
  write_msr(i, kMsrKernelGsBase, r.msr_gs_swap);
  write_msr(i, kMsrStar, r.msr_star);
  write_msr(i, kMsrLstar, r.msr_lstar);
  write_msr(i, kMsrCstar, r.msr_cstar);
  write_msr(i, kMsrSfmask, r.msr_syscall_mask);
}

std::optional<std::uint64_t> Machine::read_msr(unsigned i, std::uint32_t msr) {
  if (i >= cpus_.size()) return std::nullopt;
  Cpu& c = *cpus_[i].cpu;
  switch (msr) {
    case kMsrTsc: return c.instructions();  // one tick per retired instruction: deterministic
    case kMsrFsBase: return c.reg(UC_X86_REG_FS_BASE);
    case kMsrGsBase: return c.reg(UC_X86_REG_GS_BASE);
    default: break;
  }
  auto it = msrs_[i].find(msr);
  if (it == msrs_[i].end()) return std::nullopt;  // a real CPU raises #GP
  return it->second;
}

bool Machine::write_msr(unsigned i, std::uint32_t msr, std::uint64_t value) {
  if (i >= cpus_.size()) return false;
  Cpu& c = *cpus_[i].cpu;
  switch (msr) {
    case kMsrTsc: return false;
    case kMsrFsBase: c.set_reg(UC_X86_REG_FS_BASE, value); return true;
    case kMsrGsBase: c.set_reg(UC_X86_REG_GS_BASE, value); return true;
    default: break;
  }
  auto it = msrs_[i].find(msr);
  if (it == msrs_[i].end()) return false;
  it->second = value;
  if (msr == kMsrStar || msr == kMsrLstar || msr == kMsrCstar || msr == kMsrSfmask) c.write_msr(msr, value);
  return true;
}

void Machine::set_debug_registers(const DebugRegisters& d) {
  bool retranslate = false;
  for (auto& s : cpus_) {
    DebugRegisters mine = d;
    mine.dr6 = s.cpu->debug_registers().dr6;
    retranslate = s.cpu->set_debug_registers(mine) || retranslate;
  }
  if (retranslate) all_code_changed();
}

void Machine::code_changed(std::uint64_t va, std::uint64_t size) {
  for (auto& s : cpus_) s.cpu->flush_code(va, size);
}

void Machine::physical_changed(std::uint64_t pa, std::uint64_t size) {
  // Every virtual alias of the changed physical bytes.
  for (const Region& r : space_->regions()) {
    std::uint64_t lo = std::max(pa, r.pa), hi = std::min(pa + size, r.pa + r.size);
    if (lo < hi) code_changed(r.va + (lo - r.pa), hi - lo);
  }
}

void Machine::all_code_changed() {
  for (const Region& r : modules_) code_changed(r.va, r.size);
}

void Machine::enter_with_interrupt_frame(unsigned i, std::uint64_t target, std::uint64_t a1, std::uint64_t a2,
                                         std::uint64_t a3, std::uint64_t a4) {
  Cpu& c = *cpus_.at(i).cpu;
  std::uint64_t old_rsp = c.reg(UC_X86_REG_RSP);
  std::uint64_t rsp = ((old_rsp - 0x100) & ~0xFull) - 0x28;
  space_->write_u64(rsp, c.rip());
  space_->write_u64(rsp + 8, c.reg(UC_X86_REG_CS));
  space_->write_u64(rsp + 16, c.reg(UC_X86_REG_RFLAGS));
  space_->write_u64(rsp + 24, old_rsp);
  space_->write_u64(rsp + 32, c.reg(UC_X86_REG_SS));
  c.set_reg(UC_X86_REG_RSP, rsp);
  c.set_reg(UC_X86_REG_RCX, a1);
  c.set_reg(UC_X86_REG_RDX, a2);
  c.set_reg(UC_X86_REG_R8, a3);
  c.set_reg(UC_X86_REG_R9, a4);
  c.set_rip(target);
}

bool Machine::call_bugcheck(unsigned i, std::uint32_t code) {
  if (i >= cpus_.size()) return false;
  if (auto crash = kernel_export("KdpCauseBugCheck")) {
    enter_with_interrupt_frame(i, *crash, code, 0, 0, 0);
  } else {
    auto target = kernel_export("KeBugCheckEx");
    if (!target) return false;
    enter_with_interrupt_frame(i, *target, code, 0, 0, 0);
  }
  cpus_[i].halted = false;
  return true;
}

}  // namespace openkd::sim
