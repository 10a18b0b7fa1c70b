// Registers: r (all, some, assignments, flags), rdmsr, wrmsr.
#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"
#include "core/commands/registers.hpp"
#include "core/commands/stack.hpp"

namespace openkd::commands {
namespace {

std::string register_text(std::string_view name, std::uint64_t value) {
  const unsigned bits = register_bits(name);
  if (bits <= 2) return fmt::format("{}={:x}", name, value);  // flags and iopl
  return fmt::format("{}={:0{}x}", name, value, bits / 4);
}

CommandResult<> cmd_r(EngineCore& core, Invocation& call) {
  // After `.frame N`, r shows that frame's registers (KD's scope); assignments still go to the processor.
  const auto frame = selected_frame(core);
  if (call.args.at_end()) {
    auto now = core.context();
    if (!frame || !now) {
      core.print_registers_and_location();
      return {};
    }
    core.print(register_block(frame_context(*now, frame->registers)));
    core.print_code_location(frame->instruction_pointer);
    return {};
  }
  auto ctx = core.context();
  if (!ctx) return std::unexpected(ctx.error());
  wire::Context updated = *ctx;
  const wire::Context scope = frame ? frame_context(*ctx, frame->registers) : *ctx;
  std::vector<std::string> shown;
  do {
    call.args.skip_spaces();
    const std::size_t column = call.args.next_column();
    call.args.consume('@');
    std::string name;
    for (char c : call.args.take_token(",=")) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (name.empty()) return std::unexpected(CommandError::syntax(column));
    if (register_bits(name) == 0) return std::unexpected(CommandError::at("Bad register error", column));
    if (call.args.consume('=')) {
      auto value = core.expression(call.args);
      if (!value) return std::unexpected(value.error());
      // Applied at once, so a later item sees it: `r rax=5, rbx=rax*2`.
      set_register(updated, name, *value);
      if (auto r = core.set_context(updated); !r) return r;
    } else {
      shown.push_back(register_text(name, *get_register(frame ? scope : updated, name)));
    }
  } while (call.args.consume(','));
  if (auto r = core.expect_end(call.args); !r) return r;
  if (!shown.empty()) {
    std::string line;
    for (const auto& s : shown) line += (line.empty() ? "" : " ") + s;
    core.printf("{}\n", line);
  }
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
      {"r", cmd_r, "r [reg[=value][, ...]]        show or set registers and flags (r, r rax, r zf=1)"},
      {"rdmsr", cmd_rdmsr, "rdmsr msr                     read a model-specific register"},
      {"wrmsr", cmd_wrmsr, "wrmsr msr value               write a model-specific register"},
  });
}

}  // namespace openkd::commands
