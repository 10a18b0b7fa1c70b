// An in-memory debugger::Target for the command tests: a small fake kernel
// (a real PE32+ header and export directory, code with calls, an LDR module
// list, KDDEBUGGER_DATA64, KiBugCheckData, page tables) and a scripted CPU
// that walks a fixed path of instruction addresses.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/debugger/target.hpp"

namespace openkd::testing {

// Addresses of the fake kernel (see fake_target.cpp for the code bytes).
inline constexpr std::uint64_t kKernBase = 0xFFFFF80000400000ull;
inline constexpr std::uint64_t kKernSize = 0x8000;
inline constexpr std::uint64_t kKiSystemStartup = kKernBase + 0x1000;
inline constexpr std::uint64_t kKiInitializeKernel = kKernBase + 0x1080;
inline constexpr std::uint64_t kKeBugCheckEx = kKernBase + 0x1100;
inline constexpr std::uint64_t kDbgBreakPointWithStatus = kKernBase + 0x1200;
inline constexpr std::uint64_t kRtlpBreakWithStatusInstruction = kKernBase + 0x1203;
inline constexpr std::uint64_t kDbgBreakPoint = kKernBase + 0x1210;
inline constexpr std::uint64_t kPsLoadedModuleList = kKernBase + 0x3000;
inline constexpr std::uint64_t kDebuggerDataListHead = kKernBase + 0x3080;
inline constexpr std::uint64_t kKdDebuggerDataBlock = kKernBase + 0x3100;
inline constexpr std::uint64_t kKiBugCheckData = kKernBase + 0x3400;
inline constexpr std::uint64_t kNtBuildLab = kKernBase + 0x3500;
inline constexpr std::uint64_t kKeTickCount = kKernBase + 0x3600;
inline constexpr std::uint64_t kDriverBase = 0xFFFFF80001000000ull;
inline constexpr std::uint64_t kDriverSize = 0x4000;
inline constexpr std::uint64_t kPool = 0xFFFFF80010000000ull;
inline constexpr std::uint64_t kStackTop = 0xFFFFF80000481000ull;
inline constexpr std::uint64_t kCr3 = 0x100000;
inline constexpr std::uint64_t kKernPhysical = 0x400000;

struct FakeExport {
  std::string name;
  std::uint32_t rva;
};

class FakeTarget : public debugger::Target {
public:
  FakeTarget();

  // --- test controls
  void map(std::uint64_t address, std::size_t size);          // virtual pages, zero-filled
  void poke(std::uint64_t address, wire::ByteView bytes);      // virtual (must be mapped)
  void poke_u64(std::uint64_t address, std::uint64_t value);
  void poke_physical(std::uint64_t address, wire::ByteView bytes);
  /// A PE32+ image with an export directory at `base` (pages mapped).
  void write_image(std::uint64_t base, std::uint32_t size, std::string_view image_name,
                   const std::vector<FakeExport>& exports, std::uint32_t entry_rva);
  /// Everything the engine asked for, one line per call ("write_breakpoint fffff80000401100").
  std::vector<std::string> calls;
  /// Instruction addresses the CPU visits in order; `position` indexes the current one.
  std::vector<std::uint64_t> path;
  std::size_t position = 0;
  /// Register changes on arriving at an address.
  std::map<std::uint64_t, std::function<void(wire::Context&)>> effects;
  wire::Context ctx;
  wire::SpecialRegisters special;
  wire::GetVersion64 ver;
  std::uint32_t processors = 1;
  std::uint16_t current = 0;
  debugger::StopEvent last;
  std::map<std::uint32_t, std::uint64_t> msrs;
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint8_t>> inserted;  // handle -> address, original byte
  /// search_memory searches (as the simulator's stub does) instead of answering
  /// STATUS_NOT_IMPLEMENTED; searches_made counts the requests.
  bool searches = false;
  std::size_t searches_made = 0;
  /// Stops to return (first) from resume(), before the path model is used.
  std::vector<debugger::StopEvent> scripted_stops;

  // --- debugger::Target
  const wire::GetVersion64& version() const override { return ver; }
  std::uint32_t number_processors() const override { return processors; }
  std::uint16_t current_processor() const override { return current; }
  const debugger::StopEvent& last_stop() const override { return last; }
  debugger::Result<std::size_t> read_virtual(std::uint64_t address, std::span<std::uint8_t> out) override;
  debugger::Result<std::size_t> write_virtual(std::uint64_t address, wire::ByteView data) override;
  debugger::Result<std::size_t> read_physical(std::uint64_t address, std::span<std::uint8_t> out) override;
  debugger::Result<std::size_t> write_physical(std::uint64_t address, wire::ByteView data) override;
  debugger::Result<std::uint64_t> search_memory(std::uint64_t start, std::uint64_t length, wire::ByteView pattern) override;
  debugger::Result<std::uint32_t> fill_memory(std::uint64_t address, std::uint32_t length, wire::ByteView pattern,
                                              bool physical) override;
  debugger::Result<wire::Context> get_context() override;
  debugger::Result<void> set_context(const wire::Context& c) override;
  debugger::Result<wire::SpecialRegisters> get_special_registers() override { return special; }
  debugger::Result<void> set_special_registers(const wire::SpecialRegisters& s) override { special = s; return {}; }
  debugger::Result<std::uint64_t> read_control_pointer(std::uint64_t which) override;
  debugger::Result<std::uint64_t> read_msr(std::uint32_t msr) override;
  debugger::Result<void> write_msr(std::uint32_t msr, std::uint64_t value) override;
  debugger::Result<std::uint32_t> read_io(std::uint64_t, std::uint32_t) override { return 0; }
  debugger::Result<void> write_io(std::uint64_t, std::uint32_t, std::uint32_t) override { return {}; }
  debugger::Result<std::uint32_t> write_breakpoint(std::uint64_t address) override;
  debugger::Result<void> restore_breakpoint(std::uint32_t handle) override;
  debugger::Result<debugger::StopEvent> resume(const debugger::ResumeOptions& options) override;
  void request_break() override {}
  debugger::Result<debugger::StopEvent> switch_processor(std::uint16_t processor) override;
  debugger::Result<debugger::StopEvent> reboot() override;
  debugger::Result<debugger::StopEvent> cause_bugcheck() override;
  void set_callbacks(debugger::TargetCallbacks) override {}

  debugger::StopEvent exception_stop(std::uint32_t code, std::uint64_t address, std::uint64_t dr6 = 0) const;

private:
  using Page = std::array<std::uint8_t, 0x1000>;
  std::map<std::uint64_t, Page> virtual_, physical_;
  std::uint32_t next_handle_ = 1;
  std::uint8_t* byte(std::map<std::uint64_t, Page>& space, std::uint64_t address);
  void build_kernel();
  void build_page_tables();
  debugger::StopEvent arrive(std::size_t index);
};

}  // namespace openkd::testing
