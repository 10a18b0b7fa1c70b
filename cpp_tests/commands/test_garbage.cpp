// Bad input never crashes and never ends the session: a table of hostile
// lines, then deterministic random lines built from kd's own vocabulary.
#include <boost/test/unit_test.hpp>

#include <random>

#include "core/commands/engine.hpp"
#include "fake_target.hpp"

using namespace openkd;
using namespace openkd::commands;

namespace {

const char* const kGarbage[] = {
    "", " ", ";", ";;;", "\"", "\"\"\"", "\\", "~", "~99", "~-1", "?", "? (", "? )", "? 1 +", "? poi(", "? poi()",
    "? @", "? @@rax", "? $", "? nt!", "? !", "? !!", "? `", "? 0x", "? 0n", "? 0y2", "? 1/0", "? 1 mod 0",
    "db", "db L", "db 0 L", "db 0 L0", "db 0 L?", "db 0 Lffffffffffffffff", "db ffffffffffffffff L10",
    "db 1 0", "db 10 1", "dq -1", "da 0", "du 0", "dps 0", "dd nt L?ffffffffffff", "eb", "eb 0", "eb 0 1",
    "ea 0", "ea nt \"", "eza nt \"unterminated", "f", "f 0 L10", "f nt L0 1", "s", "s -", "s -x 0 L1 1",
    "s -a nt L10", "s -a nt L10 \"\"", "s -b nt L10", "bp", "bp /", "bp /2 nt", "bp nt 0", "bp nt \"",
    "ba", "ba x", "ba w", "ba w3 nt", "ba e1", "bc", "bc x", "bc 5-1", "bd -", "be *,*", "bl 1", "r =",
    "r rax=", "r =1", "r rax==1", "r nosuch", "r rax,", "r ,", "r @", "rdmsr", "rdmsr 12345678",
    "wrmsr 1", "lm m", "lm x", "lm a", "lmvm", "u 0", "u nt L0", "u -1 L10", "!pte", "!pte 0", "!db",
    "!db 0 L?ffffffff", "!dd -1", ".formats", ".formats (", ".echo", ".logclose", ".logopen",
    ".writemem", ".writemem x", ".readmem", ".readmem /nonexistent/file 0", ".kdfiles -m", ".kdfiles -z",
    ".shell", "p 0", "t 0", "p ffffffffffff", "g = ", "gu 1", "pc x", "zzz", "123", "!", ".", "..",
    "db nt!KeBugCheckEx+(", "? ((((((((((((((((((((", "? -------------------------1", "\x01\x02\x7f\xff",
};

const char* const kWords[] = {"db", "dd", "dq", "da", "dps", "eb", "ed", "f", "s", "bp", "ba", "bl", "bc", "bd", "be",
                              "r", "u", "lm", "?", ".formats", "!pte", "!db", "p", "t", "g", "gu", "vertarget",
                              "nt", "nt!KeBugCheckEx", "rip", "@rsp", "poi(", ")", "(", "L", "L?", "10", "0n5",
                              "+", "-", "*", "/", "mod", "=", ",", ";", "\"", "-b", "-a", "/1", "e1", "w4", "zf",
                              "ffffffffffffffff", "`", "!", "@", "$ip", "~", "0"};

}  // namespace

BOOST_AUTO_TEST_CASE(garbage_lines_leave_the_session_usable) {
  testing::FakeTarget target;
  StringOutput out;
  EngineOptions options;
  options.secure = true;  // no host files, whatever the line says
  Engine engine(target, out, options);
  for (const char* line : kGarbage) {
    BOOST_TEST_CONTEXT("line: " << line) {
      engine.execute(line);
      BOOST_TEST(!engine.quit_requested());
    }
  }
  out.take();
  engine.execute("? 1+1");
  BOOST_TEST(out.take() == "Evaluate expression: 2 = 00000000`00000002\n");
}

BOOST_AUTO_TEST_CASE(random_lines_from_kd_vocabulary) {
  testing::FakeTarget target;
  StringOutput out;
  EngineOptions options;
  options.secure = true;
  Engine engine(target, out, options);
  std::mt19937 random(20261125);  // fixed: the same lines every run
  std::uniform_int_distribution<std::size_t> word(0, std::size(kWords) - 1), length(1, 7);
  for (int i = 0; i < 3000; ++i) {
    std::string line;
    for (std::size_t n = length(random); n > 0; --n) {
      line += kWords[word(random)];
      if (random() % 3) line += ' ';
    }
    if (line.starts_with("q")) continue;
    engine.execute(line);
    out.take();
  }
  engine.execute("? 2*3");
  BOOST_TEST(out.take() == "Evaluate expression: 6 = 00000000`00000006\n");
}
