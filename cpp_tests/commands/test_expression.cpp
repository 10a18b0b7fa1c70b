// The MASM expression evaluator, table-driven, against the fake kernel's
// symbols, registers and memory.
#include <boost/test/unit_test.hpp>

#include "core/commands/engine_core.hpp"
#include "fake_target.hpp"

using namespace openkd;
using namespace openkd::commands;
using testing::FakeTarget;

namespace {

struct Fixture {
  FakeTarget target;
  StringOutput out;
  EngineCore core{target, out, {}};

  CommandResult<std::uint64_t> eval(std::string_view text, std::string_view* rest = nullptr) {
    ArgCursor cursor(text, 0);
    auto v = evaluate(cursor, core);
    if (rest) *rest = cursor.rest();
    return v;
  }
};

struct ValueRow {
  std::string_view text;
  std::uint64_t value;
};

const ValueRow kValues[] = {
    {"10", 0x10},
    {"0x10", 0x10},
    {"0n10", 10},
    {"0t17", 15},
    {"0y101", 5},
    {"fffff800`00401000", 0xFFFFF80000401000},
    {"deadbeef", 0xDEADBEEF},
    {"1+2*3", 7},
    {"(1+2)*3", 9},
    {"10/3", 5},
    {"10 % 3", 1},
    {"10 mod 3", 1},
    {"-1", ~0ull},
    {"~0", ~0ull},
    {"- -5", 5},
    {"1 << 4", 0x10},
    {"100 >> 4", 0x10},
    {"-10 >>> 4", ~0ull},
    {"-10 >> 0n60", 0xF},
    {"f0 & 3c", 0x30},
    {"f0 | f", 0xFF},
    {"f0 ^ ff", 0xF},
    {"1 and 3", 1},
    {"1 or 2", 3},
    {"3 xor 1", 2},
    {"1 == 1", 1},
    {"1 = 2", 0},
    {"1 != 2", 1},
    {"2 < 3", 1},
    {"-1 < 0", 1},
    {"2 > 3", 0},
    {"3 <= 3", 1},
    {"3 >= 4", 0},
    {"1 + 2 == 3", 1},
    {"not 0", 1},
    {"not 5", 0},
    {"hi 12345678", 0x1234},
    {"low 12345678", 0x5678},
    {"nt", testing::kKernBase},
    {"simdrv", testing::kDriverBase},
    {"nt!KeBugCheckEx", testing::kKeBugCheckEx},
    {"nt!kebugcheckex", testing::kKeBugCheckEx},
    {"KeBugCheckEx+0x12", testing::kKeBugCheckEx + 0x12},
    {"simdrv!TriggerBug", testing::kDriverBase + 0x3000},
    {"nt!", testing::kKernBase},
    {"rip", testing::kDbgBreakPoint},
    {"@rip", testing::kDbgBreakPoint},
    {"@RIP", testing::kDbgBreakPoint},
    {"$ip", testing::kDbgBreakPoint},
    {". + 1", testing::kDbgBreakPoint + 1},
    {"@$ip", testing::kDbgBreakPoint},
    {"@rcx", 1},
    {"@ecx", 1},
    {"@cl + 1", 2},
    {"@zf", 1},
    {"@efl", 0x246},
    {"@cs", 0x10},
    {"poi(nt!KeTickCount)", 0x1234},
    {"qwo(nt!KeTickCount)", 0x1234},
    {"dwo(nt!KiBugCheckData + 8)", 0xC0000005},
    {"wo(nt!KeTickCount)", 0x1234},
    {"by(nt!KeTickCount)", 0x34},
    {"poi nt!KeTickCount", 0x1234},
    {"poi(poi(nt!PsLoadedModuleList) + 30)", testing::kKernBase},
    {"@$thread", testing::kPool + 0x1000},
    {"8000000000000000 / -1", 0x8000000000000000},
    {"8000000000000000 % -1", 0},
};

struct ErrorRow {
  std::string_view text;
  std::string_view kind;
  std::size_t column;
};

const ErrorRow kErrors[] = {
    {"", "Syntax error", 0},
    {"1 +", "Syntax error", 2},
    {"(1", "Syntax error", 2},
    {"()", "Syntax error", 1},
    {"1 + )", "Syntax error", 4},
    {"nt!Nope", "Couldn't resolve error", 0},
    {"1 + foo", "Couldn't resolve error", 4},
    {"nope!KeBugCheckEx", "Couldn't resolve error", 0},
    {"@foo", "Bad register error", 0},
    {"2 * @nope", "Bad register error", 4},
    {"10g", "Syntax error", 0},
    {"0n1a", "Syntax error", 0},
    {"0y12", "Syntax error", 0},
    {"1ffffffffffffffff", "Syntax error", 0},
    {"poi(0)", "Memory access error", 5},
    {"1 / 0", "Divide by zero error", 2},
    {"5 mod 0", "Divide by zero error", 2},
    {"*", "Syntax error", 0},
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(expression_values, Fixture) {
  for (const auto& row : kValues) {
    auto v = eval(row.text);
    BOOST_TEST_INFO("expression: " << row.text);
    BOOST_REQUIRE_MESSAGE(v.has_value(), "error: " << (v ? "" : v.error().kind));
    BOOST_TEST(*v == row.value);
  }
}

BOOST_FIXTURE_TEST_CASE(expression_errors_point_at_the_bad_spot, Fixture) {
  for (const auto& row : kErrors) {
    auto v = eval(row.text);
    BOOST_TEST_INFO("expression: '" << row.text << "'");
    BOOST_REQUIRE(!v.has_value());
    BOOST_TEST(v.error().kind == row.kind);
    BOOST_TEST(v.error().column == row.column);
  }
}

BOOST_FIXTURE_TEST_CASE(expression_stops_before_what_is_not_its_own, Fixture) {
  struct Row {
    std::string_view text;
    std::uint64_t value;
    std::string_view rest;
  };
  const Row rows[] = {
      {"rsp L10", testing::kStackTop - 0x108, "L10"},
      {"1000 2000", 0x1000, "2000"},
      {"nt!KeBugCheckEx \"r; g\"", testing::kKeBugCheckEx, "\"r; g\""},
      {"1 + 2 3", 3, "3"},
      {"ff, rbx", 0xFF, ", rbx"},
  };
  for (const auto& row : rows) {
    std::string_view rest;
    auto v = eval(row.text, &rest);
    BOOST_TEST_INFO("expression: " << row.text);
    BOOST_REQUIRE(v.has_value());
    BOOST_TEST(*v == row.value);
    std::string_view trimmed = rest.substr(std::min(rest.find_first_not_of(' '), rest.size()));
    BOOST_TEST(trimmed == row.rest);
  }
}

BOOST_AUTO_TEST_CASE(numbers_parse_in_every_radix) {
  BOOST_TEST(*parse_number("0x1f") == 0x1Fu);
  BOOST_TEST(*parse_number("1f") == 0x1Fu);
  BOOST_TEST(*parse_number("0n31") == 31u);
  BOOST_TEST(*parse_number("0t37") == 31u);
  BOOST_TEST(*parse_number("0y11111") == 31u);
  BOOST_TEST(*parse_number("ffffffff`ffffffff") == ~0ull);
  BOOST_TEST(!parse_number("1`0000000000000000"));  // 65 bits
  BOOST_TEST(!parse_number("0x"));
  BOOST_TEST(!parse_number("`"));
  BOOST_TEST(!parse_number("g"));
}

BOOST_FIXTURE_TEST_CASE(deep_nesting_is_an_error_not_a_crash, Fixture) {
  std::string deep(100000, '(');
  auto v = eval(deep);
  BOOST_TEST(!v.has_value());
  std::string minus(100000, '-');
  minus += "1";
  BOOST_TEST(!eval(minus).has_value());
}
