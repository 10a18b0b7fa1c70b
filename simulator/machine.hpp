// The simulated machine: physical memory, page tables, CPUs on Unicorn, I/O
// ports, the loaded kernel and drivers, the kernel services of ABI.md and the
// deterministic round-robin scheduler. It knows nothing about KD: what a
// debugger must see comes out of run() as a MachineEvent, and the owner
// resolves it (through the KD stub, or with the no-debugger defaults).
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/wire/context.hpp"
#include "simulator/address_space.hpp"
#include "simulator/cpu.hpp"
#include "simulator/io_ports.hpp"
#include "simulator/pe_image.hpp"
#include "simulator/physical_memory.hpp"

namespace openkd::sim {

inline constexpr unsigned kMaxCpus = 8;

// Virtual memory map (ABI.md "Memory map").
inline constexpr std::uint64_t kKernelBase = 0xFFFFF80000400000ull;
inline constexpr std::uint64_t kDriverBase = 0xFFFFF80001000000ull;
inline constexpr std::uint64_t kDriverSlot = 0x100000;
inline constexpr unsigned kDriverSlots = 32;
inline constexpr std::uint64_t kPoolBase = 0xFFFFF80010000000ull;
inline constexpr std::uint64_t kPerCpuBase = 0xFFFFF80020000000ull;  // KPCR, GDT, IDT, TSS, loader block
inline constexpr std::uint64_t kPerCpuStride = 0x8000;
inline constexpr std::uint64_t kBootStackBase = 0xFFFFF80021000000ull;
inline constexpr std::uint64_t kBootStackStride = 0x20000;  // 64 KiB stack + 64 KiB unmapped guard
inline constexpr std::uint64_t kBootStackSize = 0x10000;
inline constexpr std::uint64_t kPrcbOffset = 0x180;

struct MachineConfig {
  unsigned cpus = 1;
  std::uint64_t memory_mib = 256;
  std::string kernel_dir;
  std::uint32_t build = 19041;
  std::uint64_t seed = 0;
  std::uint64_t slice = 10000;  // instructions per CPU per round
  bool boot_prompt = false;     // the kernel asks for boot options (SIM_BOOT_PROMPT)
};

// ---- what run() reports --------------------------------------------------
struct ExceptionEvent {
  std::uint32_t code = 0;
  std::uint64_t address = 0;
  std::vector<std::uint64_t> information;
  bool first_chance = true;
  bool int3 = false;  // raised by an int 3 instruction at `address`
};
struct PrintEvent { std::string text; };
struct PromptEvent { std::string prompt; std::uint32_t max_reply = 0; };
struct SymbolsEvent {
  std::string path;
  std::uint64_t base = 0, process_id = 0;
  std::uint32_t checksum = 0, size = 0;
  bool unload = false;
};
struct FileOpenEvent { std::u16string path; };
struct FileReadEvent { std::uint64_t offset = 0; std::uint32_t length = 0; };
using EventDetail = std::variant<ExceptionEvent, PrintEvent, PromptEvent, SymbolsEvent, FileOpenEvent, FileReadEvent>;
struct MachineEvent {
  unsigned cpu = 0;
  EventDetail detail;
};

struct RunResult {
  enum class Outcome { BudgetUsed, Event, Idle, Failed } outcome = Outcome::BudgetUsed;
  std::uint64_t executed = 0;  // instructions retired during this call
  std::string error;           // Failed
};

/// A thread's saved registers (everything a kernel thread switch preserves).
struct ThreadRegisters {
  std::array<std::uint64_t, 16> gpr{};  // rax rcx rdx rbx rsp rbp rsi rdi r8..r15
  std::uint64_t rip = 0, rflags = 0x202;
  std::array<std::array<std::uint8_t, 16>, 16> xmm{};
  std::uint32_t mxcsr = 0x1F80;
};

class Machine {
public:
  /// Builds and boots the machine; every CPU is ready at KiSystemStartup.
  static std::expected<std::unique_ptr<Machine>, std::string> create(const MachineConfig& config);
  ~Machine();

  const MachineConfig& config() const { return config_; }
  unsigned cpu_count() const { return static_cast<unsigned>(cpus_.size()); }
  Cpu& cpu(unsigned i) { return *cpus_.at(i).cpu; }
  AddressSpace& space() { return *space_; }
  PhysicalMemory& physical() { return *physical_; }
  IoBus& io() { return io_; }

  /// Runs CPUs in round-robin slices until `budget` instructions retire, an
  /// event needs resolving, or every CPU is idle. While an event is pending
  /// nothing runs: run() returns it again.
  RunResult run(std::uint64_t budget);
  const std::optional<MachineEvent>& pending() const { return pending_; }
  /// The CPU that runs next (or ran last): where a break-in is reported.
  unsigned current_cpu() const { return current_; }
  std::uint64_t instructions() const;
  std::uint64_t ticks() const { return ticks_; }

  // ---- resolving the pending event
  /// Exceptions: handled = continue where the CPU is (a breakpoint is reported
  /// again unless the debugger moved the PC; only the int 3 of DbgBreakPoint and
  /// DbgBreakPointWithStatus is stepped over, or any int 3 with `skip_any_int3`,
  /// the no-debugger case); not handled = dispatch to KiUnhandledException.
  void resume_exception(bool handled, bool skip_any_int3 = false);
  void complete_print();
  /// Scenario control (tests, the Python API): `text` reaches the debugger as
  /// if CPU `cpu` had called DbgPrint, before anything else runs. False while
  /// another event is pending (try again after the next slice).
  bool post_print(unsigned cpu, std::string text);
  void complete_symbols();
  void complete_prompt(std::string_view reply);
  void complete_file_open(std::uint32_t status, std::uint64_t size);
  void complete_file_read(std::uint32_t status, std::span<const std::uint8_t> data);
  /// The no-debugger answer to the pending event (ABI.md: prints dropped into
  /// console(), prompt returns 0, files fail, exceptions go to the kernel).
  void resolve_without_debugger();
  /// Text the kernel printed while no debugger took it.
  const std::string& console() const { return console_; }

  // ---- what the KD stub reads and changes
  std::uint64_t kpcr(unsigned cpu) const { return kPerCpuBase + cpu * kPerCpuStride; }
  std::uint64_t kprcb(unsigned cpu) const { return kpcr(cpu) + kPrcbOffset; }
  std::uint64_t current_thread(unsigned cpu) const;
  std::optional<std::uint64_t> kernel_export(const std::string& name) const;
  std::uint64_t kernel_base() const { return kernel_.va; }
  std::uint64_t kernel_size() const { return kernel_.size; }
  const std::vector<Region>& modules() const { return modules_; }

  wire::Context get_context(unsigned cpu);
  void set_context(unsigned cpu, const wire::Context& ctx);
  wire::SpecialRegisters get_special_registers(unsigned cpu);
  void set_special_registers(unsigned cpu, const wire::SpecialRegisters& s);
  std::optional<std::uint64_t> read_msr(unsigned cpu, std::uint32_t msr);
  bool write_msr(unsigned cpu, std::uint32_t msr, std::uint64_t value);
  /// Dr0..Dr3 and Dr7 are kept the same on every CPU (a debugger sets them once).
  void set_debug_registers(const DebugRegisters& d);
  /// After the debugger wrote memory: drop translated code on every CPU.
  void code_changed(std::uint64_t va, std::uint64_t size);
  void physical_changed(std::uint64_t pa, std::uint64_t size);
  /// Drops translated code of every loaded image on every CPU.
  void all_code_changed();
  /// Makes `cpu` enter KdpCauseBugCheck(code) (which calls KeBugCheckEx(code, 0, 0, 0, 0))
  /// when it next runs, as for a debugger's .crash.
  bool call_bugcheck(unsigned cpu, std::uint32_t code);
  /// Sets the trace flag: the CPU stops with a single-step exception after one instruction.
  void set_single_step(unsigned cpu, bool on);

private:
  struct Thread {
    std::uint64_t kthread = 0;
    ThreadRegisters regs;
  };
  struct CpuSlot {
    std::unique_ptr<Cpu> cpu;
    std::optional<Thread> thread;  // the running non-idle thread; nullopt: the idle thread runs
    ThreadRegisters idle_regs;     // the idle thread's registers while another thread runs
    bool halted = false;           // SIM_HALT: waits for a ready thread
    bool halted_for_good = false;  // SIM_HALT from a non-idle thread or with interrupts off
    std::uint64_t slice_left = 0;
    // Architectural state Unicorn does not keep (it runs with paging off):
    // what the debugger reads through KSPECIAL_REGISTERS.
    std::uint64_t cr0 = 0x80050033;  // PG|AM|WP|NE|ET|MP|PE, as Windows x64 runs
    std::uint64_t cr2 = 0;
    std::uint64_t cr4 = 0x1506F8;    // SMEP|OSXSAVE|FSGSBASE|OSXMMEXCPT|OSFXSR|PGE|MCE|PAE|PSE|DE
    std::uint64_t cr8 = 0;
    std::uint64_t xcr0 = 3;          // x87 | SSE
  };

  explicit Machine(MachineConfig config);
  std::expected<void, std::string> boot();
  std::expected<void, std::string> setup_cpu(unsigned i, std::uint64_t stack_top, std::uint64_t loader_block);
  std::optional<MachineEvent> handle_stop(unsigned i, const CpuStop& stop);
  std::optional<MachineEvent> service(unsigned i);
  std::optional<std::string> read_ascii(std::uint64_t va, std::size_t max);
  /// Maps `name` from the kernel directory, or `served` (the file's bytes a
  /// debugger served through FILE_IO, ABI.md SIM_MAP_IMAGE) when given.
  std::expected<Region, std::string> map_image(const std::string& name, std::optional<wire::Bytes> served = std::nullopt);
  /// Enters `target` as an interrupt would (ABI.md "Exceptions and bug checks"): an
  /// interrupt frame (rip, cs, rflags, rsp, ss) below the current rsp, then the arguments.
  void enter_with_interrupt_frame(unsigned cpu, std::uint64_t target, std::uint64_t a1, std::uint64_t a2,
                                  std::uint64_t a3, std::uint64_t a4);
  bool unmap_image(std::uint64_t base);

  // scheduling (machine_scheduler.cpp)
  bool runnable(unsigned i);
  void end_slice(unsigned i);
  void advance();
  void switch_to_next(unsigned i, bool requeue_current);
  ThreadRegisters save_registers(unsigned i);
  void load_registers(unsigned i, const ThreadRegisters& r);
  void set_current_thread_field(unsigned i);

  MachineConfig config_;
  std::unique_ptr<PhysicalMemory> physical_;
  std::unique_ptr<AddressSpace> space_;
  std::vector<CpuSlot> cpus_;
  IoBus io_;
  std::optional<PeImage> kernel_image_;
  Region kernel_;
  std::vector<Region> modules_;  // kernel and drivers, in load order
  std::map<std::uint64_t, std::string> driver_files_;
  std::deque<Thread> ready_;
  std::optional<MachineEvent> pending_;
  std::string console_;
  unsigned current_ = 0;
  std::uint64_t ticks_ = 0;
  std::uint64_t tick_count_va_ = 0;
  std::vector<std::uint64_t> break_routines_;  // int 3s the machine steps over (resume_exception)
  std::map<std::uint32_t, std::uint64_t> msrs_[kMaxCpus];
  std::uint64_t file_buffer_ = 0;  // SIM_FILE_READ's buffer while its event is pending
};

std::uint32_t exception_code_for_vector(std::uint32_t vector);

}  // namespace openkd::sim
