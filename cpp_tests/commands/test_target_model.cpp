// The target model read through TargetMemory: PE headers and exports, the loaded
// module list (named as KD names it) and export symbols both ways.
#include <boost/test/unit_test.hpp>

#include "core/debugger/modules.hpp"
#include "core/debugger/pe.hpp"
#include "core/debugger/symbols.hpp"
#include "fake_target.hpp"

#include <map>

using namespace openkd;
using namespace openkd::debugger;
using testing::FakeTarget;

BOOST_AUTO_TEST_CASE(pe_headers_and_exports_come_from_target_memory) {
  FakeTarget target;
  auto h = read_pe_headers(target, testing::kKernBase);
  BOOST_REQUIRE(h.has_value());
  BOOST_TEST(h->pe32_plus);
  BOOST_TEST(h->machine == 0x8664);
  BOOST_TEST(h->size_of_image == testing::kKernSize);
  BOOST_TEST(h->entry_point_rva == 0x1000u);
  BOOST_TEST(h->preferred_base == testing::kKernBase);
  auto e = read_pe_exports(target, testing::kKernBase, *h);
  BOOST_REQUIRE(e.has_value());
  BOOST_TEST(e->image_name == "simkrnl.exe");
  BOOST_TEST(e->exports.size() == 11u);
}

BOOST_AUTO_TEST_CASE(pe_garbage_is_an_error_not_a_crash) {
  FakeTarget target;
  // No image at all, then a header whose fields point everywhere.
  BOOST_TEST(!read_pe_headers(target, 0x1000).has_value());
  target.map(0xFFFFF80020000000ull, 0x1000);
  std::vector<std::uint8_t> junk(0x1000);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<std::uint8_t>(i * 37 + 11);
  junk[0] = 'M';
  junk[1] = 'Z';
  target.poke(0xFFFFF80020000000ull, junk);
  BOOST_TEST(!read_pe_headers(target, 0xFFFFF80020000000ull).has_value());
  // A plausible header with an export directory of absurd counts.
  target.write_image(0xFFFFF80030000000ull, 0x4000, "bad.sys", {{"A", 0x1000}}, 0x1000);
  std::vector<std::uint8_t> counts{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  target.poke(0xFFFFF80030000000ull + 0x2000 + 20, counts);
  auto h = read_pe_headers(target, 0xFFFFF80030000000ull);
  BOOST_REQUIRE(h.has_value());
  BOOST_TEST(!read_pe_exports(target, 0xFFFFF80030000000ull, *h).has_value());
}

BOOST_AUTO_TEST_CASE(modules_are_named_as_kd_names_them) {
  FakeTarget target;
  ModuleList modules(target, kernel_location(target.ver));
  const auto& list = modules.modules();
  BOOST_REQUIRE(list.size() == 2u);
  BOOST_TEST(list[0].name == "nt");
  BOOST_TEST(list[0].image_name == "simkrnl.exe");
  BOOST_TEST(list[0].full_path == "\\SystemRoot\\system32\\simkrnl.exe");
  BOOST_TEST(list[0].base == testing::kKernBase);
  BOOST_TEST(list[0].size == testing::kKernSize);
  BOOST_TEST(list[1].name == "simdrv");
  BOOST_TEST(modules.find("SIMDRV") == &list[1]);
  BOOST_TEST(modules.find("simdrv.sys") == &list[1]);
  BOOST_TEST(modules.containing(testing::kKeBugCheckEx) == &list[0]);
  BOOST_TEST(modules.containing(0x1234) == nullptr);
  BOOST_TEST(module_name_from_image("\\SystemRoot\\system32\\drivers\\Wdf01000.sys") == "Wdf01000");
}

BOOST_AUTO_TEST_CASE(a_looping_module_list_is_walked_once) {
  FakeTarget target;
  // The driver's entry points back at the kernel's entry instead of the head.
  target.poke_u64(testing::kPool + 0x100, testing::kPool);
  auto walk = walk_loaded_modules(target, testing::kPsLoadedModuleList, testing::kKernBase);
  BOOST_TEST(walk.modules.size() == 2u);
  BOOST_TEST(!walk.error.empty());
  // A null Flink and an unreadable one end the walk too.
  target.poke_u64(testing::kPool + 0x100, 0);
  BOOST_TEST(walk_loaded_modules(target, testing::kPsLoadedModuleList, testing::kKernBase).modules.size() == 2u);
  target.poke_u64(testing::kPool + 0x100, 0xFFFF800000000000ull);
  BOOST_TEST(!walk_loaded_modules(target, testing::kPsLoadedModuleList, testing::kKernBase).error.empty());
}

BOOST_AUTO_TEST_CASE(without_a_module_list_the_kernel_is_still_nt) {
  FakeTarget target;
  target.ver.ps_loaded_module_list = 0;
  ModuleList modules(target, kernel_location(target.ver));
  BOOST_REQUIRE(modules.modules().size() == 1u);
  BOOST_TEST(modules.modules()[0].name == "nt");
  BOOST_TEST(modules.modules()[0].image_name == "simkrnl.exe");
}

BOOST_AUTO_TEST_CASE(symbols_resolve_both_ways) {
  FakeTarget target;
  ModuleList modules(target, kernel_location(target.ver));
  SymbolTable symbols(target, modules);
  BOOST_TEST(*symbols.address_of("nt!KeBugCheckEx") == testing::kKeBugCheckEx);
  BOOST_TEST(*symbols.address_of("KeBugCheckEx") == testing::kKeBugCheckEx);
  BOOST_TEST(*symbols.address_of("TriggerBug") == testing::kDriverBase + 0x3000);
  BOOST_TEST(!symbols.address_of("nt!TriggerBug").has_value());
  BOOST_TEST(symbols.describe(testing::kKeBugCheckEx) == "nt!KeBugCheckEx");
  BOOST_TEST(symbols.describe(testing::kKeBugCheckEx + 0x12) == "nt!KeBugCheckEx+0x12");
  BOOST_TEST(symbols.describe(testing::kKernBase + 0x10) == "nt+0x10");
  BOOST_TEST(symbols.describe(testing::kDriverBase + 0x1002) == "simdrv!DriverEntry+0x2");
  BOOST_TEST(symbols.describe(0x1000).empty());
}

BOOST_AUTO_TEST_CASE(refresh_sees_a_module_unloaded) {
  FakeTarget target;
  ModuleList modules(target, kernel_location(target.ver));
  SymbolTable symbols(target, modules);
  BOOST_TEST(symbols.describe(testing::kDriverBase + 0x1000) == "simdrv!DriverEntry");
  // Unlink the driver: the kernel's entry now ends the list.
  target.poke_u64(testing::kPool, testing::kPsLoadedModuleList);
  BOOST_TEST(symbols.describe(testing::kDriverBase + 0x1000) == "simdrv!DriverEntry");  // cached
  symbols.refresh();
  BOOST_TEST(symbols.describe(testing::kDriverBase + 0x1000).empty());
  BOOST_TEST(modules.modules().size() == 1u);
}

namespace {

/// Memory and nothing else: no registers, no execution, no version. Filled from
/// a snapshot of the fake kernel's pages, then used on its own.
class MemoryOnly final : public TargetMemory {
public:
  void copy_from(TargetMemory& source, std::uint64_t base, std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    BOOST_REQUIRE(read_exact(source, base, bytes).has_value());
    for (std::size_t i = 0; i < size; ++i) bytes_[base + i] = bytes[i];
  }
  std::size_t reads = 0;

  Result<std::size_t> read_virtual(std::uint64_t address, std::span<std::uint8_t> out) override {
    ++reads;
    std::size_t n = 0;
    for (; n < out.size(); ++n) {
      auto it = bytes_.find(address + n);
      if (it == bytes_.end()) break;
      out[n] = it->second;
    }
    if (n == 0) return std::unexpected(Error{"unreadable", wire::kStatusUnsuccessful, ErrorKind::Status});
    return n;
  }
  Result<std::size_t> write_virtual(std::uint64_t, wire::ByteView) override { return unsupported(); }
  Result<std::size_t> read_physical(std::uint64_t, std::span<std::uint8_t>) override { return unsupported(); }
  Result<std::size_t> write_physical(std::uint64_t, wire::ByteView) override { return unsupported(); }
  Result<std::uint32_t> fill_memory(std::uint64_t, std::uint32_t, wire::ByteView, bool) override {
    return std::unexpected(Error{"read only", 0, ErrorKind::Unsupported});
  }

private:
  static Result<std::size_t> unsupported() { return std::unexpected(Error{"read only", 0, ErrorKind::Unsupported}); }
  std::map<std::uint64_t, std::uint8_t> bytes_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(memory_alone_is_enough_for_modules_and_symbols) {
  MemoryOnly memory;
  {
    FakeTarget kernel;  // only the source of the bytes; gone before the model runs
    memory.copy_from(kernel, testing::kKernBase, testing::kKernSize);
    memory.copy_from(kernel, testing::kDriverBase, testing::kDriverSize);
    memory.copy_from(kernel, testing::kPool, 0x2000);  // the LDR entries and their strings
  }
  ModuleList modules(memory, KernelLocation{testing::kKernBase, testing::kPsLoadedModuleList});
  SymbolTable symbols(memory, modules);
  BOOST_REQUIRE(modules.modules().size() == 2u);
  BOOST_TEST(modules.modules()[0].name == "nt");
  BOOST_TEST(modules.modules()[1].name == "simdrv");
  BOOST_TEST(*symbols.address_of("nt!KeBugCheckEx") == testing::kKeBugCheckEx);
  BOOST_TEST(symbols.describe(testing::kDriverBase + 0x3004) == "simdrv!TriggerBug+0x4");
  BOOST_TEST(memory.reads > 0u);
  // Without a module list only KernBase is known: the kernel alone, from its headers.
  ModuleList kernel_only(memory, KernelLocation{testing::kKernBase, 0});
  BOOST_REQUIRE(kernel_only.modules().size() == 1u);
  BOOST_TEST(kernel_only.modules()[0].image_name == "simkrnl.exe");
  // A memory-only target cannot search: the default says so, for `s` to scan itself.
  auto found = memory.search_memory(testing::kKernBase, 0x100, wire::Bytes{'M', 'Z'});
  BOOST_REQUIRE(!found.has_value());
  BOOST_TEST(found.error().ntstatus == wire::kStatusNotImplemented);
}
