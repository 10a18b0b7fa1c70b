// One x64 instruction decoded (Zydis) and written as KD writes it:
// `fffff800`00401234 4889442408      mov     qword ptr [rsp+8],rax`,
// MASM numbers (10h, 0C0000005h), branch targets as `nt!Sym (fffff800`00401100)`.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace openkd::commands {

struct Instruction {
  std::uint64_t address = 0;
  std::vector<std::uint8_t> bytes;
  std::string mnemonic;  // "mov", "rep stos", "int"
  std::string operands;  // "qword ptr [rsp+8],rax"
  bool is_call = false;
  bool is_return = false;
  bool is_repeated_string = false;  // rep-prefixed: `p` steps over it like a call
  std::optional<std::uint64_t> branch_target;
  std::size_t length() const { return bytes.size(); }
};

/// Turns an address into "nt!KeBugCheckEx" (or "" when unknown) for operands.
using Symbolizer = std::function<std::string(std::uint64_t)>;

/// Decodes the instruction at the start of `code`; nullopt if the bytes are not one.
std::optional<Instruction> decode_instruction(std::uint64_t address, std::span<const std::uint8_t> code,
                                              const Symbolizer& symbolize);

/// The KD line for an instruction (no newline).
std::string format_instruction(const Instruction& instruction);
/// The KD line for an unreadable address: `fffff800`00401234 ??              ???`.
std::string format_unreadable_instruction(std::uint64_t address);

}  // namespace openkd::commands
