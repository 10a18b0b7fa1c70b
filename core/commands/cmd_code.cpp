// u: disassembly with KD's symbol headers.
#include "core/commands/engine_core.hpp"

namespace openkd::commands {
namespace {

constexpr std::uint64_t kDefaultInstructions = 8;
constexpr std::uint64_t kMaxInstructions = 0x10000;

CommandResult<> cmd_u(EngineCore& core, Invocation& call) {
  std::optional<std::uint64_t> default_address;
  if (core.have_unassemble_address) {
    default_address = core.next_unassemble_address;
  } else if (auto ctx = core.context()) {
    default_address = ctx->rip;
  }
  // A count after L is in instructions; an end address bounds the bytes.
  auto range = core.range(call.args, default_address, kDefaultInstructions, 1, kMaxInstructions);
  if (!range) return std::unexpected(range.error());
  if (auto r = core.expect_end(call.args); !r) return r;

  std::uint64_t address = range->address;
  const std::string first = core.describe(address);
  if (!first.empty()) core.printf("{}:\n", first);
  const std::uint64_t end = range->address + range->count;
  for (std::uint64_t i = 0; range->end_given ? address < end : i < range->count; ++i) {
    if (i > 0) {
      // A new symbol starts here: KD prints its name as a header.
      if (auto where = core.symbols.locate(address); where && where->symbol && where->displacement == 0)
        core.printf("{}:\n", core.describe(address));
    }
    auto in = core.instruction_at(address);
    if (!in) {
      core.printf("{}\n", format_unreadable_instruction(address));
      address += 1;
      continue;
    }
    core.printf("{}\n", format_instruction(*in));
    address += in->length();
  }
  core.next_unassemble_address = address;
  core.have_unassemble_address = true;
  return {};
}

}  // namespace

void add_code_commands(std::vector<CommandSpec>& table) {
  table.push_back({"u", cmd_u, "u [address] [L count]         disassemble (8 instructions by default)"});
}

}  // namespace openkd::commands
