// dt over a TypeProvider (core/debugger/types.hpp), and the disassembly forms ub/uf
// rely on: a table of types given here, values poked into the fake target's
// pool, the transcript compared line by line with KD's shape.
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <map>
#include <tuple>

#include "core/commands/disasm.hpp"
#include "core/commands/engine.hpp"
#include "core/debugger/types.hpp"
#include "fake_target.hpp"

using namespace openkd;
namespace types = debugger::types;

namespace {

std::shared_ptr<const types::TypeRef> ref(types::TypeRef t) { return std::make_shared<const types::TypeRef>(std::move(t)); }
types::TypeRef integer(std::uint64_t size, bool is_signed = false) { return {types::Kind::Integer, "", size, is_signed}; }
types::TypeRef named(types::Kind kind, std::string name, std::uint64_t size) { return {kind, std::move(name), size}; }
types::TypeRef pointer_to(types::TypeRef t) { return {types::Kind::Pointer, "", 8, false, ref(std::move(t))}; }
types::TypeRef array_of(types::TypeRef t, std::uint64_t n) {
  const std::uint64_t size = t.size * n;
  return {types::Kind::Array, "", size, false, ref(std::move(t)), n};
}

class TableProvider final : public types::TypeProvider {
public:
  std::map<std::string, types::TypeInfo> table;
  std::optional<types::TypeInfo> find(std::string_view module, std::string_view name) override {
    if (module != "nt") return std::nullopt;
    auto it = table.find(std::string(name));
    return it == table.end() ? std::nullopt : std::optional(it->second);
  }
};

std::shared_ptr<TableProvider> sample_types() {
  auto p = std::make_shared<TableProvider>();
  const auto list = named(types::Kind::Struct, "_LIST_ENTRY", 16);
  p->table["_LIST_ENTRY"] = {"_LIST_ENTRY", types::Kind::Struct, 16,
                             {{"Flink", 0, pointer_to(list)}, {"Blink", 8, pointer_to(list)}}};
  p->table["_STATE"] = {"_STATE", types::Kind::Enum, 4, {}, {{"Idle", 0}, {"Running", 2}}};
  p->table["_U"] = {"_U", types::Kind::Union, 4,
                    {{"Value", 0, integer(4)}, {"Bytes", 0, array_of({types::Kind::Char, "", 1}, 4)}}};
  const types::TypeRef flags = integer(4);
  p->table["_SAMPLE"] = {
      "_SAMPLE", types::Kind::Struct, 0x38,
      {{"Links", 0, list},
       {"Id", 0x10, pointer_to({types::Kind::Void})},
       {"Count", 0x18, integer(4, true)},
       {"Enabled", 0x1c, flags, std::pair{0u, 1u}},
       {"Mode", 0x1c, flags, std::pair{1u, 3u}},
       {"Name", 0x20, array_of({types::Kind::Char, "", 1, true}, 8)},
       {"U", 0x28, named(types::Kind::Union, "_U", 4)},
       {"State", 0x30, named(types::Kind::Enum, "_STATE", 4)},
       {"Size", 0x34, integer(4)}}};
  return p;
}

constexpr std::uint64_t kA = testing::kPool + 0x1000, kB = kA + 0x100;

struct Session {
  testing::FakeTarget target;
  commands::StringOutput out;
  commands::Engine engine{target, out, {}};
  Session() {
    engine.set_type_provider(sample_types());
    // Two _SAMPLEs linked in a ring through Links.
    for (auto [at, next, id, count, name] : {std::tuple{kA, kB, 4ull, -5, "System"}, std::tuple{kB, kA, 0x1234ull, 7, "simdrv"}}) {
      target.poke_u64(at, next);
      target.poke_u64(at + 8, next);
      target.poke_u64(at + 0x10, id);
      target.poke(at + 0x18, wire::Bytes{std::uint8_t(count), std::uint8_t(count >> 8), std::uint8_t(count >> 16), std::uint8_t(count >> 24)});
      target.poke(at + 0x1c, wire::Bytes{0x0B, 0, 0, 0});  // Enabled 1, Mode 101b
      wire::Bytes text(8, 0);
      std::copy_n(name, std::strlen(name), text.begin());
      target.poke(at + 0x20, text);
      target.poke(at + 0x28, wire::Bytes{0x41, 0x42, 0x43, 0x44});
      target.poke(at + 0x30, wire::Bytes{2, 0, 0, 0});
      target.poke(at + 0x34, wire::Bytes{0x38, 0, 0, 0});
    }
  }
  std::string run(const std::string& line) {
    out.take();
    engine.execute(line);
    return out.take();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(dt_shows_a_layout_as_kd_does) {
  Session s;
  BOOST_TEST(s.run("dt nt!_SAMPLE") ==
             "   +0x000 Links            : _LIST_ENTRY\n"
             "   +0x010 Id               : Ptr64 Void\n"
             "   +0x018 Count            : Int4B\n"
             "   +0x01c Enabled          : Pos 0, 1 Bit\n"
             "   +0x01c Mode             : Pos 1, 3 Bits\n"
             "   +0x020 Name             : [8] Char\n"
             "   +0x028 U                : _U\n"
             "   +0x030 State            : _STATE\n"
             "   +0x034 Size             : Uint4B\n");
  BOOST_TEST(s.run("dt -v _LIST_ENTRY") ==
             "struct _LIST_ENTRY, 2 elements, 0x10 bytes\n"
             "   +0x000 Flink            : Ptr64 _LIST_ENTRY\n"
             "   +0x008 Blink            : Ptr64 _LIST_ENTRY\n");
  BOOST_TEST(s.run("dt nt!_STATE") == "   Idle = 0n0\n   Running = 0n2\n");
}

BOOST_AUTO_TEST_CASE(dt_shows_values_at_an_address) {
  Session s;
  BOOST_TEST(s.run("dt nt!_SAMPLE fffff80010001000") ==
             "   +0x000 Links            : _LIST_ENTRY [ 0xfffff800`10001100 - 0xfffff800`10001100 ]\n"
             "   +0x010 Id               : 0x00000000`00000004 Void\n"
             "   +0x018 Count            : 0n-5\n"
             "   +0x01c Enabled          : 0y1\n"
             "   +0x01c Mode             : 0y101\n"
             "   +0x020 Name             : [8]  \"System\"\n"
             "   +0x028 U                : _U\n"
             "   +0x030 State            : 0n2 ( Running )\n"
             "   +0x034 Size             : 0x38\n");
  // -r: the embedded union, offsets relative to it.
  const std::string r = s.run("dt -r nt!_SAMPLE fffff80010001000");
  BOOST_TEST(r.find("   +0x028 U                : _U\n"
                    "      +0x000 Value            : 0x44434241\n"
                    "      +0x000 Bytes            : [4]  \"ABCD\"\n") != std::string::npos, r);
  BOOST_TEST(r.find("      +0x000 Flink            : 0xfffff800`10001100 _LIST_ENTRY\n") != std::string::npos, r);
  // -b: arrays element by element.
  const std::string b = s.run("dt -b nt!_U fffff80010001028");
  BOOST_TEST(b.find("      [00] 0x41 'A'\n      [01] 0x42 'B'\n") != std::string::npos, b);
}

BOOST_AUTO_TEST_CASE(dt_follows_a_list_and_refuses_what_it_cannot_do) {
  Session s;
  const std::string l = s.run("dt -l Links nt!_SAMPLE fffff80010001000");
  BOOST_TEST(l.find("Links at 0xfffff800`10001000\n") != std::string::npos, l);
  BOOST_TEST(l.find("Links at 0xfffff800`10001100\n") != std::string::npos, l);
  BOOST_TEST(l.find("\"simdrv\"") != std::string::npos, l);
  // The ring is followed once, not forever.
  std::size_t count = 0;
  for (std::size_t at = 0; (at = l.find("Links at", at)) != std::string::npos; ++at) ++count;
  BOOST_TEST(count == 2u);
  BOOST_TEST(s.run("dt nt!_NOPE") == "Symbol nt!_NOPE not found.\n");
  BOOST_TEST(s.run("dt -l Count nt!_SAMPLE fffff80010001000") == "dt -l: Count is neither a _LIST_ENTRY nor a pointer\n");
  BOOST_TEST(s.run("dt -q nt!_SAMPLE").find("Unknown dt option") != std::string::npos);
  s.engine.set_type_provider(nullptr);
  BOOST_TEST(s.run("dt nt!_SAMPLE").starts_with("dt: no type information for nt"));
}

BOOST_AUTO_TEST_CASE(nops_and_segment_prefixes_read_as_kd_writes_them) {
  const std::uint64_t at = 0xFFFFF80000401000ull;
  struct Row {
    std::vector<std::uint8_t> bytes;
    std::string_view line;
  };
  const Row rows[] = {
      {{0x66, 0x0F, 0x1F, 0x84, 0, 0, 0, 0, 0}, "fffff800`00401000 660f1f840000000000 nop     word ptr [rax+rax]"},
      {{0x66, 0x2E, 0x0F, 0x1F, 0x84, 0, 0, 0, 0, 0}, "fffff800`00401000 662e0f1f840000000000 nop     word ptr cs:[rax+rax]"},
      {{0x0F, 0x1F, 0x00}, "fffff800`00401000 0f1f00          nop     dword ptr [rax]"},
      {{0x66, 0x90}, "fffff800`00401000 6690            xchg    ax,ax"},
      {{0x90}, "fffff800`00401000 90              nop"},
  };
  for (const auto& row : rows) {
    auto in = commands::decode_instruction(at, row.bytes, {});
    BOOST_REQUIRE(in);
    BOOST_TEST(commands::format_instruction(*in) == row.line);
  }
}

namespace {

std::shared_ptr<TableProvider> process_types() {
  auto p = std::make_shared<TableProvider>();
  const auto list = named(types::Kind::Struct, "_LIST_ENTRY", 16);
  p->table["_LIST_ENTRY"] = {"_LIST_ENTRY", types::Kind::Struct, 16,
                             {{"Flink", 0, pointer_to(list)}, {"Blink", 8, pointer_to(list)}}};
  p->table["_KPROCESS"] = {"_KPROCESS", types::Kind::Struct, 0x438, {{"DirectoryTableBase", 0x28, integer(8)}}};
  p->table["_EPROCESS"] = {"_EPROCESS", types::Kind::Struct, 0x5c0,
                           {{"Pcb", 0, named(types::Kind::Struct, "_KPROCESS", 0x438)},
                            {"UniqueProcessId", 0x440, pointer_to({types::Kind::Void})},
                            {"ActiveProcessLinks", 0x448, list},
                            {"InheritedFromUniqueProcessId", 0x540, pointer_to({types::Kind::Void})},
                            {"Peb", 0x550, pointer_to({types::Kind::Void})},
                            {"ImageFileName", 0x5a8, array_of({types::Kind::Char, "", 1}, 15)}}};
  p->table["_KTHREAD"] = {"_KTHREAD", types::Kind::Struct, 0x430,
                          {{"Teb", 0xf0, pointer_to({types::Kind::Void})},
                           {"State", 0x184, {types::Kind::Char, "", 1}},
                           {"Process", 0x220, pointer_to(named(types::Kind::Struct, "_KPROCESS", 0x438))}}};
  p->table["_CLIENT_ID"] = {"_CLIENT_ID", types::Kind::Struct, 16,
                            {{"UniqueProcess", 0, pointer_to({types::Kind::Void})},
                             {"UniqueThread", 8, pointer_to({types::Kind::Void})}}};
  p->table["_ETHREAD"] = {"_ETHREAD", types::Kind::Struct, 0x500,
                          {{"Tcb", 0, named(types::Kind::Struct, "_KTHREAD", 0x430)},
                           {"Cid", 0x478, named(types::Kind::Struct, "_CLIENT_ID", 16)}}};
  return p;
}

constexpr std::uint64_t kRegion = testing::kPool + 0x10000;
constexpr std::uint64_t kSystem = kRegion, kSmss = kRegion + 0x1000, kThread = kRegion + 0x2000, kHead = kRegion + 0x3000;

}  // namespace

BOOST_AUTO_TEST_CASE(process_and_thread_follow_the_types) {
  testing::FakeTarget target;
  target.map(kRegion, 0x4000);
  // PsActiveProcessHead -> System -> smss.exe -> head, linked through ActiveProcessLinks.
  target.poke_u64(testing::kKdDebuggerDataBlock + 0x50, kHead);
  target.poke_u64(kHead, kSystem + 0x448);
  target.poke_u64(kSystem + 0x448, kSmss + 0x448);
  target.poke_u64(kSmss + 0x448, kHead);
  for (auto [e, pid, parent, dirbase, name] : {std::tuple{kSystem, 4ull, 0ull, 0x1aa000ull, "System"},
                                               std::tuple{kSmss, 0x1a4ull, 4ull, 0x2bb000ull, "smss.exe"}}) {
    target.poke_u64(e + 0x28, dirbase);
    target.poke_u64(e + 0x440, pid);
    target.poke_u64(e + 0x540, parent);
    wire::Bytes text(15, 0);
    std::copy_n(name, std::strlen(name), text.begin());
    target.poke(e + 0x5a8, text);
  }
  target.poke_u64(kThread + 0xf0, 0x7ff000);
  target.poke(kThread + 0x184, wire::Bytes{5});  // WAIT
  target.poke_u64(kThread + 0x220, kSmss);
  target.poke_u64(kThread + 0x478, 0x1a4);
  target.poke_u64(kThread + 0x480, 0x1a8);

  commands::StringOutput out;
  commands::Engine engine(target, out, {});
  engine.execute("!process 0 0");
  // The engine's own provider reads nt's PDB, and the fake target's nt has none.
  BOOST_TEST(out.take() ==
             "!process: no type information for nt!_EPROCESS (nt's PDB was not found: see .sympath and .reload /f nt)\n");
  engine.set_type_provider(process_types());
  engine.execute("!process 0 0");
  BOOST_TEST(out.take() ==
             "**** NT ACTIVE PROCESS DUMP ****\n"
             "PROCESS fffff80010010000\n"
             "    SessionId: none  Cid: 0004    Peb: 00000000  ParentCid: 0000\n"
             "    DirBase: 001aa000  ObjectTable: ????  HandleCount: <Data Not Accessible>\n"
             "    Image: System\n\n"
             "PROCESS fffff80010011000\n"
             "    SessionId: none  Cid: 01a4    Peb: 00000000  ParentCid: 0004\n"
             "    DirBase: 002bb000  ObjectTable: ????  HandleCount: <Data Not Accessible>\n"
             "    Image: smss.exe\n\n");
  engine.execute("!process 0 0 SMSS.EXE");
  const std::string one = out.take();
  BOOST_TEST(one.find("Image: smss.exe") != std::string::npos, one);
  BOOST_TEST(one.find("Image: System") == std::string::npos, one);
  engine.execute("!thread fffff80010012000");
  BOOST_TEST(out.take() ==
             "THREAD fffff80010012000  Cid 01a4.01a8  Teb: 00000000007ff000 WAIT\n"
             "Owning Process            fffff80010011000       Image:         smss.exe\n");
  // A ring that never returns to its head is said, not followed forever.
  target.poke_u64(kSmss + 0x448, kSystem + 0x448);
  engine.execute("!process 0 0");
  const std::string ring = out.take();
  BOOST_TEST(ring.starts_with("!process: the process list loops back to fffff800`10010448 without returning to its head\n"), ring);
  BOOST_TEST(ring.find("Image: smss.exe") != std::string::npos, ring);
}

BOOST_AUTO_TEST_CASE(pcr_and_prcb_read_the_current_processors_blocks) {
  testing::FakeTarget target;  // control space: KPCR fffff800`00490000, KPRCB at +0x180
  const std::uint64_t pcr = 0xFFFFF80000490000ull;
  target.map(pcr, 0x1000);
  target.poke_u64(pcr + 0x18, pcr);                // NtTib.Self
  target.poke(pcr + 0x40, wire::Bytes{1, 0, 1, 0});  // MajorVersion, MinorVersion
  target.poke_u64(pcr + 0x180 + 8, 0xFFFFF80010012000ull);   // Prcb.CurrentThread
  target.poke_u64(pcr + 0x180 + 0x18, 0xFFFFF80010013000ull);  // Prcb.IdleThread
  auto p = std::make_shared<TableProvider>();
  const auto ptr = pointer_to({types::Kind::Void});
  p->table["_NT_TIB"] = {"_NT_TIB", types::Kind::Struct, 0x38,
                         {{"ExceptionList", 0, ptr}, {"StackBase", 8, ptr}, {"StackLimit", 0x10, ptr}, {"Self", 0x18, ptr}}};
  p->table["_KPRCB"] = {"_KPRCB", types::Kind::Struct, 0x100,
                        {{"CurrentThread", 8, ptr}, {"NextThread", 0x10, ptr}, {"IdleThread", 0x18, ptr}}};
  p->table["_KPCR"] = {"_KPCR", types::Kind::Struct, 0x280,
                       {{"NtTib", 0, named(types::Kind::Struct, "_NT_TIB", 0x38)},
                        {"Self", 0x18, ptr},
                        {"MajorVersion", 0x40, integer(2)},
                        {"MinorVersion", 0x42, integer(2)},
                        {"Prcb", 0x180, named(types::Kind::Struct, "_KPRCB", 0x100)}}};
  commands::StringOutput out;
  commands::Engine engine(target, out, {});
  engine.set_type_provider(p);
  engine.execute("!pcr");
  const std::string text = out.take();
  BOOST_TEST(text.starts_with("KPCR for Processor 0 at fffff80000490000:\n    Major 1 Minor 1\n"), text);
  BOOST_TEST(text.find("\t       NtTib.SelfTib: fffff80000490000\n") != std::string::npos, text);
  BOOST_TEST(text.find("\t                Prcb: fffff80000490180\n") != std::string::npos, text);
  BOOST_TEST(text.find("\t       CurrentThread: fffff80010012000\n") != std::string::npos, text);
  engine.execute("!prcb");
  BOOST_TEST(out.take() ==
             "PRCB for Processor 0 at fffff80000490180:\n"
             "Threads--  Current fffff80010012000 Next 0000000000000000 Idle fffff80010013000\n"
             "Processor Index 0 Number (0, 0)\n");
  engine.execute("!pcr 1");
  BOOST_TEST(out.take() == "!pcr: processor 1 is not the current one (switch with ~1 first)\n");
}
