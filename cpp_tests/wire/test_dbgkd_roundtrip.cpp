// Encode then decode every DBGKD message and every manipulate union layout:
// what comes back must equal what went in, and the sizes must be the wire's.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "core/wire/context.hpp"
#include "core/wire/dbgkd.hpp"
#include "wire_test_util.hpp"

namespace wire = openkd::wire;
using namespace wiretest;

namespace {

// Distinct, nonzero values for every field of each union layout.
void fill(wire::RawUnion& a) {
  for (std::size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<std::uint8_t>(0xA0 + i);
}
void fill(wire::MemoryTransfer& a) { a = {0xfffff80000401000, 0x100, 0x80}; }
void fill(wire::SetContextArgs& a) { a.context_flags = wire::kContextAll; }
void fill(wire::ContextExArgs& a) { a = {0x78, 0x40, 0x20}; }
void fill(wire::WriteBreakPointArgs& a) { a = {0xfffff80000402345, 7}; }
void fill(wire::RestoreBreakPointArgs& a) { a.break_point_handle = 9; }
void fill(wire::ContinueArgs& a) { a.continue_status = wire::kDbgExceptionNotHandled; }
void fill(wire::Continue2Args& a) { a = {wire::kDbgContinue, 1, 0x401, 0xfffff80000400100, 0xfffff80000400200}; }
void fill(wire::IoArgs& a) { a = {0x3f8, 1, 0x41}; }
void fill(wire::IoExtendedArgs& a) { a = {4, 1, 2, 1, 0xcf8, 0x80000000}; }
void fill(wire::MsrArgs& a) { a = {0xc0000082, 0x00401000, 0xfffff800}; }
void fill(wire::QueryMemoryArgs& a) { a = {0xfffff80000400000, 0x1234, 2, 7}; }
void fill(wire::SearchMemoryArgs& a) { a = {0xfffff80000400000, 0x10000, 4}; }
void fill(wire::FillMemoryArgs& a) { a = {0xfffff80010000000, 0x1000, 1, 2}; }
void fill(wire::BreakPointExArgs& a) { a = {3, wire::kDbgContinue}; }
void fill(wire::BusDataArgs& a) { a = {4, 0, 0x18, 0x10, 4}; }
void fill(wire::SwitchPartitionArgs& a) { a.partition = 1; }
void fill(wire::SpecialCallArgs& a) { a.special_call = 0xfffff80000405000; }
void fill(wire::QuerySpecialCallsArgs& a) { a.number_of_special_calls = 5; }
void fill(wire::InternalBreakpointArgs& a) { a = {0xfffff80000406000, 1, 2, 3, 4, 5, 6}; }
void fill(wire::GetVersion64& v) {
  v = {0x000f, 19041, 6, 2, 0x47, 0x8664, 12, 3, 0x31, 0, 0, 0xfffff80000400000, 0xfffff8000102a2d0,
       0xfffff8000100d6e0};
}
void fill(wire::WriteCustomBreakpointArgs& a) { a = {0xfffff80000407000, 0xcc, 11, 1, 1}; }

const std::vector<std::uint32_t>& all_apis() {
  static const std::vector<std::uint32_t> apis = [] {
    std::vector<std::uint32_t> v;
    for (std::uint32_t api = 0x3130; api <= 0x3160; ++api)
      if (wire::api_name(api)) v.push_back(api);
    return v;
  }();
  return apis;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dbgkd_roundtrip)

BOOST_AUTO_TEST_CASE(api_names_cover_every_number) {
  BOOST_TEST(all_apis().size() == 43u);  // 0x3130..0x3160 less the gap 0x314A..0x314F
  BOOST_TEST(*wire::api_name(0x3130) == "ReadVirtualMemory");
  BOOST_TEST(*wire::api_name(0x3160) == "SetContextEx");
  BOOST_TEST(*wire::api_name(wire::kDebugIoGetString) == "GetString");
  BOOST_TEST(*wire::api_name(wire::kTraceIoPrintTrace) == "PrintTrace");
  BOOST_TEST(*wire::api_name(wire::kControlReleaseHardwareBp) == "ReleaseHardwareBp");
  BOOST_TEST(*wire::api_name(wire::kFileIoCloseFile) == "CloseFile");
  BOOST_TEST(!wire::api_name(0x314A).has_value());
  BOOST_TEST(!wire::api_name(0).has_value());
}

// One row per API number: its union layout filled with distinct values.
BOOST_DATA_TEST_CASE(every_api_and_union_layout, boost::unit_test::data::make(all_apis()), api) {
  wire::Manipulate m;
  m.api = api;
  m.processor_level = 6;
  m.processor = 3;
  m.return_status = wire::kStatusUnsuccessful;
  m.args = wire::args_for_api(api);
  std::visit([](auto& a) { fill(a); }, m.args);
  const Bytes body = wire::encode(m);
  BOOST_TEST(body.size() == wire::kManipulateHeaderSize);
  auto back = wire::decode_manipulate(body);
  BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
  BOOST_TEST((*back == m));
  BOOST_TEST(back->args.index() == m.args.index());
}

BOOST_AUTO_TEST_CASE(unknown_api_keeps_the_raw_union) {
  wire::Manipulate m;
  m.api = 0x4242;
  wire::RawUnion raw;
  fill(raw);
  m.args = raw;
  m.data = {1, 2, 3};
  auto back = wire::decode_manipulate(wire::encode(m));
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST((*back == m));
}

// Requests and replies that carry data after the 56 bytes, lengths consistent.
BOOST_AUTO_TEST_CASE(manipulate_with_data) {
  std::vector<wire::Manipulate> cases;
  auto add = [&](wire::Api api, wire::ManipulateArgs args, Bytes data) {
    wire::Manipulate m;
    m.api = static_cast<std::uint32_t>(api);
    m.args = std::move(args);
    m.data = std::move(data);
    cases.push_back(m);
  };
  add(wire::Api::ReadVirtualMemory, wire::MemoryTransfer{0x1000, 16, 4}, {1, 2, 3, 4});
  add(wire::Api::ReadVirtualMemory, wire::MemoryTransfer{0x1000, wire::kMaxReadChunk, wire::kMaxReadChunk},
      Bytes(wire::kMaxReadChunk, 0x5a));
  add(wire::Api::WriteVirtualMemory, wire::MemoryTransfer{0x1000, 3, 0}, {9, 8, 7});
  add(wire::Api::ReadPhysicalMemory, wire::MemoryTransfer{0x2000, 2, 2}, {0xcc, 0xcc});
  add(wire::Api::WritePhysicalMemory, wire::MemoryTransfer{0x2000, 1, 0}, {0x90});
  add(wire::Api::ReadControlSpace, wire::MemoryTransfer{2, 224, 224}, Bytes(224, 0x11));
  add(wire::Api::WriteControlSpace, wire::MemoryTransfer{2, 224, 0}, Bytes(224, 0x22));
  add(wire::Api::GetContext, wire::RawUnion{}, Bytes(wire::kContextSize, 0x33));
  add(wire::Api::SetContext, wire::SetContextArgs{wire::kContextFull}, Bytes(wire::kContextSize, 0x44));
  add(wire::Api::GetContextEx, wire::ContextExArgs{0x78, 8, 8}, Bytes(8, 0x55));
  add(wire::Api::SetContextEx, wire::ContextExArgs{0x78, 8, 0}, Bytes(8, 0x66));
  add(wire::Api::SearchMemory, wire::SearchMemoryArgs{0x1000, 0x100, 2}, {0x4d, 0x5a});
  add(wire::Api::FillMemory, wire::FillMemoryArgs{0x1000, 0x100, 1, 3}, {1, 2, 3});
  add(wire::Api::GetBusData, wire::BusDataArgs{4, 0, 0, 0, 4}, {0x86, 0x80, 0x37, 0x12});
  add(wire::Api::SetBusData, wire::BusDataArgs{4, 0, 0, 4, 2}, {0x07, 0x00});
  add(wire::Api::WriteBreakPointEx, wire::BreakPointExArgs{2, 0}, Bytes(24, 0x77));
  for (const auto& m : cases) {
    BOOST_TEST_INFO(*wire::api_name(m.api));
    const Bytes body = wire::encode(m);
    BOOST_TEST(body.size() == wire::kManipulateHeaderSize + m.data.size());
    auto back = wire::decode_manipulate(body);
    BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
    BOOST_TEST((*back == m));
  }
}

BOOST_AUTO_TEST_CASE(state_changes) {
  wire::StateChange exception;
  exception.processor_level = 6;
  exception.processor = 1;
  exception.number_processors = 4;
  exception.thread = 0xfffff80001027a00;
  exception.program_counter = 0xfffff800007fd0b0;
  wire::ExceptionState e;
  e.record = {wire::kExceptionAccessViolation, 1, 0xfffff80000001000, 0xfffff800007fd0b0, 15, {}};
  for (std::size_t i = 0; i < 15; ++i) e.record.information[i] = 0x1000 + i;
  e.first_chance = 0;
  exception.state = e;
  exception.control = {0xffff0ff0, 0x400, 0x246, 16, 3, {0xcc, 0xc3, 0x90}, 0x10, 0x2b, 0x2b, 0x53};

  wire::StateChange load = exception;
  load.state = wire::LoadSymbolsState{0xfffff80001000000, 4, 0x1234, 0x8000, false, "\\SystemRoot\\system32\\drivers\\simdrv.sys"};
  wire::StateChange unload = exception;
  unload.state = wire::LoadSymbolsState{0xfffff80001100000, 0, 0, 0x4000, true, ""};
  wire::StateChange command = exception;
  command.state = wire::CommandStringState{1, 0, "simdrv", ".reload /f"};

  for (const wire::StateChange& s : {exception, load, unload, command}) {
    const Bytes body = wire::encode(s);
    BOOST_TEST_INFO("state index " << s.state.index());
    std::size_t extra = 0;
    if (auto* l = std::get_if<wire::LoadSymbolsState>(&s.state)) extra = l->path.empty() ? 0 : l->path.size() + 1;
    if (auto* c = std::get_if<wire::CommandStringState>(&s.state)) extra = c->name.size() + c->command.size() + 2;
    BOOST_TEST(body.size() == wire::kStateChangeSize + extra);
    auto back = wire::decode_state_change(body);
    BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
    BOOST_TEST((*back == s));
  }
}

BOOST_AUTO_TEST_CASE(debug_io) {
  wire::DebugIo print{wire::kDebugIoPrintString, 6, 0, "hello\n", 0};
  wire::DebugIo prompt{wire::kDebugIoGetString, 6, 1, "Break, Ignore, Terminate? ", 512};
  wire::DebugIo answer{wire::kDebugIoGetString, 6, 1, "i", 1};
  wire::DebugIo empty_print{wire::kDebugIoPrintString, 0, 0, "", 0};
  for (const auto& d : {print, prompt, answer, empty_print}) {
    const Bytes body = wire::encode(d);
    BOOST_TEST(body.size() == wire::kDebugIoHeaderSize + d.text.size());
    auto back = wire::decode_debug_io(body);
    BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
    BOOST_TEST((*back == d));
  }
}

BOOST_AUTO_TEST_CASE(file_io) {
  wire::FileIo create{wire::kFileIoCreateFile, 0, wire::CreateFileArgs{0x120089, 0x80, 1, 1, 0x60, 0, 0},
                      u"\\SystemRoot\\system32\\drivers\\beep.sys", {}};
  wire::FileIo create_reply{wire::kFileIoCreateFile, wire::kStatusNoSuchFile,
                            wire::CreateFileArgs{0x120089, 0x80, 1, 1, 0x60, 0, 0}, u"", {}};
  wire::FileIo opened{wire::kFileIoCreateFile, 0, wire::CreateFileArgs{0x120089, 0x80, 1, 1, 0x60, 0x44, 0x3000},
                      u"", {}};
  wire::FileIo read_request{wire::kFileIoReadFile, 0, wire::FileTransferArgs{0x44, 0x1000, 0x200}, u"", {}};
  wire::FileIo read_reply{wire::kFileIoReadFile, 0, wire::FileTransferArgs{0x44, 0x1000, 4}, u"", {0x4d, 0x5a, 0x90, 0}};
  wire::FileIo write_request{wire::kFileIoWriteFile, 0, wire::FileTransferArgs{0x44, 0, 3}, u"", {1, 2, 3}};
  wire::FileIo close{wire::kFileIoCloseFile, 0, wire::CloseFileArgs{0x44}, u"", {}};
  for (const auto& f : {create, create_reply, opened, read_request, read_reply, write_request, close}) {
    const Bytes body = wire::encode(f);
    BOOST_TEST(body.size() == wire::kFileIoHeaderSize + (f.path.empty() ? 0 : f.path.size() * 2 + 2) + f.data.size());
    auto back = wire::decode_file_io(body);
    BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
    BOOST_TEST((*back == f));
  }
}

BOOST_AUTO_TEST_CASE(trace_io_and_control_request) {
  for (const wire::TraceIo& t : {wire::TraceIo{wire::kTraceIoPrintTrace, 6, 2, {1, 2, 3, 4, 5}},
                                 wire::TraceIo{wire::kTraceIoPrintTrace, 0, 0, {}}}) {
    const Bytes body = wire::encode(t);
    BOOST_TEST(body.size() == wire::kTraceIoHeaderSize + t.data.size());
    auto back = wire::decode_trace_io(body);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((*back == t));
  }
  for (const wire::ControlRequest& c : {wire::ControlRequest{wire::kControlRequestHardwareBp, 0, 2, 1},
                                        wire::ControlRequest{wire::kControlReleaseHardwareBp, wire::kStatusUnsuccessful, 3, 1}}) {
    const Bytes body = wire::encode(c);
    BOOST_TEST(body.size() == wire::kControlRequestSize);
    auto back = wire::decode_control_request(body);
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((*back == c));
  }
}

BOOST_AUTO_TEST_CASE(context_and_special_registers) {
  wire::Context c;
  std::uint64_t v = 0x1111;
  for (auto& h : c.p_home) h = v++;
  c.context_flags = wire::kContextAll;
  c.mx_csr = 0x1f80;
  c.seg_cs = 0x10; c.seg_ds = 0x2b; c.seg_es = 0x2b; c.seg_fs = 0x53; c.seg_gs = 0x2b; c.seg_ss = 0x18;
  c.eflags = 0x246;
  for (std::uint64_t* r : {&c.dr0, &c.dr1, &c.dr2, &c.dr3, &c.dr6, &c.dr7, &c.rax, &c.rcx, &c.rdx, &c.rbx, &c.rsp,
                           &c.rbp, &c.rsi, &c.rdi, &c.r8, &c.r9, &c.r10, &c.r11, &c.r12, &c.r13, &c.r14, &c.r15, &c.rip})
    *r = 0xfffff80000000000 + v++;
  c.flt_save = {0x27f, 0x1, 0xff, 0x2, 0x3, 0x4, 0x5, 0x6, 0x1f80, 0xffff, {}, {}};
  for (std::size_t i = 0; i < 8; ++i) c.flt_save.float_registers[i].fill(static_cast<std::uint8_t>(0x10 + i));
  for (std::size_t i = 0; i < 16; ++i) c.flt_save.xmm_registers[i].fill(static_cast<std::uint8_t>(0x20 + i));
  for (std::size_t i = 0; i < 26; ++i) c.vector_register[i].fill(static_cast<std::uint8_t>(0x40 + i));
  c.vector_control = 1; c.debug_control = 2; c.last_branch_to_rip = 3; c.last_branch_from_rip = 4;
  c.last_exception_to_rip = 5; c.last_exception_from_rip = 6;
  const Bytes cb = wire::encode(c);
  BOOST_TEST(cb.size() == wire::kContextSize);
  auto cback = wire::decode_context(cb);
  BOOST_TEST_REQUIRE(cback.has_value());
  BOOST_TEST((*cback == c));

  wire::SpecialRegisters s;
  v = 0x100;
  for (std::uint64_t* r : {&s.cr0, &s.cr2, &s.cr3, &s.cr4, &s.kernel_dr0, &s.kernel_dr1, &s.kernel_dr2, &s.kernel_dr3,
                           &s.kernel_dr6, &s.kernel_dr7, &s.debug_control, &s.last_branch_to_rip,
                           &s.last_branch_from_rip, &s.last_exception_to_rip, &s.last_exception_from_rip, &s.cr8,
                           &s.msr_gs_base, &s.msr_gs_swap, &s.msr_star, &s.msr_lstar, &s.msr_cstar,
                           &s.msr_syscall_mask, &s.xcr0})
    *r = v++;
  s.gdtr = {{1, 2, 3}, 0x7f, 0xfffff80000500000};
  s.idtr = {{4, 5, 6}, 0xfff, 0xfffff80000600000};
  s.tr = 0x40; s.ldtr = 0; s.mx_csr = 0x1f80;
  const Bytes sb = wire::encode(s);
  BOOST_TEST(sb.size() == wire::kSpecialRegistersSize);
  auto sback = wire::decode_special_registers(sb);
  BOOST_TEST_REQUIRE(sback.has_value());
  BOOST_TEST((*sback == s));
}

BOOST_AUTO_TEST_SUITE_END()
