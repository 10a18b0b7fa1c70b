// libFuzzer target for the text parsers that take what a user, a script or a
// remote client typed (issue 15): the -k connection string, remoting's
// transport strings (both roles), the command splitter and argument cursor,
// and the expression evaluator over a fake target. The first input byte picks
// the parser; the rest is the text.
// Properties checked:
//  1. nothing crashes or trips ASan/UBSan (overflowing shifts, divisions by
//     zero and huge numbers are the evaluator's business, not UB);
//  2. an error is one non-empty line (kd prints it as is);
//  3. parsing is deterministic: the same text parses to the same result;
//  4. every command split_commands returns is the line's own text at its column,
//     and an error's column never points past the end of the line;
//  5. a number KD prints (`fffff800`00401000`, 0x..., 0n...) parses back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "backends/connect_string.hpp"
#include "core/commands/expression.hpp"
#include "core/commands/tokenizer.hpp"
#include "remote/transport_spec.hpp"

using namespace openkd;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_one_line(const std::string& message) { check(!message.empty() && message.find('\n') == std::string::npos); }

// A target whose registers, symbols and memory are a function of their name
// or address, so evaluation is deterministic and every path is reachable.
class FakeTarget final : public commands::ExpressionContext {
public:
  std::optional<std::uint64_t> register_value(std::string_view name) override {
    if (name == "rax" || name == "rip" || name == "$ip" || name == "eax" || name == "zf" || name == "$t0")
      return 0xfffff80000401000ull + name.size();
    return std::nullopt;
  }
  std::optional<std::uint64_t> symbol_value(std::string_view name) override {
    if (name == "nt" || name == "nt!KeBugCheckEx" || name == "KeBugCheckEx") return 0xfffff80000400000ull;
    return std::nullopt;
  }
  std::optional<std::uint64_t> read_memory(std::uint64_t address, unsigned size) override {
    check(size == 1 || size == 2 || size == 4 || size == 8);
    if (address & 0x8000) return std::nullopt;  // half the space is unreadable
    std::uint64_t v = address * 0x9e3779b97f4a7c15ull;
    return size == 8 ? v : v & ((1ull << (size * 8)) - 1);
  }
};

void fuzz_connect_string(std::string_view text) {
  auto a = backends::parse_connect_string(text);
  auto b = backends::parse_connect_string(text);
  check(a.has_value() == b.has_value());
  if (!a) {
    check_one_line(a.error());
    check(a.error() == b.error());
  } else {
    check(*a == *b);
  }
}

void fuzz_transport(std::string_view text) {
  // password=@FILE and env: are resolved later (resolve_password), never here,
  // so parsing touches no file.
  for (auto role : {remote::Role::server, remote::Role::client}) {
    auto a = remote::parse_transport(text, role);
    auto b = remote::parse_transport(text, role);
    check(a.has_value() == b.has_value());
    if (!a) {
      check_one_line(a.error().message);
      check(a.error().message == b.error().message);
    } else {
      check(a->kind == b->kind && a->server == b->server && a->port_lo == b->port_lo && a->pipe == b->pipe &&
            a->password == b->password);
      if (a->port_range) check(a->port_lo <= a->port_hi);
    }
  }
}

void fuzz_commands(std::string_view line) {
  FakeTarget target;
  for (const auto& command : commands::split_commands(line)) {
    check(command.column <= line.size() && command.text.size() <= line.size() - command.column);
    check(line.substr(command.column, command.text.size()) == command.text);
    const auto name = commands::parse_command_name(command.text);
    check(name.args_offset <= command.text.size());
    commands::ArgCursor args(command.text.substr(name.args_offset), command.column + name.args_offset);
    // Evaluate expressions until the arguments run out or one fails, as a
    // command taking `addr L count` or `? expr expr` does.
    for (int i = 0; i < 8 && !args.at_end(); ++i) {
      const std::size_t before = args.offset();
      auto value = commands::evaluate(args, target);
      check(args.offset() <= args.text().size());
      if (!value) {
        check(value.error().column <= line.size() + 1);
        check(!value.error().kind.empty());
        break;
      }
      if (args.offset() == before) break;  // nothing consumed: a separator the command would take
      args.consume(',');
    }
  }
}

void fuzz_number(std::string_view text) {
  (void)commands::parse_number(text, 16);
  (void)commands::parse_number(text, 10);
  // Round trip of the value the bytes spell, in the forms KD prints.
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < text.size() && i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(text[i]);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08llx`%08llx", static_cast<unsigned long long>(v >> 32),
                static_cast<unsigned long long>(v & 0xffffffffu));
  check(commands::parse_number(buf) == v);
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  check(commands::parse_number(buf) == v);
  std::snprintf(buf, sizeof buf, "0n%llu", static_cast<unsigned long long>(v));
  check(commands::parse_number(buf) == v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: fuzz_connect_string(text); break;
    case 1: fuzz_transport(text); break;
    case 2: fuzz_commands(text); break;
    case 3: fuzz_number(text); break;
  }
  return 0;
}
