// Short and inconsistent input is refused by every decoder with a one-line
// message naming the structure and the field; known WinDbg junk is accepted.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "core/wire/context.hpp"
#include "core/wire/dbgkd.hpp"
#include "wire_test_util.hpp"

namespace wire = openkd::wire;
using namespace wiretest;

namespace {

enum class Decoder { Manipulate, StateChange, DebugIo, FileIo, TraceIo, ControlRequest, Context, SpecialRegisters };

template <class T>
std::optional<std::string> error_message(const std::expected<T, wire::DecodeError>& r) {
  if (r) return std::nullopt;
  return r.error().message;
}

std::optional<std::string> decode_error(Decoder d, ByteView b) {
  switch (d) {
    case Decoder::Manipulate: return error_message(wire::decode_manipulate(b));
    case Decoder::StateChange: return error_message(wire::decode_state_change(b));
    case Decoder::DebugIo: return error_message(wire::decode_debug_io(b));
    case Decoder::FileIo: return error_message(wire::decode_file_io(b));
    case Decoder::TraceIo: return error_message(wire::decode_trace_io(b));
    case Decoder::ControlRequest: return error_message(wire::decode_control_request(b));
    case Decoder::Context: return error_message(wire::decode_context(b));
    case Decoder::SpecialRegisters: return error_message(wire::decode_special_registers(b));
  }
  return std::nullopt;
}

struct ErrorRow {
  std::string name;
  Decoder decoder;
  Bytes input;
  std::string message;  // the whole expected message
};
std::ostream& operator<<(std::ostream& os, const ErrorRow& r) { return os << r.name; }

Raw manipulate(std::uint32_t api) { return Raw(56).u32(0, api); }

const std::vector<ErrorRow> kRows = {
    {"manipulate: empty", Decoder::Manipulate, {}, "DBGKD_MANIPULATE_STATE64: needs 56 bytes, got 0"},
    {"manipulate: one byte short", Decoder::Manipulate, Bytes(55, 0), "DBGKD_MANIPULATE_STATE64: needs 56 bytes, got 55"},
    {"read reply: ActualBytes disagrees with the data", Decoder::Manipulate,
     manipulate(0x3130).u32(24, 16).u32(28, 16).append(Bytes(12, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 ReadVirtualMemory: ActualBytes is 16 but 12 bytes follow"},
    {"physical read reply: ActualBytes disagrees", Decoder::Manipulate,
     manipulate(0x313D).u32(28, 1).append(Bytes(2, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 ReadPhysicalMemory: ActualBytes is 1 but 2 bytes follow"},
    {"control space reply: ActualBytes disagrees", Decoder::Manipulate,
     manipulate(0x3137).u32(28, 224).append(Bytes(200, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 ReadControlSpace: ActualBytes is 224 but 200 bytes follow"},
    {"write request: TransferCount disagrees", Decoder::Manipulate,
     manipulate(0x3131).u32(24, 4).append(Bytes(3, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 WriteVirtualMemory: TransferCount is 4 but 3 bytes follow"},
    {"GetContextEx: BytesCopied disagrees", Decoder::Manipulate,
     manipulate(0x315F).u32(24, 8).append(Bytes(4, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 GetContextEx: BytesCopied is 8 but 4 bytes follow"},
    {"SetContextEx: ByteCount disagrees", Decoder::Manipulate, manipulate(0x3160).u32(20, 2).append(Bytes(4, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 SetContextEx: ByteCount is 2 but 4 bytes follow"},
    {"SearchMemory: PatternLength disagrees", Decoder::Manipulate,
     manipulate(0x3156).u32(32, 3).append(Bytes(2, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 SearchMemory: PatternLength is 3 but 2 bytes follow"},
    {"FillMemory: PatternLength disagrees", Decoder::Manipulate,
     manipulate(0x315B).u16(30, 1).append(Bytes(2, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 FillMemory: PatternLength is 1 but 2 bytes follow"},
    {"SetBusData: Length disagrees", Decoder::Manipulate, manipulate(0x3158).u32(32, 4).append(Bytes(2, 0)).bytes(),
     "DBGKD_MANIPULATE_STATE64 SetBusData: Length is 4 but 2 bytes follow"},

    {"state change: one byte short", Decoder::StateChange, Raw(239).u32(0, 0x3030).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE: needs 240 bytes, got 239"},
    {"state change: unknown NewState", Decoder::StateChange, Raw(240).u32(0, 0x3033).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE: NewState 0x3033 is none of 0x3030 (exception), 0x3031 (load symbols), "
     "0x3032 (command string)"},
    {"exception: 16 parameters", Decoder::StateChange, Raw(240).u32(0, 0x3030).u32(56, 16).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE Exception: NumberParameters is 16, at most 15"},
    {"load symbols: PathNameLength longer than the path", Decoder::StateChange,
     Raw(240).u32(0, 0x3031).u32(32, 10).append(text(std::string("a.sys\0", 6))).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE LoadSymbols: PathNameLength is 10 but 6 bytes follow"},
    {"load symbols: PathNameLength 0 but a path follows", Decoder::StateChange,
     Raw(240).u32(0, 0x3031).append(text(std::string("a.sys\0", 6))).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE LoadSymbols: PathNameLength is 0 but 6 bytes follow"},
    {"load symbols: path without NUL", Decoder::StateChange,
     Raw(240).u32(0, 0x3031).u32(32, 5).append(text("a.sys")).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE LoadSymbols: path of 5 bytes does not end in NUL"},
    {"command string: one NUL only", Decoder::StateChange,
     Raw(240).u32(0, 0x3032).append(text(std::string("name\0cmd", 8))).bytes(),
     "DBGKD_ANY_WAIT_STATE_CHANGE CommandString: expected \"name\\0command\\0\" after 240 bytes, got 8 bytes "
     "without two NULs"},

    {"debug io: one byte short", Decoder::DebugIo, Raw(15).u32(0, 0x3230).bytes(), "DBGKD_DEBUG_IO: needs 16 bytes, got 15"},
    {"print: LengthOfString disagrees", Decoder::DebugIo, Raw(16).u32(0, 0x3230).u32(8, 7).append(text("hello\n")).bytes(),
     "DBGKD_DEBUG_IO PrintString: LengthOfString is 7 but 6 bytes follow"},
    {"get string: text matches neither length", Decoder::DebugIo,
     Raw(16).u32(0, 0x3231).u32(8, 9).u32(12, 8).append(text("abc")).bytes(),
     "DBGKD_DEBUG_IO GetString: 3 bytes follow, but LengthOfPromptString is 9 and LengthOfStringRead is 8"},
    {"debug io: unknown ApiNumber", Decoder::DebugIo, Raw(16).u32(0, 0x3232).bytes(),
     "DBGKD_DEBUG_IO: ApiNumber 0x3232 is neither 0x3230 (PrintString) nor 0x3231 (GetString)"},

    {"file io: one byte short", Decoder::FileIo, Raw(63).u32(0, 0x3430).bytes(), "DBGKD_FILE_IO: needs 64 bytes, got 63"},
    {"create file: odd path length", Decoder::FileIo, Raw(64).u32(0, 0x3430).append(unhex("410000")).bytes(),
     "DBGKD_FILE_IO CreateFile: UTF-16 path of odd length 3"},
    {"create file: path without NUL", Decoder::FileIo, Raw(64).u32(0, 0x3430).append(unhex("41004200")).bytes(),
     "DBGKD_FILE_IO CreateFile: path of 2 UTF-16 units does not end in NUL"},
    {"read file: Length disagrees with the data", Decoder::FileIo,
     Raw(64).u32(0, 0x3431).u32(24, 5).append(unhex("010203")).bytes(),
     "DBGKD_FILE_IO ReadFile: Length is 5 but 3 bytes follow"},
    {"write file: Length disagrees with the data", Decoder::FileIo,
     Raw(64).u32(0, 0x3432).u32(24, 1).append(unhex("0102")).bytes(),
     "DBGKD_FILE_IO WriteFile: Length is 1 but 2 bytes follow"},
    {"file io: unknown ApiNumber", Decoder::FileIo, Raw(64).u32(0, 0x3434).bytes(),
     "DBGKD_FILE_IO: ApiNumber 0x3434 is none of 0x3430..0x3433 (CreateFile, ReadFile, WriteFile, CloseFile)"},

    {"trace io: one byte short", Decoder::TraceIo, Raw(63).u32(0, 0x3330).bytes(), "DBGKD_TRACE_IO: needs 64 bytes, got 63"},
    {"trace io: LengthOfData longer than the data", Decoder::TraceIo,
     Raw(64).u32(0, 0x3330).u32(8, 4).append(unhex("0102")).bytes(), "DBGKD_TRACE_IO: LengthOfData is 4 but 2 bytes follow"},
    {"trace io: LengthOfData without data", Decoder::TraceIo, Raw(64).u32(0, 0x3330).u32(8, 1).bytes(),
     "DBGKD_TRACE_IO: LengthOfData is 1 but 0 bytes follow"},

    {"control request: one byte short", Decoder::ControlRequest, Raw(63).u32(0, 0x4300).bytes(),
     "DBGKD_CONTROL_REQUEST: needs 64 bytes, got 63"},
    {"CONTEXT: one byte short", Decoder::Context, Bytes(1231, 0), "CONTEXT (AMD64): needs 1232 bytes, got 1231"},
    {"KSPECIAL_REGISTERS: one byte short", Decoder::SpecialRegisters, Bytes(223, 0),
     "KSPECIAL_REGISTERS: needs 224 bytes, got 223"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(decode_errors)

BOOST_DATA_TEST_CASE(refused_with_a_one_line_message, boost::unit_test::data::make(kRows), row) {
  std::optional<std::string> message = decode_error(row.decoder, row.input);
  BOOST_TEST_REQUIRE(message.has_value());
  BOOST_TEST(*message == row.message);
  BOOST_TEST(message->find('\n') == std::string::npos);
}

// Every prefix of a valid message shorter than its fixed part is refused (and
// none is read past: the prefix is its own buffer, so ASan would see it).
BOOST_AUTO_TEST_CASE(every_short_prefix_is_refused) {
  const std::pair<Decoder, std::size_t> fixed[] = {
      {Decoder::Manipulate, 56}, {Decoder::StateChange, 240}, {Decoder::DebugIo, 16},
      {Decoder::FileIo, 64},     {Decoder::TraceIo, 64},      {Decoder::ControlRequest, 64},
      {Decoder::Context, 1232},  {Decoder::SpecialRegisters, 224}};
  for (auto [decoder, size] : fixed) {
    for (std::size_t n = 0; n < size; ++n) {
      Bytes prefix(n, 0);
      BOOST_TEST_INFO("decoder " << static_cast<int>(decoder) << ", " << n << " bytes");
      BOOST_TEST(decode_error(decoder, prefix).has_value());
    }
  }
}

// WinDbg leaves junk in request fields; those are kept, not refused.
BOOST_AUTO_TEST_CASE(request_junk_is_accepted) {
  // A read request with a stale ActualBytes and no data; ReturnStatus 0x103 and processor 7.
  auto read = wire::decode_manipulate(Raw(56).u32(0, 0x3130).u16(6, 7).u32(8, 0x103).u32(24, 16).u32(28, 99));
  BOOST_TEST_REQUIRE(read.has_value());
  BOOST_TEST(read->return_status == 0x103u);
  BOOST_TEST(read->processor == 7);
  // Continue2 carries its status in ReturnStatus too.
  auto cont = wire::decode_manipulate(Raw(56).u32(0, 0x313C).u32(8, 0x10002).u32(16, 0x10002));
  BOOST_TEST_REQUIRE(cont.has_value());
  BOOST_TEST(cont->return_status == 0x10002u);
  // An exception state change followed by extra bytes.
  BOOST_TEST(wire::decode_state_change(Raw(240).u32(0, 0x3030).append(unhex("0102")).bytes()).has_value());
  // A larger CONTEXT buffer (XSTATE appended).
  BOOST_TEST(wire::decode_context(Bytes(1232 + 64, 0)).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
