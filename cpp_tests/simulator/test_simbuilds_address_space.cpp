// Process address spaces (AddressSpace::create_process_root / map_user), checked by an
// independent 4-level walk through physical memory, and the machine's processes after boot.
#include <boost/test/unit_test.hpp>

#include <vector>

#include "sim_host.hpp"
#include "simulator/sim_builds.hpp"

using namespace openkd;
using namespace openkd::sim;

namespace {
std::optional<std::uint64_t> walk(PhysicalMemory& pm, std::uint64_t cr3, std::uint64_t va, std::uint64_t* leaf = nullptr) {
  std::uint64_t table = cr3;
  for (int level = 3; level >= 0; --level) {
    std::uint64_t e = pm.read_u64(table + 8 * ((va >> (12 + 9 * level)) & 0x1FF));
    if (!(e & 1)) return std::nullopt;
    if (level == 0 && leaf) *leaf = e;
    table = e & 0x000FFFFFFFFFF000ull;
  }
  return table | (va & 0xFFF);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(simbuilds_address_space)

BOOST_AUTO_TEST_CASE(a_process_shares_the_kernel_half_and_owns_its_user_pages) {
  PhysicalMemory pm(16 << 20);
  AddressSpace system(pm);
  BOOST_REQUIRE(system.map("kernel", 0xFFFFF80000400000ull, 0x3000));
  system.write_u64(0xFFFFF80000401008ull, 0x1122334455667788ull);

  auto a = system.create_process_root();
  auto b = system.create_process_root();
  BOOST_REQUIRE(a && b);
  BOOST_TEST(*a != *b);
  BOOST_TEST(*a != system.cr3());
  // The kernel half is the system's: same physical page through every root.
  auto ka = walk(pm, *a, 0xFFFFF80000401008ull), kb = walk(pm, *b, 0xFFFFF80000401008ull);
  BOOST_REQUIRE(ka && kb);
  BOOST_TEST(*ka == *system.translate(0xFFFFF80000401008ull));
  BOOST_TEST(*kb == *ka);
  BOOST_TEST(pm.read_u64(*ka) == 0x1122334455667788ull);

  // The same user address, other pages in each process; none in the system's space.
  std::vector<std::uint8_t> one(0x1800, 0xA1), two(0x10, 0xB2);
  BOOST_REQUIRE(system.map_user(*a, 0x7FFD0000, one));
  BOOST_REQUIRE(system.map_user(*b, 0x7FFD0000, two));
  std::uint64_t leaf = 0;
  auto ua = walk(pm, *a, 0x7FFD1000, &leaf), ub = walk(pm, *b, 0x7FFD0000);
  BOOST_REQUIRE(ua && ub);
  BOOST_TEST((leaf & 4) != 0);           // user page
  BOOST_TEST((leaf & 0x100) == 0);       // not global
  BOOST_TEST(pm.read_u64(*ua) == 0xA1A1A1A1A1A1A1A1ull);
  BOOST_TEST(pm.read_u64(*ub) == 0xB2B2B2B2B2B2B2B2ull);
  BOOST_TEST(*system.translate_in(*a, 0x7FFD1000) == *ua);
  BOOST_TEST(!system.translate(0x7FFD0000));
  BOOST_TEST(!walk(pm, system.cr3(), 0x7FFD0000));
}

BOOST_AUTO_TEST_CASE(bad_user_mappings_are_refused) {
  PhysicalMemory pm(4 << 20);
  AddressSpace system(pm);
  auto root = system.create_process_root();
  BOOST_REQUIRE(root);
  std::vector<std::uint8_t> page(0x1000, 1);
  BOOST_TEST(!system.map_user(system.cr3(), 0x10000, page));            // not a process root
  BOOST_TEST(!system.map_user(*root, 0xFFFFF80000000000ull, page));     // not user space
  BOOST_TEST(!system.map_user(*root, 0x7FFFFFFFF000ull + 0x1000, page)); // past the user half
  BOOST_TEST(!system.map_user(*root, 0x10001, page));                   // unaligned
  BOOST_TEST(system.map_user(*root, 0x10000, page).has_value());
  BOOST_TEST(!system.map_user(*root, 0x10000, page));                   // already mapped
}

BOOST_AUTO_TEST_CASE(unmodelled_builds_are_refused_with_the_list) {
  BOOST_TEST(modelled_builds().size() >= 9u);
  for (std::uint32_t b : {7601u, 9200u, 9600u, 14393u, 17134u, 18362u, 19041u, 22621u, 26100u})
    BOOST_TEST(check_build(b).has_value());
  auto bad = check_build(12345);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error() == "build 12345 is not modelled (kdsim models " + modelled_builds_text() + ")");
  BOOST_TEST(modelled_builds_text().starts_with("7601, 9200, 9600"));
  BOOST_TEST(std::string(find_modelled_build(7601)->product) == "Windows 7");
}

BOOST_AUTO_TEST_CASE(booted_machine_has_a_process_root_per_user_process) {
  auto sim = test::make_simulator(test::options(1, false));
  auto start = link::TimePoint{};
  for (int k = 0; k < 100 && sim->machine().console().find("boot complete") == std::string::npos; ++k)
    sim->run_for(1'000'000, start);
  BOOST_REQUIRE(sim->machine().console().find("boot complete") != std::string::npos);
  const auto& roots = sim->machine().space().process_roots();
  BOOST_TEST(roots.size() == 3u);  // smss.exe, csrss.exe, explorer.exe
  for (std::uint64_t root : roots) {
    auto peb = walk(sim->machine().physical(), root, 0x7FFD0000);
    BOOST_REQUIRE(peb);
    // PEB.Ldr (0x18) points at the PEB_LDR_DATA one page further, in the same block.
    BOOST_TEST(sim->machine().physical().read_u64(*peb + 0x18) == 0x7FFD1000ull);
  }
}

BOOST_AUTO_TEST_SUITE_END()
