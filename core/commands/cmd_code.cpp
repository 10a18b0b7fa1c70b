// u, ub, uf: disassembly with KD's symbol headers. ub and uf find function
// boundaries from the images' .pdata (the unwinder's tables), never by guessing
// where an instruction might start.
#include <algorithm>
#include <set>

#include "core/commands/format.hpp"
#include "core/commands/stack.hpp"

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

// ---- decoding from a buffer read in one go ------------------------------------------

constexpr std::uint64_t kMaxFunctionBytes = 0x40000;  // uf/ub read at most this much code
constexpr std::uint64_t kMaxBackwardSearch = 0x4000;  // ub decodes from a start at most this far back

struct Decoded {
  std::vector<Instruction> instructions;
  std::uint64_t end = 0;  // where decoding stopped
};

// Decodes [begin, end) from one read; an unreadable or undecodable byte is shown as
// `???` and skipped, so decoding resynchronises as KD does.
Decoded decode_range(EngineCore& core, std::uint64_t begin, std::uint64_t end) {
  Decoded out;
  const MemoryBlock block = core.read_block(begin, end - begin + 15);
  std::uint64_t at = begin;
  auto symbolize = [&core](std::uint64_t a) { return core.describe(a); };
  while (at < end) {
    const std::size_t offset = at - begin;
    std::size_t readable = 0;
    while (offset + readable < block.valid.size() && readable < 15 && block.valid[offset + readable]) ++readable;
    std::optional<Instruction> in;
    if (readable > 0) in = decode_instruction(at, std::span(block.bytes).subspan(offset, readable), symbolize);
    if (!in) {
      Instruction bad;
      bad.address = at;
      if (readable > 0) bad.bytes = {block.bytes[offset]};
      out.instructions.push_back(bad);
      at += 1;
      continue;
    }
    at += in->length();
    out.instructions.push_back(std::move(*in));
  }
  out.end = at;
  return out;
}

std::string line_of(const Instruction& in) {
  if (in.mnemonic.empty()) return in.bytes.empty() ? format_unreadable_instruction(in.address)
                                                   : fmt::format("{} {:<15} ???", hex64(in.address),
                                                                 fmt::format("{:02x}", in.bytes[0]));
  return format_instruction(in);
}

// Prints instructions with a `name:` header before the first and wherever a symbol starts.
void print_with_headers(EngineCore& core, const std::vector<Instruction>& list) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::uint64_t a = list[i].address;
    bool header = i == 0;
    if (!header)
      if (auto where = core.symbols.locate(a); where && where->symbol && where->displacement == 0) header = true;
    if (header)
      if (auto name = core.describe(a); !name.empty()) core.printf("{}:\n", name);
    core.printf("{}\n", line_of(list[i]));
  }
}

// ub [address] [L count]: the `count` instructions that end just before `address`,
// decoded forward from the start of the function (.pdata) that precedes it.
CommandResult<> cmd_ub(EngineCore& core, Invocation& call) {
  std::optional<std::uint64_t> default_address;
  if (auto ctx = core.context()) default_address = ctx->rip;
  auto range = core.range(call.args, default_address, kDefaultInstructions, 1, kMaxInstructions);
  if (!range) return std::unexpected(range.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  if (range->end_given) return std::unexpected(CommandError::plain("ub takes an address and a count (L), not a range"));
  const std::uint64_t address = range->address;

  // The nearest start at or before address-1: a .pdata entry's begin (the entry
  // containing it, or the last one before it: the bytes between are padding), else a symbol.
  std::optional<std::uint64_t> start;
  auto unwinder = make_unwinder(core);
  for (const auto& image : unwinder.images()) {
    if (!image.contains(address - 1) || image.pdata_size == 0) continue;
    const auto& table = unwinder.table(image);
    auto it = std::ranges::upper_bound(table, address - 1 - image.base, {}, &debugger::unwind::RuntimeFunction::begin);
    if (it != table.begin()) start = image.base + std::prev(it)->begin;
  }
  if (!start || address - *start > kMaxBackwardSearch) {
    if (auto where = core.symbols.locate(address - 1); where && where->symbol && address - where->symbol->address <= kMaxBackwardSearch)
      start = where->symbol->address;
  }
  if (!start || address - *start > kMaxBackwardSearch)
    return std::unexpected(CommandError::plain(fmt::format(
        "No function start (.pdata entry or symbol) within {} bytes before {}: ub cannot know where instructions begin",
        masm_hex(kMaxBackwardSearch), hex64(address))));
  Decoded d = decode_range(core, *start, address);
  if (d.end != address)
    core.printf("Note: decoding from {} does not end at {}; the last instruction overlaps it\n", hex64(*start), hex64(address));
  auto& list = d.instructions;
  if (list.size() > range->count) list.erase(list.begin(), list.end() - static_cast<std::ptrdiff_t>(range->count));
  print_with_headers(core, list);
  core.next_unassemble_address = address;
  core.have_unassemble_address = true;
  return {};
}

// uf [/c] [/o] address: the whole function that contains address, by its .pdata
// ranges (the primary entry and every chained fragment), blocks separated as KD
// separates them (a header at each branch target and after each jump or return).
// Listed in address order (KD's /o order).
CommandResult<> cmd_uf(EngineCore& core, Invocation& call) {
  bool calls_only = false;
  while (call.args.consume('/')) {
    const std::size_t column = call.args.column();
    if (call.args.consume('c')) {
      calls_only = true;
    } else if (call.args.consume('o')) {
    } else {
      return std::unexpected(CommandError::syntax(column));
    }
  }
  const std::size_t column = call.args.next_column();
  auto address = core.expression(call.args);
  if (!address) return std::unexpected(address.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  auto unwinder = make_unwinder(core);
  auto fn = unwinder.function_at(*address);
  if (!fn)
    return std::unexpected(CommandError::caret("No function (.pdata entry) contains this address", column));
  const auto [primary, base] = *fn;
  const auto ranges = unwinder.function_ranges(base, primary);

  std::vector<Instruction> all;
  for (const auto& r : ranges) {
    if (r.end - r.begin > kMaxFunctionBytes) {
      core.printf("Function range {} - {} is larger than {}; shown up to that size\n", hex64(base + r.begin),
                  hex64(base + r.end), masm_hex(kMaxFunctionBytes));
    }
    const std::uint64_t end = base + std::min<std::uint64_t>(r.end, r.begin + kMaxFunctionBytes);
    auto d = decode_range(core, base + r.begin, end);
    all.insert(all.end(), d.instructions.begin(), d.instructions.end());
  }
  auto inside = [&](std::uint64_t a) {
    return std::ranges::any_of(ranges, [&](const auto& r) { return a >= base + r.begin && a < base + r.end; });
  };

  if (calls_only) {
    core.printf("{} ({})\n", core.describe(base + primary.begin), hex64(base + primary.begin));
    for (const auto& in : all) {
      if (!in.is_call) continue;
      core.printf("  {} ({}):\n", core.describe(in.address), hex64(in.address));
      core.printf("    call to {}\n", in.operands);
    }
    return {};
  }
  std::set<std::uint64_t> block_starts;
  for (const auto& r : ranges) block_starts.insert(base + r.begin);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& in = all[i];
    if (in.branch_target && !in.is_call && inside(*in.branch_target)) block_starts.insert(*in.branch_target);
    const bool ends_block = in.is_return || (in.branch_target && !in.is_call) || in.mnemonic == "jmp";
    if (ends_block && i + 1 < all.size()) block_starts.insert(all[i + 1].address);
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& in = all[i];
    if (block_starts.contains(in.address)) {
      if (i > 0) core.print("\n");
      const std::string name = core.describe(in.address);
      core.printf("{}:\n", name.empty() ? hex64(in.address) : name);
    }
    core.printf("{}\n", line_of(in));
  }
  return {};
}

}  // namespace

void add_code_commands(std::vector<CommandSpec>& table) {
  table.push_back({"u", cmd_u, "u [address] [L count]         disassemble (8 instructions by default)"});
  table.push_back({"ub", cmd_ub, "ub [address] [L count]        disassemble the instructions before address"});
  table.push_back({"uf", cmd_uf, "uf [/c] [/o] address          disassemble the whole function (its .pdata ranges; /c: calls only)"});
}

}  // namespace openkd::commands
