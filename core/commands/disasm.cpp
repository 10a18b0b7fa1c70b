#include "core/commands/disasm.hpp"

#include <Zydis/Zydis.h>
#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <utility>

#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

std::string lower_register(ZydisRegister reg) {
  const char* s = ZydisRegisterGetString(reg);
  return s ? s : "?";
}

std::string size_ptr(std::uint16_t bits) {
  switch (bits) {
    case 8: return "byte ptr ";
    case 16: return "word ptr ";
    case 32: return "dword ptr ";
    case 48: return "fword ptr ";
    case 64: return "qword ptr ";
    case 80: return "tbyte ptr ";
    case 128: return "xmmword ptr ";
    case 256: return "ymmword ptr ";
    case 512: return "zmmword ptr ";
    default: return "";
  }
}

std::string symbolic_address(std::uint64_t address, const Symbolizer& symbolize) {
  std::string name = symbolize ? symbolize(address) : std::string{};
  return name.empty() ? hex64(address) : fmt::format("{} ({})", name, hex64(address));
}

std::string format_operand(const ZydisDecodedInstruction& in, const ZydisDecodedOperand& op, std::uint64_t address,
                           const Symbolizer& symbolize, std::optional<std::uint64_t>& branch_target) {
  switch (op.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
      return lower_register(op.reg.value);
    case ZYDIS_OPERAND_TYPE_IMMEDIATE: {
      if (op.imm.is_relative) {
        const std::uint64_t target = address + in.length + op.imm.value.u;
        branch_target = target;
        return symbolic_address(target, symbolize);
      }
      // A sign-extended immediate shows at the operation's width, as it acts: `and rsp,0FFFFFFFFFFFFFFF0h`.
      const unsigned bits = (op.imm.is_signed || !op.size) ? in.operand_width : op.size;
      const std::uint64_t mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
      return masm_hex(op.imm.value.u & mask);
    }
    case ZYDIS_OPERAND_TYPE_MEMORY: {
      std::string s = op.mem.type == ZYDIS_MEMOP_TYPE_AGEN ? "" : size_ptr(op.size);
      // fs/gs always show (they are how the kernel reaches its KPCR); others only when
      // prefixed, as written (64-bit mode ignores a cs/ds/es/ss override, KD still shows it).
      if (op.mem.segment == ZYDIS_REGISTER_FS || op.mem.segment == ZYDIS_REGISTER_GS) {
        s += lower_register(op.mem.segment) + ":";
      } else {
        // The last segment prefix as written: Zydis drops one it finds ignored in
        // 64-bit mode (the cs: of `nop word ptr cs:[rax+rax]`), KD shows it.
        std::string written;
        for (unsigned i = 0; i < in.raw.prefix_count && i < ZYDIS_MAX_INSTRUCTION_LENGTH; ++i) {
          switch (in.raw.prefixes[i].value) {
            case 0x2E: written = "cs:"; break;
            case 0x36: written = "ss:"; break;
            case 0x26: written = "es:"; break;
            case 0x3E: written = "ds:"; break;
            default: break;
          }
        }
        s += written;
      }
      if (op.mem.base == ZYDIS_REGISTER_RIP) {
        return s + "[" + symbolic_address(address + in.length + op.mem.disp.value, symbolize) + "]";
      }
      std::string inner;
      if (op.mem.base != ZYDIS_REGISTER_NONE) inner = lower_register(op.mem.base);
      if (op.mem.index != ZYDIS_REGISTER_NONE) {
        if (!inner.empty()) inner += "+";
        inner += lower_register(op.mem.index);
        if (op.mem.scale > 1) inner += fmt::format("*{}", op.mem.scale);
      }
      const std::int64_t disp = op.mem.disp.has_displacement ? op.mem.disp.value : 0;
      if (inner.empty()) {
        inner = masm_hex(static_cast<std::uint64_t>(disp));
      } else if (disp > 0) {
        inner += "+" + masm_hex(static_cast<std::uint64_t>(disp));
      } else if (disp < 0) {
        inner += "-" + masm_hex(0 - static_cast<std::uint64_t>(disp));
      }
      return s + "[" + inner + "]";
    }
    case ZYDIS_OPERAND_TYPE_POINTER:
      return fmt::format("{}:{}", masm_hex(op.ptr.segment), masm_hex(op.ptr.offset));
    default:
      return "?";
  }
}

// Zydis spells conditions by flag (jnz, cmovnb, setnbe); KD's disassembler by
// comparison (jne, cmovae, seta).
std::string kd_mnemonic(std::string mnemonic) {
  static constexpr std::pair<std::string_view, std::string_view> kConditions[] = {
      {"nz", "ne"}, {"z", "e"}, {"nb", "ae"}, {"nbe", "a"}, {"nl", "ge"}, {"nle", "g"}};
  for (std::string_view prefix : {"j", "cmov", "set"}) {
    if (!mnemonic.starts_with(prefix)) continue;
    const std::string_view condition = std::string_view(mnemonic).substr(prefix.size());
    for (const auto& [zydis, kd] : kConditions)
      if (condition == zydis) return std::string(prefix) + std::string(kd);
  }
  return mnemonic;
}

}  // namespace

std::optional<Instruction> decode_instruction(std::uint64_t address, std::span<const std::uint8_t> code,
                                              const Symbolizer& symbolize) {
  ZydisDecoder decoder;
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64))) return std::nullopt;
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code.data(), code.size(), &in, ops))) return std::nullopt;

  Instruction out;
  out.address = address;
  out.bytes.assign(code.begin(), code.begin() + in.length);
  const char* mnemonic = ZydisMnemonicGetString(in.mnemonic);
  out.mnemonic = kd_mnemonic(mnemonic ? mnemonic : "???");
  out.is_call = in.meta.category == ZYDIS_CATEGORY_CALL;
  out.is_return = in.meta.category == ZYDIS_CATEGORY_RET;
  const bool rep = in.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE);
  out.is_repeated_string = rep;
  std::string prefix;
  if (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) prefix = "lock ";
  if (in.attributes & ZYDIS_ATTRIB_HAS_REP) prefix = "rep ";
  if (in.attributes & ZYDIS_ATTRIB_HAS_REPE) prefix = "repe ";
  if (in.attributes & ZYDIS_ATTRIB_HAS_REPNE) prefix = "repne ";
  out.mnemonic = prefix + out.mnemonic;

  if (in.mnemonic == ZYDIS_MNEMONIC_INT3) {  // KD writes `int 3`
    out.mnemonic = "int";
    out.operands = "3";
    return out;
  }
  if (in.mnemonic == ZYDIS_MNEMONIC_NOP && in.opcode == 0x90 && in.operand_width == 16) {  // 66 90: KD writes `xchg ax,ax`
    out.mnemonic = "xchg";
    out.operands = "ax,ax";
    return out;
  }
  // KD writes the multi-byte nop (0F 1F /0) with its memory operand alone:
  // `nop     word ptr [rax+rax]`; Zydis also lists the ModRM register.
  const unsigned shown = in.mnemonic == ZYDIS_MNEMONIC_NOP ? std::min<unsigned>(in.operand_count_visible, 1)
                                                            : in.operand_count_visible;
  for (unsigned i = 0; i < shown; ++i) {
    if (i) out.operands += ",";
    out.operands += format_operand(in, ops[i], address, symbolize, out.branch_target);
  }
  return out;
}

std::string format_instruction(const Instruction& in) {
  std::string bytes;
  for (auto b : in.bytes) bytes += fmt::format("{:02x}", b);
  std::string line = fmt::format("{} {:<15} ", hex64(in.address), bytes);
  if (in.operands.empty()) return line + in.mnemonic;
  return line + fmt::format("{:<7} {}", in.mnemonic, in.operands);
}

std::string format_unreadable_instruction(std::uint64_t address) {
  return fmt::format("{} {:<15} ???", hex64(address), "??");
}

}  // namespace openkd::commands
