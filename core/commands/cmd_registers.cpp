// Registers: r (all, some, assignments, flags), rdmsr, wrmsr.
#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/commands/registers.hpp"
#include "core/commands/stack.hpp"

#include <array>

namespace openkd::commands {
namespace {

std::string register_text(std::string_view name, std::uint64_t value) {
  const unsigned bits = register_bits(name);
  if (bits <= 2) return fmt::format("{}={:x}", name, value);  // flags and iopl
  return fmt::format("{}={:0{}x}", name, value, bits / 4);
}

// The blocks the register mask adds after the integer registers (rm's bits).
void print_masked_blocks(EngineCore& core, std::uint32_t mask, const wire::Context& c) {
  if (mask & 0x4) {
    const auto& f = c.flt_save;
    core.printf("fpcw={:04x} fpsw={:04x} fptw={:04x}\n", f.control_word, f.status_word, f.tag_word);
    for (int i = 0; i < 8; ++i) core.printf("{}\n", *extended_register_text(c, fmt::format("st{}", i)));
  }
  if (mask & 0x20) {
    core.printf("dr0={:016x} dr1={:016x} dr2={:016x}\n", c.dr0, c.dr1, c.dr2);
    core.printf("dr3={:016x} dr6={:016x} dr7={:016x}\n", c.dr3, c.dr6, c.dr7);
  }
  if (mask & 0x40) {
    for (int i = 0; i < 16; ++i) core.printf("{}\n", *extended_register_text(c, fmt::format("xmm{}", i)));
    core.printf("mxcsr={:08x}\n", c.mx_csr);
  }
  if (mask & (0x80 | 0x100 | 0x20)) {
    auto s = core.target.get_special_registers();
    if (!s) {
      core.printf("Unable to read the special registers: {}\n", s.error().message);
      return;
    }
    if (mask & 0x20) core.printf("cr4={:016x}\n", s->cr4);  // in kernel mode, with the debug registers
    if (mask & 0x80) core.printf("cr0={:016x} cr2={:016x} cr3={:016x}\ncr8={:016x}\n", s->cr0, s->cr2, s->cr3, s->cr8);
    if (mask & 0x100)
      core.printf("gdtr={:016x}   gdtl={:04x} idtr={:016x}   idtl={:04x} tr={:04x}  ldtr={:04x}\n", s->gdtr.base,
                  s->gdtr.limit, s->idtr.base, s->idtr.limit, s->tr, s->ldtr);
  }
}

CommandResult<> show_all(EngineCore& core, std::uint32_t mask) {
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  if (mask & 0x3) {
    core.print(register_block(*ctx));
  } else if (mask & 0x8) {  // the segment line alone
    const auto& c = *ctx;
    core.printf("cs={:04x}  ss={:04x}  ds={:04x}  es={:04x}  fs={:04x}  gs={:04x}\n", c.seg_cs, c.seg_ss, c.seg_ds,
                c.seg_es, c.seg_fs, c.seg_gs);
  }
  print_masked_blocks(core, mask, *ctx);
  core.print_code_location(ctx->rip);
  return {};
}

// One `name[=value]` item of r; `shown` collects what it displays.
// `scope` is what is shown: the selected frame's registers after `.frame N`
// (KD's scope); assignments still go to the processor (`updated`).
CommandResult<> register_item(EngineCore& core, Invocation& call, wire::Context& updated, const wire::Context& scope,
                              std::vector<std::string>& shown) {
  const std::size_t column = call.args.next_column();
  call.args.consume('@');
  std::string name;
  for (char c : call.args.take_token(",="))
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (name.empty()) return std::unexpected(CommandError::syntax(column));
  const bool assign = call.args.consume('=');
  std::optional<std::uint64_t> value;
  if (assign) {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    value = *v;
  }
  const auto bad = [&] { return std::unexpected(CommandError::at("Bad register error", column)); };
  // $t0..$t19 are the debugger's own; $ip, $csp, $retreg are context registers below.
  if (name.starts_with("$") && register_bits(name) == 0) {
    if (assign) {
      if (!name.starts_with("$t") || !core.pseudo_register(name)) return bad();
      core.user_registers[*parse_number(name.substr(2), 10)] = *value;
      return {};
    }
    auto v = core.register_value(name);
    if (!v) return bad();
    shown.push_back(fmt::format("{}={:016x}", name, *v));
    return {};
  }
  if (special_register_bits(name)) {
    auto s = core.target.get_special_registers();
    if (!s) return std::unexpected(CommandError::plain("Unable to read the special registers: " + s.error().message));
    if (assign) {
      set_special_register(*s, name, *value);
      if (auto r = core.target.set_special_registers(*s); !r)
        return std::unexpected(CommandError::plain("Unable to set the special registers: " + r.error().message));
      return {};
    }
    shown.push_back(fmt::format("{}={:0{}x}", name, *get_special_register(*s, name), special_register_bits(name) / 4));
    return {};
  }
  if (name == "efer") {
    if (assign) {
      if (auto r = core.target.write_msr(EngineCore::kMsrEfer, *value); !r)
        return std::unexpected(CommandError::plain("Unable to write efer (msr c0000080): " + r.error().message));
      return {};
    }
    auto v = core.target.read_msr(EngineCore::kMsrEfer);
    if (!v) return std::unexpected(CommandError::plain("Unable to read efer (msr c0000080): " + v.error().message));
    shown.push_back(fmt::format("efer={:016x}", *v));
    return {};
  }
  if (auto text = extended_register_text(updated, name)) {
    if (assign) {
      if (name != "mxcsr") return std::unexpected(CommandError::at("Bad register error (xmm and st registers are shown, not set)", column));
      updated.mx_csr = updated.flt_save.mx_csr = static_cast<std::uint32_t>(*value);
      return core.set_context(updated);
    }
    shown.push_back(*text);
    return {};
  }
  if (register_bits(name) == 0) return bad();
  if (assign) {
    // Applied at once, so a later item sees it: `r rax=5, rbx=rax*2`.
    set_register(updated, name, *value);
    return core.set_context(updated);
  }
  shown.push_back(register_text(name, *get_register(scope, name)));
  return {};
}

CommandResult<> cmd_r(EngineCore& core, Invocation& call) {
  // rM mask [regs]: this display with another mask (the M is upper case; rm is the mask command).
  std::uint32_t mask = core.register_mask;
  const bool with_mask = call.command.text.size() > 1 && call.command.text[1] == 'M';
  if (with_mask) {
    auto m = core.expression(call.args);
    if (!m) return std::unexpected(m.error());
    mask = static_cast<std::uint32_t>(*m);
  }
  // After `.frame N`, r shows that frame's registers (KD's scope).
  const auto frame = selected_frame(core);
  if (call.args.at_end() && !with_mask && frame) {
    auto now = core.context();
    if (!now) return std::unexpected(now.error());
    core.print(register_block(frame_context(*now, frame->registers)));
    core.print_code_location(frame->instruction_pointer);
    return {};
  }
  if (call.args.at_end()) return show_all(core, mask);
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  wire::Context updated = *ctx;
  const wire::Context scope = frame ? frame_context(*ctx, frame->registers) : *ctx;
  std::vector<std::string> shown;
  do {
    if (auto r = register_item(core, call, updated, frame ? scope : updated, shown); !r) return r;
  } while (call.args.consume(','));
  if (auto r = core.expect_end(call.args); !r) return r;
  if (!shown.empty()) {
    std::string line;
    for (const auto& s : shown) line += (line.empty() ? "" : " ") + s;
    core.printf("{}\n", line);
  }
  return {};
}

// rm [? | mask]: the register display mask.
constexpr std::array<std::pair<std::uint32_t, std::string_view>, 7> kMaskBits{{
    {0x2, "Integer state (64-bit)"}, {0x4, "Floating-point state"}, {0x8, "Segment registers"},
    {0x20, "Debug registers"}, {0x40, "SSE XMM registers"}, {0x80, "Control registers"},
    {0x100, "Descriptor and task state"}}};

CommandResult<> cmd_rm(EngineCore& core, Invocation& call) {
  if (call.command.text.size() > 1 && call.command.text[1] == 'M') return cmd_r(core, call);
  if (call.args.consume('?')) {
    if (auto r = core.expect_end(call.args); !r) return r;
    for (const auto& [bit, what] : kMaskBits) core.printf("{:8x} - {}\n", bit, what);
    return {};
  }
  if (!call.args.at_end()) {
    auto m = core.expression(call.args);
    if (!m) return std::unexpected(m.error());
    if (auto r = core.expect_end(call.args); !r) return r;
    std::uint32_t mask = static_cast<std::uint32_t>(*m);
    if (mask & 0x1) mask = (mask & ~0x1u) | 0x2;  // 0x2 overrides 0x1 on a 64-bit target
    core.register_mask = mask;
    return {};
  }
  core.printf("Register output mask is {:x}:\n", core.register_mask);
  for (const auto& [bit, what] : kMaskBits)
    if (core.register_mask & bit) core.printf("{:8x} - {}\n", bit, what);
  return {};
}

CommandResult<> cmd_rdmsr(EngineCore& core, Invocation& call) {
  auto msr = core.expression(call.args);
  if (!msr) return std::unexpected(msr.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  auto value = core.target.read_msr(static_cast<std::uint32_t>(*msr));
  if (!value) return std::unexpected(CommandError::plain(fmt::format("no such msr: {:x} ({})", *msr, value.error().message)));
  core.printf("msr[{:x}] = {}\n", *msr, hex64(*value));
  return {};
}

CommandResult<> cmd_wrmsr(EngineCore& core, Invocation& call) {
  auto msr = core.expression(call.args);
  if (!msr) return std::unexpected(msr.error());
  auto value = core.expression(call.args);
  if (!value) return std::unexpected(value.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  if (auto r = core.target.write_msr(static_cast<std::uint32_t>(*msr), *value); !r)
    return std::unexpected(CommandError::plain(fmt::format("no such msr: {:x} ({})", *msr, r.error().message)));
  return {};
}

}  // namespace

void add_register_commands(std::vector<CommandSpec>& table) {
  table.insert(table.end(), {
      {"r", cmd_r, "r [reg[=value][, ...]]        show or set registers and flags (r, r rax, r zf=1)", {}, kAnyone,
       "  registers: rax..r15 and parts, rip, efl and flags, segments, dr0-dr7, cr0 cr2 cr3 cr4 cr8,\n"
       "  gdtr gdtl idtr idtl tr ldtr, efer (msr c0000080), xmm0-xmm15, st0-st7, mxcsr;\n"
       "  pseudo-registers $t0-$t19 (settable), $ip $csp $retreg $ptrsize $thread $prcb $pcr $proc\n"
       "  $teb $peb $exentry $bpN. $tid and $tpid need ETHREAD.Cid / EPROCESS.UniqueProcessId, which\n"
       "  KDDEBUGGER_DATA64 does not give: without the kernel's type information they are unavailable."},
      {"rm", cmd_rm, "rm [? | mask]                 register display mask (rM mask: r with that mask once)"},
      {"rdmsr", cmd_rdmsr, "rdmsr msr                     read a model-specific register"},
      {"wrmsr", cmd_wrmsr, "wrmsr msr value               write a model-specific register"},
  });
}

}  // namespace openkd::commands
