// One x86-64 CPU: a Unicorn engine that maps the machine's shared host memory,
// counts retired instructions, and stops on interrupts, faults, I/O and
// hardware breakpoints (Dr0..Dr3 / Dr7, implemented with Unicorn hooks).
#pragma once
#include <unicorn/unicorn.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "simulator/address_space.hpp"

namespace openkd::sim {

/// Why Cpu::run returned.
struct CpuStop {
  enum class Kind {
    Budget,              // the instruction budget is used up
    Interrupt,           // int n / CPU exception: `vector`, rip as Unicorn left it
    MemoryFault,         // unmapped access: `address`, `access` (0 read, 1 write, 8 execute)
    HardwareBreakpoint,  // Dr0..Dr3 hit: `dr_index`; rip at the instruction (execute) or after it (data)
    InvalidInstruction,  // #UD
    Halt,                // the hlt instruction
    Error,               // anything else Unicorn refused (`error`)
  } kind = Kind::Budget;
  std::uint32_t vector = 0;
  std::uint64_t address = 0;
  std::uint32_t access = 0;
  unsigned dr_index = 0;
  std::string error;
  static CpuStop of(Kind k) {
    CpuStop s;
    s.kind = k;
    return s;
  }
};

/// The debug registers as the debugger sees them.
struct DebugRegisters {
  std::array<std::uint64_t, 4> dr{};
  std::uint64_t dr6 = 0xFFFF0FF0;  // architectural reset value
  std::uint64_t dr7 = 0x400;
};

class Cpu {
public:
  using PortIn = std::function<std::uint32_t(std::uint16_t port, int size)>;
  using PortOut = std::function<void(std::uint16_t port, int size, std::uint32_t value)>;

  explicit Cpu(unsigned index);
  ~Cpu();
  Cpu(const Cpu&) = delete;
  Cpu& operator=(const Cpu&) = delete;

  unsigned index() const { return index_; }
  uc_engine* engine() const { return uc_; }
  bool ok() const { return uc_ != nullptr; }

  bool map(const Region& region, std::uint8_t* host);
  void unmap(const Region& region);
  /// Drops translated code for a range (after the debugger or loader wrote it).
  void flush_code(std::uint64_t va, std::uint64_t size);
  // No flush_all: Unicorn 2.0.1's tb_flush clears its whole 1 GiB code buffer
  // (seconds on first use); callers drop the ranges that hold code instead.
  void set_io_handlers(PortIn in, PortOut out) { port_in_ = std::move(in); port_out_ = std::move(out); }

  std::uint64_t reg(int id) const;
  void set_reg(int id, std::uint64_t value);
  std::uint64_t rip() const { return reg(UC_X86_REG_RIP); }
  void set_rip(std::uint64_t v) { set_reg(UC_X86_REG_RIP, v); }
  bool read_reg_bytes(int id, void* out) const;
  bool write_reg_bytes(int id, const void* in);
  std::optional<std::uint64_t> read_msr(std::uint32_t msr) const;
  bool write_msr(std::uint32_t msr, std::uint64_t value);

  /// Runs until `budget` instructions have retired or something stops it.
  CpuStop run(std::uint64_t budget);
  /// Instructions retired since the CPU was made.
  std::uint64_t instructions() const { return retired_; }

  /// Returns true when translated code must be dropped (data watches changed:
  /// memory hooks are compiled into the translated blocks).
  bool set_debug_registers(const DebugRegisters& d);
  const DebugRegisters& debug_registers() const { return debug_; }
  void set_dr6(std::uint64_t v) { debug_.dr6 = v; }
  /// Like RFLAGS.RF: the next instruction, if at the current rip, does not
  /// trigger its execute breakpoint again.
  void set_resume_flag() { resume_at_ = rip(); }

private:
  static void on_code(uc_engine* uc, std::uint64_t address, std::uint32_t size, void* self);
  static void on_interrupt(uc_engine* uc, std::uint32_t intno, void* self);
  static bool on_unmapped(uc_engine* uc, uc_mem_type type, std::uint64_t address, int size, std::int64_t value,
                          void* self);
  static void on_data_access(uc_engine* uc, uc_mem_type type, std::uint64_t address, int size, std::int64_t value,
                             void* self);
  static std::uint32_t on_in(uc_engine* uc, std::uint32_t port, int size, void* self);
  static void on_out(uc_engine* uc, std::uint32_t port, int size, std::uint32_t value, void* self);
  void stop_with(CpuStop stop);

  struct DataWatch {
    unsigned index;
    std::uint64_t address, length;
    bool on_read;  // read/write watch; otherwise write only
    uc_hook hook = 0;
  };

  unsigned index_;
  uc_engine* uc_ = nullptr;
  PortIn port_in_;
  PortOut port_out_;
  DebugRegisters debug_;
  std::vector<std::pair<unsigned, std::uint64_t>> exec_breakpoints_;  // (index, address)
  std::vector<DataWatch> data_watches_;
  std::optional<unsigned> data_hit_;        // set by a data hook, reported before the next instruction
  std::optional<std::uint64_t> resume_at_;  // skip the execute breakpoint here once

  // per run()
  std::uint64_t budget_ = 0, executed_ = 0;
  std::optional<CpuStop> stop_;
  std::uint64_t retired_ = 0;
};

}  // namespace openkd::sim
