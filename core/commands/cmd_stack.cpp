// Stacks: k, kn, kb, kv, kc, kp, kL (and their n forms), `k N`, `k = ...`,
// .frame [/r] N. Frames come from the unwinder (core/debugger/unwind.hpp) over
// the loaded modules' .pdata in target memory. Columns as KD prints them:
//  # Child-SP          RetAddr               Call Site
// 00 fffff800`00481f38 fffff800`00401234     nt!KeBugCheckEx+0x12
#include <algorithm>

#include "core/commands/format.hpp"
#include "core/commands/registers.hpp"
#include "core/commands/stack.hpp"
#include "core/debugger/pe.hpp"

namespace openkd::commands {

namespace unwind = debugger::unwind;

namespace {

// Kept across commands: the modules' exception directories (read once per module
// list) and the frame `.frame` selected, valid while the context it was taken from is.
struct StackState {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> module_key;  // base, size of each module
  std::vector<unwind::Image> images;
  std::optional<wire::Context> frame_for;  // the context the selection was made in
  std::optional<unwind::Frame> frame;
  std::size_t frame_number = 0;
};

StackState& state(EngineCore& core) {
  if (!core.stack_state) core.stack_state = std::make_shared<StackState>();
  return *std::static_pointer_cast<StackState>(core.stack_state);
}

unwind::ReadMemory reader(EngineCore& core) {
  return [&core](std::uint64_t address, std::span<std::uint8_t> out) {
    if (core.cancel_requested.load()) return false;
    auto r = debugger::read_exact(core.target, address, out);
    if (!r) {
      core.link_failure(r.error());
      return false;
    }
    return true;
  };
}

}  // namespace

unwind::Unwinder make_unwinder(EngineCore& core) {
  StackState& s = state(core);
  const auto& mods = core.modules.modules();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> key;
  for (const auto& m : mods) key.emplace_back(m.base, m.size);
  auto read = reader(core);
  if (key != s.module_key || s.images.size() != mods.size()) {
    s.images.clear();
    for (const auto& m : mods) s.images.push_back(unwind::read_image(read, m.base, m.size));
    s.module_key = std::move(key);
  }
  return unwind::Unwinder(read, s.images);
}

unwind::Registers unwind_registers(const wire::Context& c) {
  unwind::Registers r;
  r.gpr = {c.rax, c.rcx, c.rdx, c.rbx, c.rsp, c.rbp, c.rsi, c.rdi, c.r8, c.r9, c.r10, c.r11, c.r12, c.r13, c.r14, c.r15};
  r.rip = c.rip;
  for (std::size_t i = 0; i < 16; ++i) {
    const auto& x = c.flt_save.xmm_registers[i];
    std::uint64_t lo = 0, hi = 0;
    for (int b = 7; b >= 0; --b) {
      lo = (lo << 8) | x[b];
      hi = (hi << 8) | x[8 + b];
    }
    r.xmm[i] = {lo, hi};
  }
  return r;
}

wire::Context frame_context(const wire::Context& ctx, const unwind::Registers& r) {
  wire::Context c = ctx;
  std::uint64_t* gpr[] = {&c.rax, &c.rcx, &c.rdx, &c.rbx, &c.rsp, &c.rbp, &c.rsi, &c.rdi,
                          &c.r8,  &c.r9,  &c.r10, &c.r11, &c.r12, &c.r13, &c.r14, &c.r15};
  for (std::size_t i = 0; i < 16; ++i) *gpr[i] = r.gpr[i];
  c.rip = r.rip;
  for (std::size_t i = 0; i < 16; ++i)
    for (int b = 0; b < 8; ++b) {
      c.flt_save.xmm_registers[i][b] = std::uint8_t(r.xmm[i].low >> (8 * b));
      c.flt_save.xmm_registers[i][8 + b] = std::uint8_t(r.xmm[i].high >> (8 * b));
    }
  return c;
}

std::optional<unwind::Frame> selected_frame(EngineCore& core) {
  StackState& s = state(core);
  auto ctx = core.context();
  if (!ctx || !s.frame_for || *s.frame_for != *ctx) return std::nullopt;
  return s.frame;
}

std::string call_site(EngineCore& core, std::uint64_t address) {
  std::string name = core.describe(address);
  return name.empty() ? "0x" + hex64(address) : name;
}

std::string home_arguments(unwind::Unwinder& unwinder, const unwind::Frame& f) {
  // The caller's home space for this function's first four arguments: the four
  // slots above the return address, i.e. at the caller's Child-SP.
  std::string args;
  for (int i = 0; i < 4; ++i) {
    std::array<std::uint8_t, 8> raw{};
    std::uint64_t v = 0;
    const bool ok = f.caller_stack_pointer != 0 && unwinder.read(f.caller_stack_pointer + 8 * i, raw);
    if (ok)
      for (int b = 7; b >= 0; --b) v = (v << 8) | raw[b];
    args += (i ? " " : "") + (ok ? hex64(v) : std::string("????????`????????"));
  }
  return args;
}

namespace {

struct KOptions {
  bool args = false;     // kb, kv, kp
  bool verbose = false;  // kv
  bool sites_only = false;  // kc
};

constexpr std::string_view kArgsHeader =
    " # Child-SP          RetAddr               : Args to Child                                                           : Call Site\n";

std::string frame_line(EngineCore& core, const unwind::Frame& f, std::size_t number, const KOptions& o,
                       unwind::Unwinder& unwinder) {
  if (o.sites_only) return fmt::format("{:02x} {}\n", number, call_site(core, f.instruction_pointer));
  std::string line = fmt::format("{:02x} {} {}     ", number, hex64(f.stack_pointer), hex64(f.return_address));
  if (o.args) {
    line += ": " + home_arguments(unwinder, f) + " : ";
  }
  line += call_site(core, f.instruction_pointer);
  if (o.verbose && f.unwound_by == unwind::FrameKind::MachineFrame) {
    // KD's kv marks frames whose caller comes from an interrupt/exception frame.
    line += fmt::format(" (machine frame @ {})", hex64(f.machine_frame));
  }
  return line + "\n";
}

CommandResult<> cmd_k(EngineCore& core, Invocation& call) {
  // The name's letters after `k`: b v p c n l (any order, as KD allows kbn, kvn, kpn...).
  KOptions o;
  for (char c : std::string_view(call.name).substr(1)) {
    switch (c) {
      case 'b': o.args = true; break;
      case 'v': o.args = o.verbose = true; break;
      case 'p': o.args = true; break;  // parameters need PDB types; shown as kb until a type provider is connected
      case 'c': o.sites_only = true; break;
      case 'n':
      case 'l': break;  // frame numbers always shown; no source lines to hide
      default: return std::unexpected(CommandError::caret("Syntax error", call.command.column + 1));
    }
  }
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  unwind::Registers start = unwind_registers(*ctx);  // the whole stack, whatever .frame selected (as KD)
  std::size_t count = unwind::kDefaultFrames;

  if (call.args.consume('=')) {
    // x64 kernel mode, as Microsoft documents k: `= StackPtr FrameCount` and
    // `= StackPtr InstructionPtr FrameCount`. Two values whose second cannot be a
    // frame count (above 0xFFFF) are StackPtr InstructionPtr; one value is StackPtr.
    std::vector<std::uint64_t> values;
    const std::size_t column = call.args.column();
    while (!call.args.at_end() && values.size() < 3) {
      auto v = core.expression(call.args);
      if (!v) return std::unexpected(v.error());
      values.push_back(*v);
    }
    if (values.empty()) return std::unexpected(CommandError::syntax(column));
    start.gpr[unwind::Rsp] = values[0];
    if (values.size() == 2 && values[1] > unwind::kMaxFrames) {
      start.rip = values[1];
    } else if (values.size() == 2) {
      count = values[1];
    } else if (values.size() == 3) {
      start.rip = values[1];
      count = values[2];
    }
  } else if (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    count = *v;
    if (count == 0 || count > unwind::kMaxFrames) return std::unexpected(CommandError::caret("Range error", column));
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  if (count == 0 || count > unwind::kMaxFrames) return std::unexpected(CommandError::plain("Range error"));

  auto unwinder = make_unwinder(core);
  const auto walk = unwinder.walk(start, count, [&core] { return core.cancel_requested.load(); });
  if (o.sites_only)
    core.print(" # Call Site\n");
  else if (o.args)
    core.print(kArgsHeader);
  else
    core.print(" # Child-SP          RetAddr               Call Site\n");
  for (std::size_t i = 0; i < walk.frames.size(); ++i) {
    const auto& f = walk.frames[i];
    core.print(frame_line(core, f, i, o, unwinder));
    if (f.unwound_by == unwind::FrameKind::FramePointer || (f.unwound_by == unwind::FrameKind::Leaf &&
                                                            !core.modules.containing(f.instruction_pointer))) {
      if (i + 1 < walk.frames.size()) core.print("WARNING: Frame IP not in any known module. Following frames may be wrong.\n");
    }
  }
  if (core.take_cancel()) return {};
  if (walk.end == unwind::WalkEnd::Unreadable || walk.end == unwind::WalkEnd::BadUnwindData)
    core.printf("Unable to unwind further: {}\n", unwind::walk_end_text(walk.end));
  return {};
}

// .frame [/r] [N]: selects frame N of the current stack (N in hex, as KD).
CommandResult<> cmd_frame(EngineCore& core, Invocation& call) {
  bool show_registers = false;
  if (call.args.consume('/')) {
    if (!call.args.consume('r')) return std::unexpected(CommandError::syntax(call.args.column()));
    show_registers = true;
  }
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  StackState& s = state(core);
  std::size_t number = selected_frame(core) ? s.frame_number : 0;
  if (!call.args.at_end()) {
    const std::size_t column = call.args.next_column();
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    if (*v >= unwind::kMaxFrames) return std::unexpected(CommandError::caret("Range error", column));
    number = *v;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  auto unwinder = make_unwinder(core);
  const auto walk = unwinder.walk(unwind_registers(*ctx), number + 1, [&core] { return core.cancel_requested.load(); });
  if (number >= walk.frames.size()) {
    core.printf("Cannot find frame 0x{:x}, previous scope unchanged\n", number);
    return {};
  }
  const auto& f = walk.frames[number];
  s.frame_for = *ctx;
  s.frame = f;
  s.frame_number = number;
  core.print(frame_line(core, f, number, KOptions{}, unwinder));
  if (show_registers) {
    core.print(register_block(frame_context(*ctx, f.registers)));
    core.print_code_location(f.instruction_pointer);
  }
  return {};
}

}  // namespace

void add_stack_commands(std::vector<CommandSpec>& table) {
  static constexpr std::string_view kNames[] = {"k",  "kn", "kb",  "kv",  "kc",  "kp",  "kl",
                                                "kbn", "kvn", "kpn", "kcn", "kbl", "kvl", "kpl"};
  for (auto name : kNames)
    table.push_back({name, cmd_k, "k[b|v|c|p|n|L] [count] | k = StackPtr [InstructionPtr] [count]  stack backtrace"});
  table.push_back({".frame", cmd_frame, ".frame [/r] [N]               select stack frame N (/r: show its registers)"});
}

}  // namespace openkd::commands
