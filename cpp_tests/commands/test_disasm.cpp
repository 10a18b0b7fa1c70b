// One instruction at a time, as KD's disassembler writes it.
#include <boost/test/unit_test.hpp>

#include <vector>

#include "core/commands/disasm.hpp"

using namespace openkd::commands;

BOOST_AUTO_TEST_CASE(instructions_read_as_kd_writes_them) {
  struct Row {
    std::vector<std::uint8_t> bytes;
    std::string_view line;
  };
  const std::uint64_t at = 0xFFFFF80000401000ull;
  const Row rows[] = {
      {{0xCC}, "fffff800`00401000 cc              int     3"},
      {{0xC3}, "fffff800`00401000 c3              ret"},
      {{0x48, 0x83, 0xEC, 0x28}, "fffff800`00401000 4883ec28        sub     rsp,28h"},
      {{0x48, 0x83, 0xE4, 0xF0}, "fffff800`00401000 4883e4f0        and     rsp,0FFFFFFFFFFFFFFF0h"},
      {{0xB8, 0x05, 0x00, 0x00, 0xC0}, "fffff800`00401000 b8050000c0      mov     eax,0C0000005h"},
      {{0x48, 0x89, 0x4C, 0x24, 0x08}, "fffff800`00401000 48894c2408      mov     qword ptr [rsp+8],rcx"},
      {{0x48, 0x8B, 0x44, 0x24, 0xF8}, "fffff800`00401000 488b4424f8      mov     rax,qword ptr [rsp-8]"},
      {{0x48, 0x8D, 0x04, 0x8B}, "fffff800`00401000 488d048b        lea     rax,[rbx+rcx*4]"},
      {{0x65, 0x48, 0x8B, 0x04, 0x25, 0x88, 0x01, 0x00, 0x00},
       "fffff800`00401000 65488b042588010000 mov     rax,qword ptr gs:[188h]"},
      {{0x75, 0x10}, "fffff800`00401000 7510            jne     sym (fffff800`00401012)"},
      {{0x74, 0xFE}, "fffff800`00401000 74fe            je      sym (fffff800`00401000)"},
      {{0x0F, 0x43, 0xC1}, "fffff800`00401000 0f43c1          cmovae  eax,ecx"},
      {{0xE8, 0x00, 0x00, 0x00, 0x00}, "fffff800`00401000 e800000000      call    sym (fffff800`00401005)"},
      {{0x48, 0x8B, 0x05, 0x10, 0x00, 0x00, 0x00}, "fffff800`00401000 488b0510000000  mov     rax,qword ptr [sym (fffff800`00401017)]"},
      {{0xF3, 0x48, 0xAB}, "fffff800`00401000 f348ab          rep stosq"},
  };
  const Symbolizer symbolize = [](std::uint64_t) { return std::string("sym"); };
  for (const auto& row : rows) {
    auto in = decode_instruction(at, row.bytes, symbolize);
    BOOST_TEST_INFO("expected: " << row.line);
    BOOST_REQUIRE(in.has_value());
    BOOST_TEST(format_instruction(*in) == row.line);
    BOOST_TEST(in->length() == row.bytes.size());
  }
}

BOOST_AUTO_TEST_CASE(calls_returns_and_repeats_are_told_apart) {
  const std::vector<std::uint8_t> call{0xFF, 0xD0}, ret{0xC3}, rep{0xF3, 0xA4}, nop{0x90};
  BOOST_TEST(decode_instruction(0, call, {})->is_call);
  BOOST_TEST(decode_instruction(0, ret, {})->is_return);
  BOOST_TEST(decode_instruction(0, rep, {})->is_repeated_string);
  BOOST_TEST(!decode_instruction(0, nop, {})->is_call);
  // Without a symbolizer, targets are bare addresses.
  const std::vector<std::uint8_t> jump{0xEB, 0x00};
  BOOST_TEST(decode_instruction(0x1000, jump, {})->operands == "00000000`00001002");
}

BOOST_AUTO_TEST_CASE(truncated_and_invalid_bytes_are_not_instructions) {
  const std::vector<std::uint8_t> truncated{0x48, 0x8B}, invalid{0x0F, 0xFF}, empty{};
  BOOST_TEST(!decode_instruction(0, truncated, {}).has_value());
  BOOST_TEST(!decode_instruction(0, invalid, {}).has_value());
  BOOST_TEST(!decode_instruction(0, empty, {}).has_value());
  BOOST_TEST(format_unreadable_instruction(0x1000) == "00000000`00001000 ??              ???");
}
