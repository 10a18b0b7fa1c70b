// Decoding of byte strings written by hand from docs/protocol.md's offsets (sections 2-4) (never
// produced by the encoder), so an offset mistake shared by encoder and decoder shows.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "core/wire/dbgkd.hpp"
#include "wire_test_util.hpp"

namespace wire = openkd::wire;
using namespace wiretest;

namespace {

// The 56-byte manipulate header with junk where WinDbg leaves junk: the padding
// at @12 must be ignored, ReturnStatus and the processor fields kept as received.
Raw manipulate_header(std::uint32_t api) {
  Raw r(56);
  r.u32(0, api).u16(4, 6).u16(6, 2).u32(8, 0x103).u32(12, 0xdeadbeef);
  return r;
}

struct ManipulateRow {
  std::string name;
  Bytes body;
  wire::ManipulateArgs args;
  Bytes data;
};
std::ostream& operator<<(std::ostream& os, const ManipulateRow& r) { return os << r.name; }

wire::RawUnion raw_union(std::initializer_list<std::pair<std::size_t, std::uint8_t>> bytes) {
  wire::RawUnion u;
  for (auto [at, b] : bytes) u.bytes[at] = b;
  return u;
}

// Offsets below are packet offsets: the union starts at 16.
const std::vector<ManipulateRow> kManipulateRows = {
    {"ReadVirtualMemory request",
     manipulate_header(0x3130).u64(16, 0xfffff80000400000).u32(24, 0x10).u32(28, 0).bytes(),
     wire::MemoryTransfer{0xfffff80000400000, 0x10, 0}, {}},
    {"ReadVirtualMemory reply with data",
     manipulate_header(0x3130).u64(16, 0xfffff80000400000).u32(24, 0x10).u32(28, 4).append(unhex("4d5a9000")).bytes(),
     wire::MemoryTransfer{0xfffff80000400000, 0x10, 4}, unhex("4d5a9000")},
    {"WriteVirtualMemory request with data",
     manipulate_header(0x3131).u64(16, 0xfffff80000401000).u32(24, 3).append(unhex("cccccc")).bytes(),
     wire::MemoryTransfer{0xfffff80000401000, 3, 0}, unhex("cccccc")},
    {"ReadPhysicalMemory uncached (caching flag in the third field)",
     manipulate_header(0x313D).u64(16, 0x1000).u32(24, 0x100).u32(28, 2).bytes(), wire::MemoryTransfer{0x1000, 0x100, 2}, {}},
    {"WritePhysicalMemory", manipulate_header(0x313E).u64(16, 0x2000).u32(24, 1).append(unhex("90")).bytes(),
     wire::MemoryTransfer{0x2000, 1, 0}, unhex("90")},
    {"ReadControlSpace KSPECIAL_REGISTERS reply",
     manipulate_header(0x3137).u64(16, 2).u32(24, 224).u32(28, 224).append(Bytes(224, 0xab)).bytes(),
     wire::MemoryTransfer{2, 224, 224}, Bytes(224, 0xab)},
    {"WriteControlSpace", manipulate_header(0x3138).u64(16, 2).u32(24, 2).append(unhex("0102")).bytes(),
     wire::MemoryTransfer{2, 2, 0}, unhex("0102")},
    {"GetContext keeps its (unused) union raw", manipulate_header(0x3132).u32(16, 0x11).u8(55, 0x22).bytes(),
     raw_union({{0, 0x11}, {39, 0x22}}), {}},
    {"SetContext", manipulate_header(0x3133).u32(16, 0x10001f).append(Bytes(8, 0x33)).bytes(),
     wire::SetContextArgs{0x10001f}, Bytes(8, 0x33)},
    {"GetContextEx reply", manipulate_header(0x315F).u32(16, 0x78).u32(20, 8).u32(24, 8).append(Bytes(8, 0x44)).bytes(),
     wire::ContextExArgs{0x78, 8, 8}, Bytes(8, 0x44)},
    {"SetContextEx request", manipulate_header(0x3160).u32(16, 0x80).u32(20, 2).u32(24, 0).append(unhex("5566")).bytes(),
     wire::ContextExArgs{0x80, 2, 0}, unhex("5566")},
    {"WriteBreakPoint", manipulate_header(0x3134).u64(16, 0xfffff80000402345).u32(24, 7).bytes(),
     wire::WriteBreakPointArgs{0xfffff80000402345, 7}, {}},
    {"RestoreBreakPoint", manipulate_header(0x3135).u32(16, 9).bytes(), wire::RestoreBreakPointArgs{9}, {}},
    {"Continue", manipulate_header(0x3136).u32(16, 0x80010001).bytes(), wire::ContinueArgs{0x80010001}, {}},
    {"Continue2 single step",
     manipulate_header(0x313C).u32(16, 0x10002).u32(20, 1).u64(24, 0x401).u64(32, 0xfffff80000400100)
         .u64(40, 0xfffff80000400200).bytes(),
     wire::Continue2Args{0x10002, 1, 0x401, 0xfffff80000400100, 0xfffff80000400200}, {}},
    {"ReadIoSpace", manipulate_header(0x3139).u64(16, 0x3f8).u32(24, 1).u32(28, 0x41).bytes(),
     wire::IoArgs{0x3f8, 1, 0x41}, {}},
    {"WriteIoSpace", manipulate_header(0x313A).u64(16, 0x80).u32(24, 2).u32(28, 0xbeef).bytes(),
     wire::IoArgs{0x80, 2, 0xbeef}, {}},
    {"ReadIoSpaceExtended",
     manipulate_header(0x3144).u32(16, 4).u32(20, 1).u32(24, 2).u32(28, 1).u64(32, 0xcf8).u32(40, 0x80000000).bytes(),
     wire::IoExtendedArgs{4, 1, 2, 1, 0xcf8, 0x80000000}, {}},
    {"ReadMachineSpecificRegister",
     manipulate_header(0x3152).u32(16, 0xc0000082).u32(20, 0x00401000).u32(24, 0xfffff800).bytes(),
     wire::MsrArgs{0xc0000082, 0x00401000, 0xfffff800}, {}},
    {"WriteMachineSpecificRegister", manipulate_header(0x3153).u32(16, 0x1d9).u32(20, 1).u32(24, 0).bytes(),
     wire::MsrArgs{0x1d9, 1, 0}, {}},
    {"QueryMemory", manipulate_header(0x315C).u64(16, 0xfffff80000400000).u64(24, 0x55).u32(32, 2).u32(36, 7).bytes(),
     wire::QueryMemoryArgs{0xfffff80000400000, 0x55, 2, 7}, {}},
    {"SearchMemory with pattern",
     manipulate_header(0x3156).u64(16, 0xfffff80000400000).u64(24, 0x10000).u32(32, 2).append(unhex("4d5a")).bytes(),
     wire::SearchMemoryArgs{0xfffff80000400000, 0x10000, 2}, unhex("4d5a")},
    {"FillMemory with pattern",
     manipulate_header(0x315B).u64(16, 0xfffff80010000000).u32(24, 0x1000).u16(28, 2).u16(30, 3)
         .append(unhex("010203")).bytes(),
     wire::FillMemoryArgs{0xfffff80010000000, 0x1000, 2, 3}, unhex("010203")},
    {"WriteBreakPointEx", manipulate_header(0x3147).u32(16, 2).u32(20, 0x10002).bytes(),
     wire::BreakPointExArgs{2, 0x10002}, {}},
    {"RestoreBreakPointEx", manipulate_header(0x3148).u32(16, 1).bytes(), wire::BreakPointExArgs{1, 0}, {}},
    {"GetBusData", manipulate_header(0x3157).u32(16, 4).u32(20, 1).u32(24, 0x18).u32(28, 0x10).u32(32, 4).bytes(),
     wire::BusDataArgs{4, 1, 0x18, 0x10, 4}, {}},
    {"SetBusData with data",
     manipulate_header(0x3158).u32(16, 4).u32(20, 0).u32(24, 3).u32(28, 4).u32(32, 2).append(unhex("0700")).bytes(),
     wire::BusDataArgs{4, 0, 3, 4, 2}, unhex("0700")},
    {"SwitchPartition", manipulate_header(0x315D).u32(16, 1).bytes(), wire::SwitchPartitionArgs{1}, {}},
    {"SetSpecialCall", manipulate_header(0x3140).u64(16, 0xfffff80000405000).bytes(),
     wire::SpecialCallArgs{0xfffff80000405000}, {}},
    {"QuerySpecialCalls", manipulate_header(0x313F).u32(16, 5).bytes(), wire::QuerySpecialCallsArgs{5}, {}},
    {"SetInternalBreakPoint", manipulate_header(0x3142).u64(16, 0xfffff80000406000).u32(24, 1).bytes(),
     wire::InternalBreakpointArgs{0xfffff80000406000, 1, 0, 0, 0, 0, 0}, {}},
    {"GetInternalBreakPoint",
     manipulate_header(0x3143).u64(16, 0xfffff80000406000).u32(24, 1).u32(28, 2).u32(32, 3).u32(36, 4).u32(40, 5)
         .u32(44, 6).bytes(),
     wire::InternalBreakpointArgs{0xfffff80000406000, 1, 2, 3, 4, 5, 6}, {}},
    {"WriteCustomBreakpoint",
     manipulate_header(0x315E).u64(16, 0xfffff80000407000).u64(24, 0xcc).u32(32, 11).u8(36, 1).u8(37, 4).bytes(),
     wire::WriteCustomBreakpointArgs{0xfffff80000407000, 0xcc, 11, 1, 4}, {}},
    // DBGKD_GET_VERSION64: every field at its documented offset inside the union.
    {"GetVersion reply",
     manipulate_header(0x3146).u16(16, 0x000f).u16(18, 0x4a61).u8(20, 6).u8(21, 2).u16(22, 0x47).u16(24, 0x8664)
         .u8(26, 12).u8(27, 3).u8(28, 0x31).u8(29, 1).u16(30, 0x5555).u64(32, 0xfffff80000400000)
         .u64(40, 0xfffff8000102a2d0).u64(48, 0xfffff8000100d6e0).bytes(),
     wire::GetVersion64{0x000f, 0x4a61, 6, 2, 0x47, 0x8664, 12, 3, 0x31, 1, 0x5555, 0xfffff80000400000,
                        0xfffff8000102a2d0, 0xfffff8000100d6e0},
     {}},
    {"Reboot", manipulate_header(0x313B).bytes(), wire::RawUnion{}, {}},
    {"unknown API keeps its union raw", manipulate_header(0x4000).u8(16, 1).u8(55, 2).append(unhex("ff")).bytes(),
     raw_union({{0, 1}, {39, 2}}), unhex("ff")},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(dbgkd_handwritten)

BOOST_DATA_TEST_CASE(manipulate_union_layouts, boost::unit_test::data::make(kManipulateRows), row) {
  auto m = wire::decode_manipulate(row.body);
  BOOST_TEST_REQUIRE(m.has_value(), (m ? "" : m.error().message));
  BOOST_TEST(m->api == (row.body[0] | row.body[1] << 8));
  BOOST_TEST(m->processor_level == 6);
  BOOST_TEST(m->processor == 2);
  BOOST_TEST(m->return_status == 0x103u);  // kept as received, as WinDbg sends it
  BOOST_TEST(m->args.index() == row.args.index());
  BOOST_TEST((m->args == row.args));
  BOOST_TEST(m->data == row.data);
}

BOOST_AUTO_TEST_CASE(state_change_exception_with_control_report) {
  Raw r(240);
  r.u32(0, 0x3030).u16(4, 6).u16(6, 1).u32(8, 4).u64(16, 0xfffff80001027a00).u64(24, 0xfffff800007fd0b0);
  r.u32(32, 0xc0000005).u32(36, 1).u64(40, 0xfffff80000009000).u64(48, 0xfffff800007fd0b0).u32(56, 2);
  for (std::size_t i = 0; i < 15; ++i) r.u64(64 + 8 * i, 0x100 + i);
  r.u32(184, 1);  // FirstChance: union + 152
  r.u64(192, 0xffff0ff0).u64(200, 0x400).u32(208, 0x246).u16(212, 16).u16(214, 3);
  r.raw(216, unhex("ccc3cccccccccccc0f1f840000000000"));
  r.u16(232, 0x10).u16(234, 0x2b).u16(236, 0x2c).u16(238, 0x53);

  auto s = wire::decode_state_change(r);
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  BOOST_TEST(s->processor_level == 6);
  BOOST_TEST(s->processor == 1);
  BOOST_TEST(s->number_processors == 4u);
  BOOST_TEST(s->thread == 0xfffff80001027a00u);
  BOOST_TEST(s->program_counter == 0xfffff800007fd0b0u);
  const auto* e = std::get_if<wire::ExceptionState>(&s->state);
  BOOST_TEST_REQUIRE(e != nullptr);
  BOOST_TEST(e->record.code == 0xc0000005u);
  BOOST_TEST(e->record.flags == 1u);
  BOOST_TEST(e->record.record == 0xfffff80000009000u);
  BOOST_TEST(e->record.address == 0xfffff800007fd0b0u);
  BOOST_TEST(e->record.number_parameters == 2u);
  for (std::size_t i = 0; i < 15; ++i) BOOST_TEST(e->record.information[i] == 0x100 + i);
  BOOST_TEST(e->first_chance == 1u);
  const wire::ControlReport& c = s->control;
  BOOST_TEST(c.dr6 == 0xffff0ff0u);
  BOOST_TEST(c.dr7 == 0x400u);
  BOOST_TEST(c.eflags == 0x246u);
  BOOST_TEST(c.instruction_count == 16);
  BOOST_TEST(c.report_flags == 3);
  BOOST_TEST(tohex(c.instruction_stream) == "ccc3cccccccccccc0f1f840000000000");
  BOOST_TEST(c.seg_cs == 0x10);
  BOOST_TEST(c.seg_ds == 0x2b);
  BOOST_TEST(c.seg_es == 0x2c);
  BOOST_TEST(c.seg_fs == 0x53);
}

BOOST_AUTO_TEST_CASE(state_change_load_symbols) {
  const std::string path = "\\SystemRoot\\system32\\drivers\\simdrv.sys";
  Raw r(240);
  r.u32(0, 0x3031).u32(8, 1).u64(24, 0xfffff80000401000);
  r.u32(32, static_cast<std::uint32_t>(path.size() + 1)).u64(40, 0xfffff80001000000).u64(48, 4).u32(56, 0xabcd)
      .u32(60, 0x8000).u8(64, 0);
  r.append(text(path)).append(unhex("00"));
  auto s = wire::decode_state_change(r);
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  const auto* l = std::get_if<wire::LoadSymbolsState>(&s->state);
  BOOST_TEST_REQUIRE(l != nullptr);
  BOOST_TEST(l->base_of_dll == 0xfffff80001000000u);
  BOOST_TEST(l->process_id == 4u);
  BOOST_TEST(l->checksum == 0xabcdu);
  BOOST_TEST(l->size_of_image == 0x8000u);
  BOOST_TEST(!l->unload);
  BOOST_TEST(l->path == path);

  Raw unload(240);
  unload.u32(0, 0x3031).u64(40, 0xfffff80001100000).u8(64, 1);  // PathNameLength 0: no path follows
  auto u = wire::decode_state_change(unload);
  BOOST_TEST_REQUIRE(u.has_value(), (u ? "" : u.error().message));
  BOOST_TEST(std::get<wire::LoadSymbolsState>(u->state).unload);
  BOOST_TEST(std::get<wire::LoadSymbolsState>(u->state).path.empty());
}

BOOST_AUTO_TEST_CASE(state_change_command_string) {
  Raw r(240);
  r.u32(0, 0x3032).u32(32, 1).u32(36, 0);
  r.append(text(std::string("simdrv\0.reload /f\0", 18)));
  auto s = wire::decode_state_change(r);
  BOOST_TEST_REQUIRE(s.has_value(), (s ? "" : s.error().message));
  const auto* c = std::get_if<wire::CommandStringState>(&s->state);
  BOOST_TEST_REQUIRE(c != nullptr);
  BOOST_TEST(c->flags == 1u);
  BOOST_TEST(c->name == "simdrv");
  BOOST_TEST(c->command == ".reload /f");
}

BOOST_AUTO_TEST_CASE(debug_io_print_and_get_string) {
  auto print = wire::decode_debug_io(Raw(16).u32(0, 0x3230).u16(4, 6).u16(6, 3).u32(8, 6).append(text("hello\n")));
  BOOST_TEST_REQUIRE(print.has_value(), (print ? "" : print.error().message));
  BOOST_TEST(print->api == wire::kDebugIoPrintString);
  BOOST_TEST(print->processor_level == 6);
  BOOST_TEST(print->processor == 3);
  BOOST_TEST(print->text == "hello\n");

  // The target's prompt: LengthOfPromptString 5, LengthOfStringRead = the most it accepts.
  auto prompt = wire::decode_debug_io(Raw(16).u32(0, 0x3231).u32(8, 5).u32(12, 512).append(text("Go? ")).append(unhex("00")));
  BOOST_TEST_REQUIRE(prompt.has_value(), (prompt ? "" : prompt.error().message));
  BOOST_TEST(prompt->text == std::string("Go? \0", 5));
  BOOST_TEST(prompt->length_of_string_read == 512u);

  // The debugger's answer keeps the prompt's length and sets LengthOfStringRead.
  auto answer = wire::decode_debug_io(Raw(16).u32(0, 0x3231).u32(8, 5).u32(12, 1).append(text("y")));
  BOOST_TEST_REQUIRE(answer.has_value(), (answer ? "" : answer.error().message));
  BOOST_TEST(answer->text == "y");
  BOOST_TEST(answer->length_of_string_read == 1u);
}

BOOST_AUTO_TEST_CASE(file_io_each_api) {
  Raw create(64);
  create.u32(0, 0x3430).u32(4, 0).u32(8, 0x120089).u32(12, 0x80).u32(16, 1).u32(20, 1).u32(24, 0x60)
      .u64(32, 0x1111).u64(40, 0x2222);
  create.append(unhex("41004200 0000"));  // u"AB" and its NUL
  auto c = wire::decode_file_io(create);
  BOOST_TEST_REQUIRE(c.has_value(), (c ? "" : c.error().message));
  const auto& ca = std::get<wire::CreateFileArgs>(c->args);
  BOOST_TEST(ca.desired_access == 0x120089u);
  BOOST_TEST(ca.file_attributes == 0x80u);
  BOOST_TEST(ca.share_access == 1u);
  BOOST_TEST(ca.create_disposition == 1u);
  BOOST_TEST(ca.create_options == 0x60u);
  BOOST_TEST(ca.handle == 0x1111u);
  BOOST_TEST(ca.length == 0x2222u);
  BOOST_TEST((c->path == u"AB"));

  auto read = wire::decode_file_io(Raw(64).u32(0, 0x3431).u64(8, 0x44).u64(16, 0x1000).u32(24, 3).append(unhex("010203")));
  BOOST_TEST_REQUIRE(read.has_value(), (read ? "" : read.error().message));
  BOOST_TEST((std::get<wire::FileTransferArgs>(read->args) == wire::FileTransferArgs{0x44, 0x1000, 3}));
  BOOST_TEST(read->data == unhex("010203"));

  auto write = wire::decode_file_io(Raw(64).u32(0, 0x3432).u32(4, 0xc0000001).u64(8, 0x44).u64(16, 8).u32(24, 0x200));
  BOOST_TEST_REQUIRE(write.has_value());
  BOOST_TEST(write->status == 0xc0000001u);
  BOOST_TEST((std::get<wire::FileTransferArgs>(write->args) == wire::FileTransferArgs{0x44, 8, 0x200}));

  auto close = wire::decode_file_io(Raw(64).u32(0, 0x3433).u64(8, 0x44));
  BOOST_TEST_REQUIRE(close.has_value());
  BOOST_TEST(std::get<wire::CloseFileArgs>(close->args).handle == 0x44u);
}

BOOST_AUTO_TEST_CASE(trace_io_and_control_request) {
  auto t = wire::decode_trace_io(Raw(64).u32(0, 0x3330).u16(4, 6).u16(6, 1).u32(8, 3).append(unhex("aabbcc")));
  BOOST_TEST_REQUIRE(t.has_value(), (t ? "" : t.error().message));
  BOOST_TEST(t->api == wire::kTraceIoPrintTrace);
  BOOST_TEST(t->processor_level == 6);
  BOOST_TEST(t->processor == 1);
  BOOST_TEST(t->data == unhex("aabbcc"));

  auto c = wire::decode_control_request(Raw(64).u32(0, 0x4301).u32(4, 0xc0000001).u32(8, 2).u32(12, 1));
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->api == wire::kControlReleaseHardwareBp);
  BOOST_TEST(c->return_status == 0xc0000001u);
  BOOST_TEST(c->hardware_break_point_number == 2u);
  BOOST_TEST(c->available == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
