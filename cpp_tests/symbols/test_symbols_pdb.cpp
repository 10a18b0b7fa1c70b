// core/symbols/pdb against the simulated kernel's PDB. Every expected value is
// read in the test from llvm-pdbutil-14's dump of the same file (an independent
// reader), never from openkd's own.
#define BOOST_TEST_MODULE symbols
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <map>
#include <regex>
#include <string>

#include <fmt/format.h>

#include "core/symbols/pdb.hpp"

using namespace openkd::symbols;

namespace {

const std::string kPdb = OPENKD_SIMKERNEL_DIR "/simkrnl.pdb";

std::string pdbutil(const std::string& args) {
  const std::string cmd = "llvm-pdbutil-14 dump " + args + " '" + kPdb + "' 2>/dev/null";
  std::string out;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(p, "cannot run llvm-pdbutil-14");
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  BOOST_REQUIRE_EQUAL(::pclose(p), 0);
  return out;
}

std::string match1(const std::string& text, const std::string& re) {
  std::smatch m;
  BOOST_REQUIRE_MESSAGE(std::regex_search(text, m, std::regex(re)), "llvm-pdbutil output lacks " << re);
  return m[1].str();
}

// Section number -> virtual address, from the section headers stream.
std::map<int, std::uint32_t> section_rvas() {
  const std::string text = pdbutil("-section-headers");
  std::map<int, std::uint32_t> out;
  std::regex re(R"(SECTION HEADER #(\d+)[\s\S]*?\n\s*([0-9A-F]+) virtual address)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out[std::stoi((*it)[1].str())] = static_cast<std::uint32_t>(std::stoul((*it)[2].str(), nullptr, 16));
  BOOST_REQUIRE(!out.empty());
  return out;
}

std::unique_ptr<PdbFile> open_pdb() {
  auto pdb = PdbFile::open(kPdb);
  BOOST_REQUIRE_MESSAGE(pdb, (pdb ? "" : pdb.error()));
  return std::move(*pdb);
}

}  // namespace

BOOST_AUTO_TEST_CASE(identity_matches_pdbutil_summary) {
  auto pdb = open_pdb();
  const std::string summary = pdbutil("-summary");
  BOOST_TEST(pdb->identity().guid_string() == match1(summary, R"(GUID: (\{[0-9A-F-]+\}))"));
  BOOST_TEST(pdb->identity().age == std::stoul(match1(summary, R"(Age: (\d+))")));
  BOOST_TEST(pdb->identity().store_key().size() == 33u);
}

BOOST_AUTO_TEST_CASE(a_function_has_its_rva_and_size) {
  auto pdb = open_pdb();
  const auto sections = section_rvas();
  const std::string symbols = pdbutil("-symbols");
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(symbols, m,
                                  std::regex(R"(S_GPROC32 \[size = \d+\] `KeBugCheckEx`\s+parent = \d+, end = \d+, addr = (\d+):(\d+), code size = (\d+))")));
  const std::uint32_t rva = sections.at(std::stoi(m[1])) + std::stoul(m[2]);
  const auto* f = pdb->find_symbol("KeBugCheckEx");
  BOOST_REQUIRE(f);
  BOOST_TEST(f->rva == rva);
  BOOST_TEST(f->size == std::stoul(m[3]));
  BOOST_TEST((f->kind == SymbolKind::function));
  // Inside the function, the function names it (not a later public).
  BOOST_TEST(pdb->symbol_at_or_before(rva + f->size - 1) == f);
  BOOST_TEST(pdb->function_containing(rva + 5) == f);
  // Its signature: four or five parameters, the first `unsigned long`.
  const auto& sig = pdb->type(f->type);
  BOOST_TEST((sig.kind == TypeKind::function));
  BOOST_REQUIRE(!sig.parameters.empty());
  BOOST_TEST(pdb->type(sig.parameters[0]).name == "unsigned long");
}

BOOST_AUTO_TEST_CASE(a_public_data_symbol_has_its_address) {
  auto pdb = open_pdb();
  const auto sections = section_rvas();
  const std::string publics = pdbutil("-publics");
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(publics, m, std::regex(R"(`KeTickCount`\s+flags = none, addr = (\d+):(\d+))")));
  const auto* s = pdb->find_symbol("KeTickCount");
  BOOST_REQUIRE(s);
  BOOST_TEST(s->rva == sections.at(std::stoi(m[1])) + std::stoul(m[2]));
  BOOST_TEST((s->kind == SymbolKind::data));  // the global's S_GDATA32 (with a type) stands for the public
  BOOST_TEST(pdb->type(s->type).size == 8u);
}

BOOST_AUTO_TEST_CASE(eprocess_fields_match_the_type_stream) {
  auto pdb = open_pdb();
  const std::string types = pdbutil("-types");
  // The definition (not the forward reference) and its field list.
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(types, m,
                                  std::regex(R"(0x([0-9A-F]+) \| LF_STRUCTURE \[size = \d+\] `_EPROCESS`\s+vtable: <no type>, base list: <no type>, field list: 0x([0-9A-F]+)\s+options: [^\n]*sizeof (\d+))")));
  const std::string field_list = m[2];
  const std::uint64_t size = std::stoull(m[3]);
  const std::string fields = pdbutil("-types -type-index=0x" + field_list);
  std::vector<std::pair<std::string, std::uint64_t>> expected;
  std::regex member(R"(LF_MEMBER \[name = `([^`]+)`, Type = [^,]+, offset = (\d+))");
  for (auto it = std::sregex_iterator(fields.begin(), fields.end(), member); it != std::sregex_iterator(); ++it)
    expected.emplace_back((*it)[1].str(), std::stoull((*it)[2].str()));
  BOOST_REQUIRE_GT(expected.size(), 5u);

  auto id = pdb->find_type("_EPROCESS");
  BOOST_REQUIRE(id);
  const auto& t = pdb->type(*id);
  BOOST_TEST((t.kind == TypeKind::structure));
  BOOST_TEST(!t.forward_unresolved);
  BOOST_TEST(t.size == size);
  BOOST_REQUIRE_EQUAL(t.fields.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST(t.fields[i].name == expected[i].first);
    BOOST_TEST(t.fields[i].offset == expected[i].second);
  }
  // ImageFileName is an array of chars with its count; ActiveProcessLinks a _LIST_ENTRY.
  for (const auto& f : t.fields) {
    if (f.name == "ImageFileName") {
      const auto& a = pdb->type(f.type);
      BOOST_TEST((a.kind == TypeKind::array));
      BOOST_TEST(a.count == a.size);
      BOOST_TEST(a.count > 0u);
    }
    if (f.name == "ActiveProcessLinks") {
      const auto& l = pdb->type(pdb->strip_modifiers(f.type));
      BOOST_TEST(l.name == "_LIST_ENTRY");
      BOOST_TEST(l.size == 16u);
      BOOST_REQUIRE_EQUAL(l.fields.size(), 2u);
      BOOST_TEST((pdb->type(l.fields[0].type).kind == TypeKind::pointer));
      BOOST_TEST(pdb->type(l.fields[0].type).name == "_LIST_ENTRY *");
    }
  }
}

BOOST_AUTO_TEST_CASE(an_enum_has_its_enumerators) {
  auto pdb = open_pdb();
  const std::string types = pdbutil("-types");
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(types, m, std::regex(R"(0x([0-9A-F]+) \| LF_FIELDLIST \[size = \d+\]\n((?:\s+- LF_ENUMERATE[^\n]*\n)+)\s+0x[0-9A-F]+ \| LF_ENUM \[size = \d+\] `_POOL_TYPE`)")));
  const std::string list = m[2];
  std::vector<std::pair<std::string, std::int64_t>> expected;
  std::regex e(R"(LF_ENUMERATE \[(\w+) = (-?\d+)\])");
  for (auto it = std::sregex_iterator(list.begin(), list.end(), e); it != std::sregex_iterator(); ++it)
    expected.emplace_back((*it)[1].str(), std::stoll((*it)[2].str()));
  auto id = pdb->find_type("_POOL_TYPE");
  BOOST_REQUIRE(id);
  const auto& t = pdb->type(*id);
  BOOST_TEST((t.kind == TypeKind::enumeration));
  BOOST_REQUIRE_EQUAL(t.enumerators.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST(t.enumerators[i].name == expected[i].first);
    BOOST_TEST(t.enumerators[i].value == expected[i].second);
  }
}

BOOST_AUTO_TEST_CASE(lines_map_both_ways) {
  auto pdb = open_pdb();
  const auto sections = section_rvas();
  const std::string lines = pdbutil("-l");
  // The first rtl.c block: "  0001:XXXXXXXX-YYYYYYYY, ..." then "LINE OFFSET !" pairs.
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(lines, m, std::regex(R"(ntos/rtl\.c[^\n]*\n\s+(\d+):[0-9A-F]+-[0-9A-F]+, line/addr entries = \d+\n\s+\d+ [0-9A-F]+ !\s+\d+ [0-9A-F]+ !\s+(\d+) ([0-9A-F]+) !)")));
  const std::uint32_t rva = sections.at(std::stoi(m[1])) + static_cast<std::uint32_t>(std::stoul(m[3], nullptr, 16));
  const std::uint32_t line = std::stoul(m[2]);
  auto at = pdb->line_at(rva);
  BOOST_REQUIRE(at);
  BOOST_TEST(at->line == line);
  BOOST_TEST(at->file.ends_with("rtl.c"));
  auto back = pdb->rvas_of_line("ntos/rtl.c", line);
  BOOST_TEST((std::ranges::find(back, rva) != back.end()));
}

BOOST_AUTO_TEST_CASE(a_functions_parameters_have_locations) {
  auto pdb = open_pdb();
  const auto* f = pdb->find_symbol("KeBugCheckEx");
  BOOST_REQUIRE(f);
  auto info = pdb->function_info(f->rva);
  BOOST_REQUIRE(info);
  // From llvm-pdbutil: the first S_LOCAL after KeBugCheckEx's S_GPROC32 and its register.
  const std::string symbols = pdbutil("-symbols");
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(symbols, m, std::regex(R"(`KeBugCheckEx`[\s\S]*?S_LOCAL \[size = \d+\] `(\w+)`\s+type=[^\n]*flags = param\s+\d+ \| S_DEFRANGE_REGISTER \[size = \d+\]\s+register = (\w+))")));
  BOOST_REQUIRE(!info->locals.empty());
  BOOST_TEST(info->locals[0].name == m[1].str());
  BOOST_TEST(info->locals[0].is_parameter);
  BOOST_REQUIRE(!info->locals[0].locations.empty());
  std::string reg = m[2].str();
  std::ranges::transform(reg, reg.begin(), [](unsigned char c) { return std::tolower(c); });
  BOOST_TEST(info->locals[0].locations[0].reg == reg);
  BOOST_TEST(info->frame_register == "rsp");
}

BOOST_AUTO_TEST_CASE(bad_files_are_refused_in_one_line) {
  auto missing = PdbFile::open("/nonexistent/x.pdb");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().find('\n') == std::string::npos);
  const std::string junk = fmt::format("{}/openkd-junk-{}.pdb", std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", ::getpid());
  {
    std::FILE* f = std::fopen(junk.c_str(), "wb");
    BOOST_REQUIRE(f);
    const std::string header = "Microsoft C/C++ MSF 7.00\r\n\x1a" "DS\0\0\0";
    std::fwrite(header.data(), 1, header.size(), f);
    for (int i = 0; i < 5000; ++i) std::fputc(i * 7, f);
    std::fclose(f);
  }
  auto bad = PdbFile::open(junk);
  std::remove(junk.c_str());
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().find('\n') == std::string::npos);
  BOOST_TEST(bad.error().find("not a usable PDB") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(rsds_records_parse) {
  std::vector<std::uint8_t> raw = {'R', 'S', 'D', 'S'};
  for (int i = 0; i < 16; ++i) raw.push_back(static_cast<std::uint8_t>(i + 1));
  raw.insert(raw.end(), {2, 0, 0, 0});
  for (char c : std::string("C:\\build\\simdrv.pdb")) raw.push_back(c);
  raw.push_back(0);
  auto r = parse_rsds(raw.data(), raw.size());
  BOOST_REQUIRE(r);
  BOOST_TEST(r->identity.age == 2u);
  BOOST_TEST(r->pdb_name() == "simdrv.pdb");
  BOOST_TEST(r->identity.guid_string() == "{04030201-0605-0807-090A-0B0C0D0E0F10}");
  BOOST_TEST(r->identity.store_key() == "04030201060508070" "90A0B0C0D0E0F102");
  raw[0] = 'X';
  BOOST_TEST(!parse_rsds(raw.data(), raw.size()));
}

// Damaged PDBs (truncated, bytes flipped at seeded places) are refused or read as far
// as they go; nothing crashes and every error is one line.
BOOST_AUTO_TEST_CASE(damaged_pdbs_never_crash) {
  std::vector<char> original;
  {
    std::FILE* f = std::fopen(kPdb.c_str(), "rb");
    BOOST_REQUIRE(f);
    std::array<char, 65536> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) original.insert(original.end(), buf.data(), buf.data() + n);
    std::fclose(f);
  }
  const std::string path = fmt::format("{}/openkd-damaged-{}.pdb", std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", ::getpid());
  std::uint64_t seed = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  int opened = 0, refused = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<char> bytes = original;
    if (round % 3 == 0) bytes.resize(next() % bytes.size());
    else
      for (int i = 0; i < 1 + round % 16; ++i) bytes[next() % bytes.size()] ^= static_cast<char>(1 + next() % 255);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    BOOST_REQUIRE(f);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    auto pdb = PdbFile::open(path);
    if (!pdb) {
      ++refused;
      BOOST_TEST(pdb.error().find('\n') == std::string::npos);
      continue;
    }
    ++opened;
    for (const char* name : {"_EPROCESS", "_KPRCB", "_POOL_TYPE"})
      if (auto t = (*pdb)->find_type(name))
        for (const auto& field : (*pdb)->type(*t).fields) (void)(*pdb)->type(field.type).name;
    for (const auto& s : (*pdb)->symbols()) {
      (void)(*pdb)->line_at(s.rva);
      if (s.kind == SymbolKind::function) (void)(*pdb)->function_info(s.rva);
    }
    (void)(*pdb)->type_names();
  }
  std::remove(path.c_str());
  BOOST_TEST_MESSAGE("damaged PDBs: " << opened << " opened, " << refused << " refused");
  BOOST_TEST(opened + refused == 300);
}
