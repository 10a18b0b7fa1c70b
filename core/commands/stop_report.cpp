// Printing a stop as KD does: bug checks, exceptions, breakpoint hits, module events.
#include <variant>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

// KDDEBUGGER_DATA64 fields (docs/protocol.md section 5).
constexpr std::uint64_t kDebuggerDataBreakpointWithStatus = 0x20;
constexpr std::uint64_t kDebuggerDataKiBugcheckData = 0x88;
constexpr std::uint64_t kDbgStatusBugcheckFirst = 3;

std::string_view exception_name(std::uint32_t code) {
  switch (code) {
    case 0x80000003: return "Break instruction exception";
    case 0x80000004: return "Single step exception";
    case 0xC0000005: return "Access violation";
    case 0x80000001: return "Guard page violation";
    case 0x80000002: return "Data misaligned";
    case 0xC000001D: return "Illegal instruction";
    case 0xC0000094: return "Integer divide-by-zero";
    case 0xC0000095: return "Integer overflow";
    case 0xC0000096: return "Privileged instruction";
    case 0xC00000FD: return "Stack overflow";
    default: return "Unknown exception";
  }
}

template <class... F>
struct Overloaded : F... { using F::operator()...; };

}  // namespace

bool EngineCore::is_bugcheck(const debugger::StopEvent& stop) {
  const auto* e = std::get_if<wire::ExceptionState>(&stop.change.state);
  if (!e || e->record.code != wire::kExceptionBreakpoint) return false;
  const std::uint64_t data = debugger_data();
  if (data == 0) return false;
  auto breakpoint_with_status = read_u64(target, data + kDebuggerDataBreakpointWithStatus);
  if (!breakpoint_with_status || *breakpoint_with_status != e->record.address) return false;
  auto ctx = context();
  return ctx && ctx->rcx == kDbgStatusBugcheckFirst;
}

void EngineCore::report_stop(const debugger::StopEvent& stop) {
  forget_state();
  const std::uint64_t pc = stop.change.program_counter;
  std::visit(Overloaded{
                 [&](const wire::ExceptionState& e) {
                   last_exception_code = e.record.code;
                   if (is_bugcheck(stop)) {
                     // KiBugCheckData: the code and four parameters KeBugCheckEx stored.
                     std::array<std::uint64_t, 5> data{};
                     if (auto where = read_u64(target, debugger_data() + kDebuggerDataKiBugcheckData))
                       for (std::size_t i = 0; i < data.size(); ++i)
                         data[i] = read_u64(target, *where + 8 * i).value_or(0);
                     printf("\n*** Fatal System Error: 0x{:08x}\n", static_cast<std::uint32_t>(data[0]));
                     printf("                       (0x{:016X},0x{:016X},0x{:016X},0x{:016X})\n\n", data[1], data[2],
                            data[3], data[4]);
                     print("A fatal system error has occurred.\n\n");
                   } else {
                     printf("{} - code {:08x} ({})\n", exception_name(e.record.code), e.record.code,
                            e.first_chance ? "first chance" : "!!! second chance !!!");
                   }
                   print_code_location(pc);
                 },
                 [&](const wire::LoadSymbolsState& l) {
                   forget_everything();
                   if (l.unload)
                     printf("Unload module {} at {}\n", l.path, hex64(l.base_of_dll));
                   else
                     printf("ModLoad: {} {}   {}\n", hex64(l.base_of_dll), hex64(l.base_of_dll + l.size_of_image),
                            l.path);
                   print_code_location(pc);
                 },
                 [&](const wire::CommandStringState& c) {
                   printf("{}: {}\n", c.name, c.command);
                   print_code_location(pc);
                 },
             },
             stop.change.state);
}

void EngineCore::report_breakpoint_hit(const Breakpoint& bp, std::uint64_t address) {
  printf("Breakpoint {} hit\n", bp.id);
  print_code_location(address);
  if (!bp.command.empty()) queued_lines.push_back(bp.command);
}

}  // namespace openkd::commands
