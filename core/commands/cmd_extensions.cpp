// Kernel extensions that need no PDB types: !analyze [-v] (the bug check by name,
// its parameters, the faulting IP, the stack, the blamed module), !irql, !idt.
// Bug check names and parameter meanings: Microsoft's "Bug check code reference"
// (learn.microsoft.com/windows-hardware/drivers/debugger/bug-check-code-reference2).
#include <algorithm>

#include "core/commands/format.hpp"
#include "core/commands/stack.hpp"
#include "core/debugger/pe.hpp"

namespace openkd::commands {
namespace {

namespace unwind = debugger::unwind;

// KDDEBUGGER_DATA64 offsets (as stop_report.cpp uses them).
constexpr std::uint64_t kDebuggerDataKiBugcheckData = 0x88;

struct BugCheck {
  std::uint32_t code;
  std::string_view name;
  std::array<std::string_view, 4> args;
  int faulting_ip_arg;  // 1-based argument holding the faulting address; 0: none
};

constexpr BugCheck kBugChecks[] = {
    {0x0A, "IRQL_NOT_LESS_OR_EQUAL",
     {"memory referenced", "IRQL", "bitfield (bit 0: write, bit 3: execute)", "address which referenced memory"}, 4},
    {0x19, "BAD_POOL_HEADER", {"type of violation", "", "", ""}, 0},
    {0x1A, "MEMORY_MANAGEMENT", {"type of memory management violation", "", "", ""}, 0},
    {0x1E, "KMODE_EXCEPTION_NOT_HANDLED",
     {"The exception code that was not handled", "The address that the exception occurred at",
      "Parameter 0 of the exception", "Parameter 1 of the exception"}, 2},
    {0x3B, "SYSTEM_SERVICE_EXCEPTION",
     {"Exception code that caused the bugcheck", "Address of the instruction which caused the bugcheck",
      "Address of the context record for the exception that caused the bugcheck", "zero"}, 2},
    {0x50, "PAGE_FAULT_IN_NONPAGED_AREA",
     {"memory referenced", "value 0 = read operation, 1 = write operation", "If non-zero, the instruction address which referenced the bad memory address",
      "reserved"}, 3},
    {0x7E, "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
     {"The exception code that was not handled", "The address that the exception occurred at",
      "Exception Record Address", "Context Record Address"}, 2},
    {0x7F, "UNEXPECTED_KERNEL_MODE_TRAP", {"the trap number", "", "", ""}, 0},
    {0x9F, "DRIVER_POWER_STATE_FAILURE", {"the type of violation", "", "", ""}, 0},
    {0xC2, "BAD_POOL_CALLER", {"the type of bad pool caller", "", "", ""}, 0},
    {0xD1, "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
     {"memory referenced", "IRQL", "value 0 = read operation, 1 = write operation", "address which referenced memory"}, 4},
    {0xE2, "MANUALLY_INITIATED_CRASH",
     {"The user manually initiated this crash dump.", "", "", ""}, 0},
    {0xEF, "CRITICAL_PROCESS_DIED", {"Process object or thread object", "", "", ""}, 0},
    {0x124, "WHEA_UNCORRECTABLE_ERROR", {"type of error source", "address of the WHEA_ERROR_RECORD structure", "", ""}, 0},
    {0x133, "DPC_WATCHDOG_VIOLATION", {"", "", "", ""}, 0},
    {0x139, "KERNEL_SECURITY_CHECK_FAILURE", {"type of corruption", "address of the trap frame", "address of the exception record", "reserved"}, 0},
};

const BugCheck* bug_check(std::uint32_t code) {
  for (const auto& b : kBugChecks)
    if (b.code == code) return &b;
  return nullptr;
}

CommandResult<std::array<std::uint64_t, 5>> bug_check_data(EngineCore& core) {
  const std::uint64_t data = core.debugger_data();
  if (data == 0) return std::unexpected(CommandError::plain("!analyze: the target has no KDDEBUGGER_DATA64 (no bug check data)"));
  auto where = read_u64(core.target, data + kDebuggerDataKiBugcheckData);
  if (!where || *where == 0) return std::unexpected(CommandError::plain("!analyze: KiBugCheckData is unreadable"));
  std::array<std::uint64_t, 5> v{};
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto x = read_u64(core.target, *where + 8 * i);
    if (!x) return std::unexpected(CommandError::plain("!analyze: KiBugCheckData is unreadable"));
    v[i] = *x;
  }
  return v;
}

constexpr std::string_view kBanner =
    "*******************************************************************************\n"
    "*                                                                             *\n"
    "*                        Bugcheck Analysis                                    *\n"
    "*                                                                             *\n"
    "*******************************************************************************\n\n";

CommandResult<> cmd_analyze(EngineCore& core, Invocation& call) {
  bool verbose = false;
  while (call.args.consume('-')) {
    if (!call.args.consume('v')) return std::unexpected(CommandError::syntax(call.args.column()));
    verbose = true;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  auto data = bug_check_data(core);
  if (!data) return std::unexpected(data.error());
  const auto code = static_cast<std::uint32_t>((*data)[0]);
  if (code == 0) {
    core.print("!analyze: no bug check has occurred (KiBugCheckData's code is 0)\n");
    return {};
  }
  const BugCheck* b = bug_check(code);
  core.print(kBanner);
  core.printf("{} ({:x})\n", b ? b->name : "UNKNOWN_BUGCHECK_CODE", code);
  core.print("Arguments:\n");
  for (int i = 0; i < 4; ++i) {
    const std::string_view meaning = b ? b->args[i] : std::string_view{};
    core.printf("Arg{}: {:016x}{}{}\n", i + 1, (*data)[i + 1], meaning.empty() ? "" : ", ", meaning);
  }
  core.print("\n");

  // The stack as it is now; the faulting IP is the argument that holds it, else
  // the first frame outside nt.
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  auto unwinder = make_unwinder(core);
  const auto walk = unwinder.walk(unwind_registers(*ctx), unwind::kDefaultFrames,
                                  [&core] { return core.cancel_requested.load(); });
  const auto* kernel = core.modules.find("nt");
  std::optional<std::uint64_t> faulting_ip;
  if (b && b->faulting_ip_arg > 0 && (*data)[b->faulting_ip_arg] != 0) faulting_ip = (*data)[b->faulting_ip_arg];
  const debugger::Module* blamed = faulting_ip ? core.modules.containing(*faulting_ip) : nullptr;
  if (!blamed || blamed == kernel) {
    for (const auto& f : walk.frames) {
      const auto* m = core.modules.containing(f.instruction_pointer);
      if (m && m != kernel) {
        blamed = m;
        if (!faulting_ip) faulting_ip = f.instruction_pointer;
        break;
      }
    }
  }
  if (!blamed) blamed = faulting_ip ? core.modules.containing(*faulting_ip) : kernel;

  core.printf("BUGCHECK_CODE:  {:x}\n\n", code);
  for (int i = 0; i < 4; ++i) core.printf("BUGCHECK_P{}: {:x}\n", i + 1, (*data)[i + 1]);
  core.print("\n");
  if (faulting_ip) {
    core.print("FAULTING_IP: \n");
    core.print_code_location(*faulting_ip);
    core.print("\n");
  }
  if (verbose) {
    core.print("STACK_TEXT:  \n");
    for (const auto& f : walk.frames)
      core.printf("{} {}     : {} : {}\n", hex64(f.stack_pointer), hex64(f.return_address), home_arguments(unwinder, f),
                  call_site(core, f.instruction_pointer));
    core.print("\n");
  }
  if (faulting_ip) {
    std::string symbol = core.describe(*faulting_ip);
    core.printf("SYMBOL_NAME:  {}\n\n", symbol.empty() ? "0x" + hex64(*faulting_ip) : symbol);
  }
  if (blamed) {
    core.printf("MODULE_NAME: {}\n\n", blamed->name);
    core.printf("IMAGE_NAME:  {}\n\n", blamed->image_name);
  }
  core.printf("FAILURE_BUCKET_ID:  0x{:X}_{}\n\n", code, blamed ? blamed->name : "unknown");
  core.printf("Followup:     MachineOwner\n---------\n\n");
  return {};
}

// !irql: the IRQL the processor had when it stopped, from CR8 in the special registers.
CommandResult<> cmd_irql(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  auto s = core.target.get_special_registers();
  if (!s) return std::unexpected(CommandError::plain("!irql: cannot read the special registers: " + s.error().message));
  const std::uint64_t irql = s->cr8 & 0xF;
  std::string_view name = irql == 0    ? "LOW_LEVEL"
                          : irql == 1  ? "APC_LEVEL"
                          : irql == 2  ? "DISPATCH_LEVEL"
                          : irql == 12 ? "SYNCH_LEVEL"
                          : irql == 13 ? "CLOCK_LEVEL"
                          : irql == 14 ? "IPI_LEVEL"
                          : irql == 15 ? "HIGH_LEVEL"
                                       : "";
  core.printf("Debugger saved IRQL for processor 0x{:x} -- {}{}\n", core.target.current_processor(), irql,
              name.empty() ? "" : fmt::format(" ({})", name));
  return {};
}

// !idt [vector]: the interrupt gates of the current processor's IDT (IDTR from
// the special registers; 16-byte AMD64 gate descriptors, Intel SDM vol. 3 6.14.1).
CommandResult<> cmd_idt(EngineCore& core, Invocation& call) {
  std::optional<std::uint64_t> only;
  if (!call.args.at_end()) {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    if (*v > 0xFF) return std::unexpected(CommandError::plain("!idt: a vector is 0 to 0xff"));
    only = *v;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  auto s = core.target.get_special_registers();
  if (!s) return std::unexpected(CommandError::plain("!idt: cannot read the special registers: " + s.error().message));
  const std::uint64_t base = s->idtr.base;
  const std::size_t entries = std::min<std::size_t>((std::size_t(s->idtr.limit) + 1) / 16, 256);
  core.printf("\nDumping IDT: {:016x}\n\n", base);
  const MemoryBlock table = core.read_block(base, entries * 16);
  for (std::size_t v = 0; v < entries; ++v) {
    if (only && v != *only) continue;
    const std::size_t at = v * 16;
    auto lo = table.value(at, 8), hi = table.value(at + 8, 8);
    if (!lo || !hi) {
      core.printf("{:02x}:\t????????????????\n", v);
      continue;
    }
    const bool present = (*lo >> 47) & 1;
    if (!present) continue;
    const std::uint64_t handler = (*lo & 0xFFFF) | ((*lo >> 32) & 0xFFFF0000) | ((*hi & 0xFFFFFFFF) << 32);
    const unsigned ist = unsigned(*lo >> 32) & 7;
    std::string name = core.describe(handler);
    core.printf("{:02x}:\t{:016x} {}{}\n", v, handler, name,
                ist ? fmt::format("\tIST = {}", ist) : std::string{});
  }
  core.print("\n");
  return {};
}

}  // namespace

void add_extension_commands(std::vector<CommandSpec>& table) {
  table.push_back({"!analyze", cmd_analyze, "!analyze [-v]                 the bug check: name, parameters, faulting IP, stack, module"});
  table.push_back({"!irql", cmd_irql, "!irql                         the IRQL the processor stopped at (CR8)"});
  table.push_back({"!idt", cmd_idt, "!idt [vector]                 the interrupt descriptor table with handler symbols"});
}

}  // namespace openkd::commands
