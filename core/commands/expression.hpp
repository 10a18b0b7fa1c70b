// KD's MASM expression syntax, used wherever a command takes a number or an
// address. Numbers are hex unless prefixed (0x hex, 0n decimal, 0t octal,
// 0y binary) and may carry backquotes (fffff800`00401000). Operands: numbers,
// @reg / bare register names, $ip-style pseudo-registers, module!symbol,
// a module name alone (its base), poi/qwo/dwo/wo/by (memory), hi/low, not.
// Binary operators from loosest to tightest: | or, ^ xor, & and,
// comparisons (= == != < > <= >=, giving 1 or 0), << >> >>>, + -, * / % mod.
// 'AB' is a character constant (0x4142: the first character is the high byte).
// Parsing stops before the first token that cannot continue the expression,
// so `db rsp L10` reads `rsp` and leaves `L10` to the command.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/commands/errors.hpp"
#include "core/commands/tokenizer.hpp"

namespace openkd::commands {

/// What an expression can refer to.
class ExpressionContext {
public:
  virtual ~ExpressionContext() = default;
  /// A register or pseudo-register ("rax", "eax", "zf", "$ip"); nullopt if not one.
  virtual std::optional<std::uint64_t> register_value(std::string_view name) = 0;
  /// A module name (its base) or a symbol ("nt!KeBugCheckEx", "KeBugCheckEx").
  virtual std::optional<std::uint64_t> symbol_value(std::string_view name) = 0;
  /// Reads 1, 2, 4 or 8 bytes little-endian; nullopt if unreadable.
  virtual std::optional<std::uint64_t> read_memory(std::uint64_t address, unsigned size) = 0;
  /// The radix of numbers without a prefix (n: 16, 10 or 8).
  virtual unsigned default_radix() { return 16; }
};

/// Evaluates one expression at the cursor, leaving the cursor after it.
CommandResult<std::uint64_t> evaluate(ArgCursor& cursor, ExpressionContext& context);

/// Parses a number in KD's syntax ("0n10", "fffff800`00401000"); nullopt if it is not one.
std::optional<std::uint64_t> parse_number(std::string_view text, unsigned default_radix = 16);

}  // namespace openkd::commands
