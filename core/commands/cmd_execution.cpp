// Execution: g gh gn, p t (with counts), gu, pc tc, ~N, .reboot, .crash.
// Software breakpoints are written just before the target runs and restored
// at the next stop; a breakpoint under rip is stepped over first, without it.
#include <algorithm>
#include <map>
#include <bit>
#include <variant>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/commands/stack.hpp"

namespace openkd::commands {
namespace {

using debugger::StopEvent;

// Bounds for commands that step many times (gu, pc, tc) so a typo cannot hang forever.
constexpr std::size_t kMaxSteps = 100000;

const wire::ExceptionState* exception_of(const StopEvent& stop) {
  return std::get_if<wire::ExceptionState>(&stop.change.state);
}

bool is_single_step(const StopEvent& stop) {
  const auto* e = exception_of(stop);
  return e && e->record.code == wire::kExceptionSingleStep && (stop.change.control.dr6 & 0xF) == 0;
}

CommandResult<StopEvent> resume_target(EngineCore& core, const debugger::ResumeOptions& options) {
  auto stop = core.target.resume(options);
  core.forget_state();
  core.last_exception_code = 0;
  if (!stop) return std::unexpected(CommandError::plain("Unable to resume the target: " + stop.error().message));
  return *stop;
}

CommandResult<StopEvent> single_step(EngineCore& core, std::uint32_t status) {
  return resume_target(core, {status, true, 0});
}

// Runs with every enabled breakpoint (and the temporary ones) in place.
CommandResult<StopEvent> resume_with_breakpoints(EngineCore& core, std::uint32_t status,
                                                 const std::vector<std::uint64_t>& temporary, bool break_in = false) {
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  const bool under_rip = core.breakpoints.enabled_at(ctx->rip) || std::ranges::count(temporary, ctx->rip) > 0;
  if (under_rip) {
    auto stepped = single_step(core, status);
    if (!stepped || !is_single_step(*stepped)) return stepped;
    status = wire::kDbgContinue;
    ctx = core.context();
    if (!ctx) return std::unexpected(ctx.error());
  }

  // Deferred breakpoints whose module has arrived get their address now.
  for (auto& bp : core.breakpoints.all()) {
    if (!bp.deferred) continue;
    ArgCursor text(bp.expression, 0);
    if (auto address = core.expression(text); address && text.at_end()) {
      bp.address = *address;
      bp.deferred = false;
    }
  }

  std::vector<std::uint32_t> handles;
  auto insert = [&](std::uint64_t address, const Breakpoint* bp) {
    if (auto h = core.target.write_breakpoint(address)) {
      handles.push_back(*h);
    } else if (bp) {
      core.printf("Unable to insert breakpoint {} at {}: {}\n", bp->id, hex64(address), h.error().message);
    }
  };
  for (const auto& bp : core.breakpoints.all())
    if (bp.enabled && !bp.deferred && bp.kind == Breakpoint::Kind::Software) insert(bp.address, &bp);
  for (auto address : temporary) insert(address, nullptr);

  // Hardware breakpoints: Dr0..Dr3 go in the context, Dr7 with the continue.
  std::uint64_t dr7 = 0;
  const auto slots = core.breakpoints.hardware_slots();
  if (!slots.empty() || ctx->dr7 != 0) {
    wire::Context updated = *ctx;
    std::array<std::uint64_t*, 4> dr{&updated.dr0, &updated.dr1, &updated.dr2, &updated.dr3};
    for (std::size_t i = 0; i < slots.size(); ++i) {
      *dr[i] = slots[i]->address;
      dr7 |= dr7_bits(static_cast<unsigned>(i), slots[i]->access, slots[i]->size);
    }
    updated.dr7 = dr7;
    if (updated != *ctx) {
      if (auto r = core.set_context(updated); !r) core.print_error(r.error(), {});
    }
  }

  auto stop = resume_target(core, {status, false, dr7, break_in});
  for (auto h : handles)
    if (auto r = core.target.restore_breakpoint(h); !r)
      core.printf("Unable to remove a breakpoint (handle {}): {}\n", h, r.error().message);
  return stop;
}

enum class Outcome { ReachedTemporary, Stepped, Reported };

// What a stop means to the engine.
Outcome handle_stop(EngineCore& core, const StopEvent& stop, const std::vector<std::uint64_t>& temporary,
                    bool breakpoints_inserted, bool& keep_going) {
  keep_going = false;
  if (const auto* e = exception_of(stop)) {
    if (e->record.code == wire::kExceptionBreakpoint && breakpoints_inserted) {
      const std::uint64_t at = e->record.address;
      if (std::ranges::count(temporary, at)) return Outcome::ReachedTemporary;
      if (Breakpoint* bp = core.breakpoints.enabled_at(at); bp && bp->kind == Breakpoint::Kind::Software) {
        if (bp->pass_count > 1) {
          --bp->pass_count;
          keep_going = true;
          return Outcome::Reported;
        }
        const Breakpoint hit = *bp;
        if (hit.one_shot) core.breakpoints.remove(hit.id);
        core.report_breakpoint_hit(hit, at);
        return Outcome::Reported;
      }
    }
    if (e->record.code == wire::kExceptionSingleStep && (stop.change.control.dr6 & 0xF)) {
      // Dr6 bits 0..3 say which debug register fired.
      const unsigned slot = static_cast<unsigned>(std::countr_zero(stop.change.control.dr6 & 0xF));
      if (const Breakpoint* hw = core.breakpoints.hardware_in_slot(slot)) {
        Breakpoint* bp = core.breakpoints.find(hw->id);
        if (bp->pass_count > 1) {
          --bp->pass_count;
          keep_going = true;
          return Outcome::Reported;
        }
        const Breakpoint hit = *bp;
        if (hit.one_shot) core.breakpoints.remove(hit.id);
        core.report_breakpoint_hit(hit, stop.change.program_counter);
        return Outcome::Reported;
      }
    }
    if (is_single_step(stop) && !breakpoints_inserted) return Outcome::Stepped;
    // Not the engine's own: the exception's filter decides (sx, event_filters.hpp).
    const EventFilter& filter = core.event_filters.for_exception(e->record.code);
    const bool first = e->first_chance != 0;
    const bool breaks = filter.action == FilterAction::Break ||
                        (!first && filter.action == FilterAction::SecondChance);
    if (!breaks) {
      if (filter.action == FilterAction::Output)
        core.printf("{} - code {:08x} ({})\n", filter.code ? filter.description : "Exception", e->record.code,
                    first ? "first chance" : "!!! second chance !!!");
      core.filtered_continue_status = filter.handled ? wire::kDbgExceptionHandled : wire::kDbgExceptionNotHandled;
      keep_going = true;
      return Outcome::Reported;
    }
    core.report_stop(stop);
    if (const auto& c = first ? filter.command : filter.command2; !c.empty()) core.queued_lines.push_back(c);
    return Outcome::Reported;
  }
  if (const auto* load = std::get_if<wire::LoadSymbolsState>(&stop.change.state)) {
    core.forget_everything();  // a driver came or went: modules and symbols changed
    const EventFilter& filter = core.event_filters.event(load->unload ? "ud" : "ld");
    if (filter.action != FilterAction::Break) {
      if (filter.action == FilterAction::Output) {
        if (load->unload)
          core.printf("Unload module {} at {}\n", load->path, hex64(load->base_of_dll));
        else
          core.printf("ModLoad: {} {}   {}\n", hex64(load->base_of_dll), hex64(load->base_of_dll + load->size_of_image),
                      load->path);
      }
      core.filtered_continue_status = wire::kDbgContinue;
      keep_going = true;
      return Outcome::Reported;
    }
    core.report_stop(stop);
    if (!filter.command.empty()) core.queued_lines.push_back(filter.command);
    return Outcome::Reported;
  }
  core.report_stop(stop);
  return Outcome::Reported;
}

// Continues until a stop worth showing; temporary breakpoints end it quietly.
CommandResult<Outcome> run(EngineCore& core, std::uint32_t status, const std::vector<std::uint64_t>& temporary) {
  bool break_in = false;
  for (;;) {
    auto stop = resume_with_breakpoints(core, status, temporary, break_in);
    if (!stop) return std::unexpected(stop.error());
    bool keep_going = false;
    core.filtered_continue_status = wire::kDbgContinue;
    const Outcome outcome = handle_stop(core, *stop, temporary, true, keep_going);
    status = core.filtered_continue_status;  // how a filtered exception is passed on
    // A single step here is the step off a breakpoint that met something else.
    if (!keep_going) return outcome;
    // A stop we continue past (a module load, a pass count) that answered a
    // break-in (Ctrl-C, break_in()) took the break-in with it: the target saw
    // the byte while stopped. Ask again with the continue, or it is lost.
    break_in = stop->break_requested;
  }
}

CommandResult<Outcome> trace_once(EngineCore& core, std::uint32_t status) {
  auto stop = single_step(core, status);
  if (!stop) return std::unexpected(stop.error());
  bool keep_going = false;
  return handle_stop(core, *stop, {}, false, keep_going);
}

// `p`: a call or a rep-string instruction runs to the next instruction; others step.
CommandResult<Outcome> step_over_once(EngineCore& core, std::uint32_t status) {
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  auto in = core.instruction_at(ctx->rip);
  if (in && (in->is_call || in->is_repeated_string)) {
    auto outcome = run(core, status, {ctx->rip + in->length()});
    if (outcome && *outcome == Outcome::ReachedTemporary) return Outcome::Stepped;
    return outcome;
  }
  return trace_once(core, status);
}

std::uint32_t continue_status(EngineCore& core, std::string_view name) {
  if (name == "gh") return wire::kDbgExceptionHandled;
  if (name == "gn") return wire::kDbgExceptionNotHandled;
  // After an exception other than a breakpoint or a step, `g` passes it on (gN), as KD.
  const auto code = core.last_exception_code;
  if (code != 0 && code != wire::kExceptionBreakpoint && code != wire::kExceptionSingleStep)
    return wire::kDbgExceptionNotHandled;
  return wire::kDbgContinue;
}

// `= address` before other arguments: start there (sets rip).
CommandResult<> start_address(EngineCore& core, Invocation& call) {
  if (!call.args.consume('=')) return {};
  auto address = core.expression(call.args);
  if (!address) return std::unexpected(address.error());
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  wire::Context updated = *ctx;
  updated.rip = *address;
  return core.set_context(updated);
}

CommandResult<> cmd_go(EngineCore& core, Invocation& call) {
  const std::uint32_t status = continue_status(core, call.name);
  if (auto r = start_address(core, call); !r) return r;
  std::vector<std::uint64_t> temporary;
  while (!call.args.at_end()) {
    auto address = core.expression(call.args);
    if (!address) return std::unexpected(address.error());
    temporary.push_back(*address);
  }
  auto outcome = run(core, status, temporary);
  if (!outcome) return std::unexpected(outcome.error());
  if (*outcome == Outcome::ReachedTemporary) {
    auto ctx = core.context();
    if (ctx) core.print_code_location(ctx->rip);
  }
  return {};
}

CommandResult<std::uint64_t> step_count(EngineCore& core, Invocation& call) {
  if (auto r = start_address(core, call); !r) return std::unexpected(r.error());
  std::uint64_t count = 1;
  if (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto v = core.expression(call.args);
    if (!v) return v;
    if (*v == 0 || *v > kMaxSteps) return std::unexpected(CommandError::caret("Range error", column));
    count = *v;
  }
  if (auto r = core.expect_end(call.args); !r) return std::unexpected(r.error());
  return count;
}

CommandResult<> cmd_step(EngineCore& core, Invocation& call) {
  auto count = step_count(core, call);
  if (!count) return std::unexpected(count.error());
  const bool over = call.name == "p";
  std::uint32_t status = continue_status(core, "g");
  for (std::uint64_t i = 0; i < *count; ++i) {
    if (i > 0 && core.take_cancel()) break;
    auto outcome = over ? step_over_once(core, status) : trace_once(core, status);
    if (!outcome) return std::unexpected(outcome.error());
    if (*outcome != Outcome::Stepped) break;
    core.print_registers_and_location();
    status = wire::kDbgContinue;
  }
  return {};
}

// gu: step over calls until a `ret` at this frame's depth has executed.
CommandResult<> go_up_by_stepping(EngineCore& core) {
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  const std::uint64_t frame_rsp = ctx->rsp;
  std::uint32_t status = continue_status(core, "g");
  for (std::size_t i = 0; i < kMaxSteps; ++i) {
    if (core.take_cancel()) {
      if (auto now = core.context()) core.print_code_location(now->rip);
      return {};
    }
    ctx = core.context();
    if (!ctx) return std::unexpected(ctx.error());
    auto in = core.instruction_at(ctx->rip);
    const bool leaving = in && in->is_return && ctx->rsp >= frame_rsp;
    auto outcome = leaving ? trace_once(core, status) : step_over_once(core, status);
    if (!outcome) return std::unexpected(outcome.error());
    if (*outcome != Outcome::Stepped) return {};
    status = wire::kDbgContinue;
    if (leaving) {
      if (auto now = core.context()) core.print_code_location(now->rip);
      return {};
    }
  }
  core.printf("gu: no return after {} steps; stopped\n", kMaxSteps);
  return {};
}

// gu: runs to the return address the unwinder finds for this frame (a temporary
// breakpoint there), and stops only once rsp is back at the caller's: a recursive
// call returning to the same address runs on. No instruction-by-instruction stepping.
CommandResult<> cmd_go_up(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  auto unwinder = make_unwinder(core);
  debugger::unwind::Frame frame;
  debugger::unwind::WalkEnd why{};
  const auto caller = unwinder.step(unwind_registers(*ctx), frame, why);
  // Where the unwinder finds no return address (unreadable stack, return address 0),
  // gu steps until a `ret` at this frame's depth has executed instead.
  if (!caller || caller->rip == 0) return go_up_by_stepping(core);
  std::uint32_t status = continue_status(core, "g");
  for (std::size_t i = 0; i < kMaxSteps; ++i) {
    auto outcome = run(core, status, {caller->rip});
    if (!outcome) return std::unexpected(outcome.error());
    if (*outcome != Outcome::ReachedTemporary) return {};  // something else stopped it, and was reported
    auto now = core.context();
    if (!now) return std::unexpected(now.error());
    if (now->rsp >= caller->rsp()) {
      core.print_code_location(now->rip);
      return {};
    }
    status = wire::kDbgContinue;
    if (core.take_cancel()) {
      core.print_code_location(now->rip);
      return {};
    }
  }
  core.printf("gu: the return address was reached {} times in deeper frames; stopped\n", kMaxSteps);
  return {};
}

// pc / tc: step (over / into) until the next call instruction.
CommandResult<> cmd_step_to_call(EngineCore& core, Invocation& call) {
  auto count = step_count(core, call);
  if (!count) return std::unexpected(count.error());
  const bool over = call.name == "pc";
  std::uint32_t status = continue_status(core, "g");
  for (std::uint64_t n = 0; n < *count; ++n) {
    for (std::size_t i = 0;; ++i) {
      if (core.take_cancel()) {
        core.print_registers_and_location();
        return {};
      }
      if (i == kMaxSteps) {
        core.printf("{}: no call after {} steps; stopped\n", call.name, kMaxSteps);
        return {};
      }
      auto outcome = over ? step_over_once(core, status) : trace_once(core, status);
      if (!outcome) return std::unexpected(outcome.error());
      if (*outcome != Outcome::Stepped) return {};
      status = wire::kDbgContinue;
      auto ctx = core.context();
      if (!ctx) return std::unexpected(ctx.error());
      auto in = core.instruction_at(ctx->rip);
      if (in && in->is_call) break;
    }
    core.print_registers_and_location();
  }
  return {};
}

// pt / tt: step (over / into) until a return instruction is next; ph: until any
// branch (jump, call, return) is next; pa / ta address: step until address,
// showing every step. Each stops early at anything else that stops the target.
bool is_branch(const Instruction& in) {
  return in.is_call || in.is_return || (!in.mnemonic.empty() && in.mnemonic[0] == 'j') || in.mnemonic.starts_with("loop");
}

CommandResult<> cmd_step_until(EngineCore& core, Invocation& call) {
  const std::string name = call.name;
  const bool over = name[0] == 'p';
  const bool to_address = name[1] == 'a';
  std::uint64_t target_address = 0;
  std::uint64_t count = 1;
  if (to_address) {
    if (auto r = start_address(core, call); !r) return r;
    auto a = core.expression(call.args);
    if (!a) return std::unexpected(a.error());
    target_address = *a;
    if (auto r = core.expect_end(call.args); !r) return r;
  } else {
    auto c = step_count(core, call);
    if (!c) return std::unexpected(c.error());
    count = *c;
  }
  std::uint32_t status = continue_status(core, "g");
  for (std::uint64_t n = 0; n < count; ++n) {
    for (std::size_t i = 0;; ++i) {
      if (core.take_cancel()) {
        core.print_registers_and_location();
        return {};
      }
      if (i == kMaxSteps) {
        core.printf("{}: not there after {} steps; stopped\n", name, kMaxSteps);
        return {};
      }
      auto ctx = core.context();
      if (!ctx) return std::unexpected(ctx.error());
      if (to_address && ctx->rip == target_address) return {};
      auto in = core.instruction_at(ctx->rip);
      // A stop at the instruction that ends the command: it is not executed (pt stops at the ret).
      if (!to_address && i > 0 && in && (name[1] == 't' ? in->is_return : is_branch(*in))) break;
      auto outcome = over ? step_over_once(core, status) : trace_once(core, status);
      if (!outcome) return std::unexpected(outcome.error());
      if (*outcome != Outcome::Stepped) return {};
      status = wire::kDbgContinue;
      if (to_address) core.print_registers_and_location();
    }
    core.print_registers_and_location();
  }
  return {};
}

// wt: traces into everything until the current function returns, then shows
// the call tree (a line per function segment: instructions, instructions in
// callees, [depth], name) and a table per function, in KD's shape.
CommandResult<> cmd_watch_trace(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  auto name_of = [&](std::uint64_t address) {
    auto n = core.describe(address);
    if (n.empty()) return hex64(address);
    if (auto plus = n.find("+0x"); plus != std::string::npos) n.resize(plus);  // the function, not the offset
    return n;
  };
  const auto return_address = read_u64(core.target, ctx->rsp);
  core.printf("Tracing {} to return address {}\n", name_of(ctx->rip), return_address ? hex64(*return_address) : "????????`????????");
  struct Frame {
    std::string name;
    std::uint64_t segment = 0;   // instructions since this frame's last line
    std::uint64_t children = 0;  // instructions executed in its callees
    std::uint64_t total = 0;     // all of this invocation's own instructions
  };
  struct Stats { std::uint64_t calls = 0, min = ~0ull, max = 0, sum = 0; };
  std::vector<Frame> frames{{name_of(ctx->rip)}};
  std::map<std::string, Stats> stats;
  std::uint64_t instructions = 0;
  auto line = [&](Frame& f, std::size_t depth) {
    core.printf("{:5} {:5} [{:3}] {}{}\n", f.segment, f.children, depth, std::string(depth * 2, ' '), f.name);
    f.segment = 0;
  };
  auto finish = [&](Frame& f) {
    auto& s = stats[f.name];
    ++s.calls;
    s.min = std::min(s.min, f.total);
    s.max = std::max(s.max, f.total);
    s.sum += f.total;
  };
  std::uint32_t status = continue_status(core, "g");
  for (std::size_t i = 0;; ++i) {
    if (core.take_cancel() || i == kMaxSteps) {
      if (i == kMaxSteps) core.printf("wt: no return after {} steps; stopped\n", kMaxSteps);
      break;
    }
    ctx = core.context();
    if (!ctx) return std::unexpected(ctx.error());
    auto in = core.instruction_at(ctx->rip);
    auto outcome = trace_once(core, status);
    if (!outcome) return std::unexpected(outcome.error());
    if (*outcome != Outcome::Stepped) break;
    status = wire::kDbgContinue;
    ++instructions;
    Frame& top = frames.back();
    ++top.segment;
    ++top.total;
    for (std::size_t k = 0; k + 1 < frames.size(); ++k) ++frames[k].children;
    if (in && in->is_call) {
      line(top, frames.size() - 1);
      auto now = core.context();
      frames.push_back(Frame{now ? name_of(now->rip) : "?"});
    } else if (in && in->is_return) {
      line(top, frames.size() - 1);
      finish(top);
      frames.pop_back();
      if (frames.empty()) break;
    }
  }
  for (auto& f : frames) finish(f);
  core.printf("\n{} instructions were executed in {} events (0 from other threads)\n\n", instructions, instructions);
  core.printf("{:<43} {:>11} {:>7} {:>7} {:>7}\n", "Function Name", "Invocations", "MinInst", "MaxInst", "AvgInst");
  for (const auto& [name, s] : stats)
    core.printf("{:<43} {:>11} {:>7} {:>7} {:>7}\n", name, s.calls, s.min, s.max, s.calls ? s.sum / s.calls : 0);
  core.print("\n0 system calls were executed\n\n");
  if (auto now = core.context()) core.print_code_location(now->rip);
  return {};
}

// `~` alone: the processors, the current one marked.
CommandResult<> list_processors(EngineCore& core) {
  const unsigned current = core.target.current_processor();
  for (unsigned n = 0; n < core.target.number_processors(); ++n)
    core.printf("{} {:3}  processor {}{}\n", n == current ? '.' : ' ', n, n, n == current ? " (current)" : "");
  return {};
}

CommandResult<> cmd_switch_processor(EngineCore& core, Invocation& call) {
  if (call.args.at_end()) return list_processors(core);
  const std::size_t column = call.args.next_column();
  // `~1s` is the user-mode spelling of the same thing: drop the `s`.
  std::string_view text = call.args.take_token();
  if (text.size() > 1 && (text.back() == 's' || text.back() == 'S')) text.remove_suffix(1);
  if (auto r = core.expect_end(call.args); !r) return r;
  ArgCursor number_text(text, column);
  auto number = core.expression(number_text);
  if (!number) return std::unexpected(number.error());
  if (!number_text.at_end()) return std::unexpected(CommandError::syntax(number_text.column()));
  if (*number >= core.target.number_processors())
    return std::unexpected(CommandError::caret("Invalid processor number error", column));
  if (*number == core.target.current_processor()) return {};
  auto stop = core.target.switch_processor(static_cast<std::uint16_t>(*number));
  core.forget_state();
  if (!stop) return std::unexpected(CommandError::plain("Unable to switch processor: " + stop.error().message));
  return {};
}

CommandResult<> cmd_reboot(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  // Said before the answer (a reboot may take minutes), without claiming it
  // happened: a target may refuse, and then says so at once.
  core.print("Asking the target to reboot; waiting for it to restart\n");
  auto stop = core.target.reboot();
  core.forget_everything();
  if (!stop) return std::unexpected(CommandError::plain("Reboot failed: " + stop.error().message));
  core.report_stop(*stop);
  return {};
}

CommandResult<> cmd_crash(EngineCore& core, Invocation& call) {
  if (auto r = core.expect_end(call.args); !r) return r;
  auto stop = core.target.cause_bugcheck();
  core.forget_state();
  if (!stop) return std::unexpected(CommandError::plain("Unable to cause a bug check: " + stop.error().message));
  core.report_stop(*stop);
  return {};
}

}  // namespace

void add_execution_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"g", cmd_go, "g [= start] [address ...]     go (until a breakpoint or the given address)"},
      {"gh", cmd_go, "gh                            go, exception handled"},
      {"gn", cmd_go, "gn                            go, exception not handled"},
      {"p", cmd_step, "p [= start] [count]           step over calls, showing registers"},
      {"t", cmd_step, "t [= start] [count]           trace into calls, showing registers"},
      {"gu", cmd_go_up, "gu                            go up: run to the unwound return address of this frame"},
      {"pc", cmd_step_to_call, "pc [count]                    step over to the next call"},
      {"tc", cmd_step_to_call, "tc [count]                    trace to the next call"},
      {"~", cmd_switch_processor, "~ | ~N                        list the processors | switch to processor N"},
      {".reboot", cmd_reboot, ".reboot | .restart             reboot the target (kernel mode: .restart reboots)", ".restart"},
      {"pt", cmd_step_until, "pt | tt [count]               step over | trace to the next return", "tt"},
      {"ph", cmd_step_until, "ph | th [count]               step over | trace to the next branch", "th"},
      {"pa", cmd_step_until, "pa | ta [= start] address     step over | trace to an address, showing each step", "ta"},
      {"wt", cmd_watch_trace, "wt                            trace the current function's calls and count instructions"},
      {".crash", cmd_crash, ".crash                        make the target bug check"},
  });
}

}  // namespace openkd::commands
