// The symbol path's syntax as Microsoft documents it ("Symbol path for Windows debuggers").
#include <boost/test/unit_test.hpp>

#include "core/symbols/symbol_path.hpp"

using namespace openkd::symbols;
using Kind = SymbolPathEntry::Kind;

BOOST_AUTO_TEST_CASE(symbol_path_entries) {
  auto e = parse_symbol_path(R"(C:\syms; srv*C:\cache*https://msdl.microsoft.com/download/symbols/;cache*D:\c;;srv*http://h:1;srv*\\share\store)",
                             "/def");
  BOOST_REQUIRE_EQUAL(e.size(), 5u);
  BOOST_TEST((e[0].kind == Kind::folder));
  BOOST_TEST(e[0].folder == R"(C:\syms)");
  BOOST_TEST((e[1].kind == Kind::server));
  BOOST_TEST(e[1].url == "https://msdl.microsoft.com/download/symbols");
  BOOST_REQUIRE_EQUAL(e[1].stores.size(), 1u);
  BOOST_TEST(e[1].stores[0] == R"(C:\cache)");
  BOOST_TEST((e[2].kind == Kind::cache));
  BOOST_TEST(e[2].folder == R"(D:\c)");
  BOOST_TEST(e[3].url == "http://h:1");
  BOOST_REQUIRE_EQUAL(e[3].stores.size(), 1u);
  BOOST_TEST(e[3].stores[0] == "/def");  // srv*URL: the default downstream store
  BOOST_TEST(e[4].url.empty());
  BOOST_TEST(e[4].stores[0] == R"(\\share\store)");
  auto tiers = parse_symbol_path("srv*/a*/b*https://x", "/def");
  BOOST_REQUIRE_EQUAL(tiers[0].stores.size(), 2u);
  BOOST_TEST(tiers[0].stores[1] == "/b");
  auto cache = parse_symbol_path("cache*", "/def");
  BOOST_TEST(cache[0].folder == "/def");
}

BOOST_AUTO_TEST_CASE(an_unreachable_server_is_one_line) {
  // Port 9 on loopback (discard) is closed on any test machine: connection refused at once.
  PdbIdentity id;
  auto path = parse_symbol_path("srv*" + std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                                    "/openkd-nosuch-cache*http://127.0.0.1:9",
                                "/def");
  DownloadLimits limits;
  limits.deadline = std::chrono::milliseconds(3000);
  auto found = find_pdb(path, "x.pdb", id, limits, {});
  BOOST_TEST(!found.pdb);
  BOOST_TEST(found.failure.find('\n') == std::string::npos);
  BOOST_TEST(found.failure.find("127.0.0.1") != std::string::npos);
  BOOST_TEST(found.tried.size() == 3u);  // the cache, the .pdb URL, the .pd_ URL
}
