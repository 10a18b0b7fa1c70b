// Golden files: each golden/NAME.in is a kd script run against a fresh
// FakeTarget; the transcript (prompt, command, output) must equal
// golden/NAME.txt. OPENKD_REBASE=1 rewrites the .txt files instead (README.md).
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/commands/engine.hpp"
#include "fake_target.hpp"

namespace fs = std::filesystem;
using namespace openkd;

namespace {

std::vector<std::string> golden_names() {
  std::vector<std::string> names;
  // Sub-folders hold one part's scripts each (golden/cmdlang/scripting.in names "cmdlang/scripting").
  for (const auto& entry : fs::recursive_directory_iterator(OPENKD_GOLDEN_DIR))
    if (entry.path().extension() == ".in")
      names.push_back((fs::relative(entry.path(), OPENKD_GOLDEN_DIR).parent_path() / entry.path().stem()).generic_string());
  std::ranges::sort(names);
  return names;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
    text.replace(at, from.size(), to);
}

// A private scratch folder per script: `$TMP` in a script names it.
struct ScratchDir {
  fs::path path;
  explicit ScratchDir(const std::string& name) {
    std::string flat = name;
    std::ranges::replace(flat, '/', '-');
    path = fs::temp_directory_path() / ("openkd-golden-" + flat + "-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string run_script(const std::string& name, const std::string& script, bool target_searches = false) {
  ScratchDir scratch(name);
  testing::FakeTarget target;
  target.searches = target_searches;
  commands::EngineOptions options;
  std::istringstream lines(script);
  std::string line;
  std::vector<std::string> commands_to_run;
  bool initial_stop = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("#! processors ")) {
      target.processors = static_cast<std::uint32_t>(std::stoul(line.substr(14)));
      target.ver.flags |= wire::kVersionFlagMp;
    } else if (line == "#! initial-stop") {
      initial_stop = true;
    } else if (line == "#! secure") {
      options.secure = true;
    } else if (line == "#! noshell") {
      options.noshell = true;
    } else if (!line.starts_with("#")) {
      replace_all(line, "$TMP", scratch.path.string());
      commands_to_run.push_back(line);
    }
  }
  commands::StringOutput out;
  commands::Engine engine(target, out, options);
  std::string transcript;
  if (initial_stop) {
    engine.report_stop(target.last_stop());
    transcript += out.take();
  }
  for (const auto& command : commands_to_run) {
    transcript += engine.prompt() + command + "\n";
    engine.execute(command);
    transcript += out.take();
    if (engine.quit_requested()) break;
  }
  replace_all(transcript, scratch.path.string(), "$TMP");
  return transcript;
}

}  // namespace

BOOST_DATA_TEST_CASE(golden_transcripts, boost::unit_test::data::make(golden_names()), name) {
  const fs::path dir(OPENKD_GOLDEN_DIR);
  const std::string actual = run_script(name, read_file(dir / (name + ".in")));
  const fs::path expected_path = dir / (name + ".txt");
  if (const char* rebase = std::getenv("OPENKD_REBASE"); rebase && std::string_view(rebase) == "1") {
    std::ofstream(expected_path, std::ios::binary) << actual;
    BOOST_TEST_MESSAGE("rebased " << expected_path);
    return;
  }
  BOOST_REQUIRE_MESSAGE(fs::exists(expected_path), expected_path << " is missing: run with OPENKD_REBASE=1");
  const std::string expected = read_file(expected_path);
  if (actual != expected) {
    // Point at the first differing line, which is what a reader needs.
    std::istringstream a(actual), e(expected);
    std::string la, le;
    int n = 1;
    while (true) {
      const bool ga = static_cast<bool>(std::getline(a, la)), ge = static_cast<bool>(std::getline(e, le));
      if (!ga && !ge) break;
      if (la != le || ga != ge) {
        BOOST_ERROR(name << ".txt line " << n << ":\n  expected: " << (ge ? le : "<end>") << "\n  actual:   "
                         << (ga ? la : "<end>"));
        break;
      }
      ++n;
    }
  }
  BOOST_TEST(actual == expected);
}

// `s` gives the same transcript whether the target searches (SearchMemory) or
// the engine reads and scans (cmd_memory.cpp).
BOOST_DATA_TEST_CASE(golden_transcripts_with_a_searching_target, boost::unit_test::data::make(golden_names()), name) {
  const fs::path dir(OPENKD_GOLDEN_DIR);
  const fs::path expected_path = dir / (name + ".txt");
  if (!fs::exists(expected_path)) return;
  BOOST_TEST(run_script(name, read_file(dir / (name + ".in")), true) == read_file(expected_path));
}

namespace {
// A target whose SearchMemory always says "not found", as a stub that does not
// implement it may: the "MZ" probe fails and `s` scans itself.
class NeverFinds final : public testing::FakeTarget {
public:
  debugger::Result<std::uint64_t> search_memory(std::uint64_t, std::uint64_t, wire::ByteView) override {
    ++searches_made;
    return std::unexpected(debugger::Error{"search failed", wire::kStatusUnsuccessful, debugger::ErrorKind::Status});
  }
};

std::string search_output(testing::FakeTarget& target, const std::string& command) {
  commands::StringOutput out;
  commands::Engine engine(target, out);
  engine.execute(command);
  return out.take();
}
}  // namespace

BOOST_AUTO_TEST_CASE(s_asks_a_searching_target_and_scans_for_one_that_cannot) {
  // Unaligned starts, zeros that match at every byte, a hit in a window's overlap.
  for (const std::string command : {"s -d nt L8000 7e", "s -d nt+1 L40 0", "s -q nt+3 L80 0", "s -b nt L8000 4d 5a",
                                    "s -w fffff800`10000000 L10002 0 0", "s -b nt L8000 00 00 00 00 00 00 00 00"}) {
    BOOST_TEST_CONTEXT(command) {
      testing::FakeTarget scanning;
      const std::string expected = search_output(scanning, command);
      BOOST_TEST(!expected.empty());
      testing::FakeTarget searching;
      searching.searches = true;
      BOOST_TEST(search_output(searching, command) == expected);
      BOOST_TEST(searching.searches_made > 1u);  // the probe, then the windows
      NeverFinds untrusted;
      BOOST_TEST(search_output(untrusted, command) == expected);
      BOOST_TEST(untrusted.searches_made == 1u);  // the probe only
    }
  }
}
