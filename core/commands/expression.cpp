#include "core/commands/expression.hpp"

#include <array>
#include <cctype>
#include <limits>
#include <string>

namespace openkd::commands {
namespace {

bool is_operand_char(char c) { return is_word_char(c) || c == '`' || c == '$' || c == '!'; }

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

enum class Op { Or, Xor, And, Eq, Ne, Lt, Gt, Le, Ge, Shl, Shr, Sar, Add, Sub, Mul, Div, Mod };

struct BinaryOp {
  std::string_view spelling;
  Op op;
  int level;  // 1 loosest .. 7 tightest
  bool word;  // spelled as a word ("mod"): must not run into an identifier
};
// Longer spellings first so ">>>" wins over ">>" and "<=" over "<".
constexpr std::array kBinaryOps{
    BinaryOp{">>>", Op::Sar, 5, false}, BinaryOp{"<<", Op::Shl, 5, false}, BinaryOp{">>", Op::Shr, 5, false},
    BinaryOp{"==", Op::Eq, 4, false},   BinaryOp{"!=", Op::Ne, 4, false},  BinaryOp{"<=", Op::Le, 4, false},
    BinaryOp{">=", Op::Ge, 4, false},   BinaryOp{"=", Op::Eq, 4, false},   BinaryOp{"<", Op::Lt, 4, false},
    BinaryOp{">", Op::Gt, 4, false},    BinaryOp{"|", Op::Or, 1, false},   BinaryOp{"or", Op::Or, 1, true},
    BinaryOp{"^", Op::Xor, 2, false},   BinaryOp{"xor", Op::Xor, 2, true}, BinaryOp{"&", Op::And, 3, false},
    BinaryOp{"and", Op::And, 3, true},  BinaryOp{"+", Op::Add, 6, false},  BinaryOp{"-", Op::Sub, 6, false},
    BinaryOp{"*", Op::Mul, 7, false},   BinaryOp{"/", Op::Div, 7, false},  BinaryOp{"%", Op::Mod, 7, false},
    BinaryOp{"mod", Op::Mod, 7, true},
};
constexpr int kLoosest = 1, kTightest = 7;

class Parser {
public:
  Parser(ArgCursor& cursor, ExpressionContext& context) : c_(cursor), ctx_(context) {}

  CommandResult<std::uint64_t> parse() {
    if (c_.at_end()) return std::unexpected(CommandError::syntax(c_.column()));
    return binary(kLoosest);
  }

private:
  // The binary operator at the cursor with the given level, if any (not consumed).
  const BinaryOp* peek_op(int level) {
    c_.skip_spaces();
    const auto rest = c_.rest();
    for (const auto& op : kBinaryOps) {
      if (op.level != level || rest.size() < op.spelling.size()) continue;
      if (lower(rest.substr(0, op.spelling.size())) != op.spelling) continue;
      if (op.word && rest.size() > op.spelling.size() && is_operand_char(rest[op.spelling.size()])) continue;
      return &op;
    }
    return nullptr;
  }

  CommandResult<std::uint64_t> binary(int level) {
    if (level > kTightest) return unary();
    auto left = binary(level + 1);
    if (!left) return left;
    while (const BinaryOp* op = peek_op(level)) {
      const std::size_t op_column = c_.column();
      c_.set_offset(c_.offset() + op->spelling.size());
      if (c_.at_end()) return std::unexpected(CommandError::syntax(op_column));
      auto right = binary(level + 1);
      if (!right) return right;
      auto value = apply(op->op, *left, *right, op_column);
      if (!value) return value;
      left = *value;
    }
    return left;
  }

  static CommandResult<std::uint64_t> apply(Op op, std::uint64_t a, std::uint64_t b, std::size_t column) {
    const auto sa = static_cast<std::int64_t>(a), sb = static_cast<std::int64_t>(b);
    switch (op) {
      case Op::Or: return a | b;
      case Op::Xor: return a ^ b;
      case Op::And: return a & b;
      case Op::Eq: return a == b ? 1 : 0;
      case Op::Ne: return a != b ? 1 : 0;
      case Op::Lt: return sa < sb ? 1 : 0;
      case Op::Gt: return sa > sb ? 1 : 0;
      case Op::Le: return sa <= sb ? 1 : 0;
      case Op::Ge: return sa >= sb ? 1 : 0;
      case Op::Shl: return b >= 64 ? 0 : a << b;
      case Op::Shr: return b >= 64 ? 0 : a >> b;
      case Op::Sar: return static_cast<std::uint64_t>(sa >> (b >= 64 ? 63 : b));
      case Op::Add: return a + b;
      case Op::Sub: return a - b;
      case Op::Mul: return a * b;
      case Op::Div:
      case Op::Mod:
        if (b == 0) return std::unexpected(CommandError::at("Divide by zero error", column));
        // INT64_MIN / -1 overflows: its wrapped result is INT64_MIN, remainder 0.
        if (sa == std::numeric_limits<std::int64_t>::min() && sb == -1) return op == Op::Div ? a : 0;
        return static_cast<std::uint64_t>(op == Op::Div ? sa / sb : sa % sb);
    }
    return a;
  }

  CommandResult<std::uint64_t> unary() {
    if (++depth_ > kMaxDepth) return std::unexpected(CommandError::caret("Expression too complex error", c_.column()));
    auto value = unary_inner();
    --depth_;
    return value;
  }

  CommandResult<std::uint64_t> unary_inner() {
    const char ch = c_.peek();
    const std::size_t column = c_.column();
    if (ch == '-' || ch == '+' || ch == '~') {
      c_.consume(ch);
      auto v = unary();
      if (!v) return v;
      return ch == '-' ? (0 - *v) : ch == '~' ? ~*v : *v;
    }
    struct Reader { std::string_view word; unsigned size; };
    for (auto r : {Reader{"poi", 8}, Reader{"qwo", 8}, Reader{"dwo", 4}, Reader{"wo", 2}, Reader{"by", 1}}) {
      if (!c_.consume_word(r.word)) continue;
      auto address = unary();
      if (!address) return address;
      auto v = ctx_.read_memory(*address, r.size);
      if (!v) return std::unexpected(CommandError::at("Memory access error", c_.column() > 0 ? c_.column() - 1 : 0));
      return *v;
    }
    if (c_.consume_word("not")) {
      auto v = unary();
      if (!v) return v;
      return *v == 0 ? 1 : 0;
    }
    if (c_.consume_word("hi")) {
      auto v = unary();
      if (!v) return v;
      return (*v >> 16) & 0xFFFF;
    }
    if (c_.consume_word("low")) {
      auto v = unary();
      if (!v) return v;
      return *v & 0xFFFF;
    }
    if (c_.consume('(')) {
      auto v = binary(kLoosest);
      if (!v) return v;
      if (!c_.consume(')')) return std::unexpected(CommandError::syntax(c_.column()));
      return v;
    }
    (void)column;
    return operand();
  }

  CommandResult<std::uint64_t> operand() {
    c_.skip_spaces();
    const std::size_t column = c_.column();
    const std::size_t start = c_.offset();
    const auto text = c_.text();
    std::size_t end = start;
    if (end < text.size() && text[end] == '@') ++end;
    while (end < text.size() && is_operand_char(text[end])) ++end;
    const std::string_view token = text.substr(start, end - start);
    if (token.empty() && start < text.size() && text[start] == '.' &&
        (start + 1 == text.size() || !is_operand_char(text[start + 1]))) {
      c_.set_offset(start + 1);  // `.` is the current instruction, as $ip
      auto v = ctx_.register_value("$ip");
      if (!v) return std::unexpected(CommandError::at("Bad register error", column));
      return *v;
    }
    if (token.empty() && start < text.size() && text[start] == '\'') {
      // A character constant: up to 8 characters, the first the most significant.
      const auto close = text.find('\'', start + 1);
      if (close == std::string_view::npos || close == start + 1 || close - start - 1 > 8)
        return std::unexpected(CommandError::syntax(column));
      std::uint64_t v = 0;
      for (std::size_t k = start + 1; k < close; ++k) v = (v << 8) | static_cast<unsigned char>(text[k]);
      c_.set_offset(close + 1);
      return v;
    }
    if (token.empty() || token == "@") return std::unexpected(CommandError::syntax(column));
    c_.set_offset(end);

    if (token[0] == '@') {
      auto v = ctx_.register_value(lower(token.substr(1)));
      if (!v) return std::unexpected(CommandError::at("Bad register error", column));
      return *v;
    }
    if (token[0] == '$') {
      auto v = ctx_.register_value(lower(token));
      if (!v) return std::unexpected(CommandError::at("Bad register error", column));
      return *v;
    }
    if (std::isdigit(static_cast<unsigned char>(token[0]))) {
      auto v = parse_number(token, ctx_.default_radix());
      if (!v) return std::unexpected(CommandError::syntax(column));
      return *v;
    }
    // A word made only of hex digits is a number, as in KD (write `@ah`... for registers).
    if (auto v = parse_number(token, ctx_.default_radix())) return *v;
    if (token.find('!') == std::string_view::npos) {
      if (auto v = ctx_.symbol_value(token)) return *v;
      if (auto v = ctx_.register_value(lower(token))) return *v;
    } else if (auto v = ctx_.symbol_value(token)) {
      return *v;
    }
    return std::unexpected(CommandError::at("Couldn't resolve error", column));
  }

  static constexpr int kMaxDepth = 200;
  ArgCursor& c_;
  ExpressionContext& ctx_;
  int depth_ = 0;
};

}  // namespace

std::optional<std::uint64_t> parse_number(std::string_view text, unsigned radix) {
  if (text.size() > 2 && text[0] == '0') {
    switch (std::tolower(static_cast<unsigned char>(text[1]))) {
      case 'x': radix = 16; text.remove_prefix(2); break;
      case 'n': radix = 10; text.remove_prefix(2); break;
      case 't': radix = 8; text.remove_prefix(2); break;
      case 'y': radix = 2; text.remove_prefix(2); break;
      default: break;
    }
  }
  std::uint64_t value = 0;
  bool any = false;
  for (char c : text) {
    if (c == '`') continue;
    const int d = digit_value(c);
    if (d >= static_cast<int>(radix)) return std::nullopt;
    if (value > (std::numeric_limits<std::uint64_t>::max() - d) / radix) return std::nullopt;  // overflow
    value = value * radix + d;
    any = true;
  }
  if (!any) return std::nullopt;
  return value;
}

CommandResult<std::uint64_t> evaluate(ArgCursor& cursor, ExpressionContext& context) {
  return Parser(cursor, context).parse();
}

}  // namespace openkd::commands
