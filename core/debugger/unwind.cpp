// The x64 unwinder: facts from Microsoft's "x64 exception handling"
// (https://learn.microsoft.com/cpp/build/exception-handling-x64): the layouts of
// RUNTIME_FUNCTION, UNWIND_INFO and UNWIND_CODE, each operation's slots and
// effect, chained unwind info, and the unwind procedure (epilogue test first,
// prolog codes applied only up to rip, the return address popped last unless a
// machine frame supplied rip and rsp).
#include "core/debugger/unwind.hpp"

#include <algorithm>

namespace openkd::debugger::unwind {
namespace {

constexpr std::uint64_t kBlock = 0x800;            // stack/code reads come in aligned blocks of this size
constexpr std::uint64_t kMaxFramePointerGap = 1u << 20;  // the fallback trusts rbp only this far above rsp
constexpr std::size_t kMaxCachedBlocks = 4096;

std::uint16_t u16(std::span<const std::uint8_t> b, std::size_t at) { return std::uint16_t(b[at] | (b[at + 1] << 8)); }
std::uint32_t u32(std::span<const std::uint8_t> b, std::size_t at) {
  return std::uint32_t(b[at]) | (std::uint32_t(b[at + 1]) << 8) | (std::uint32_t(b[at + 2]) << 16) |
         (std::uint32_t(b[at + 3]) << 24);
}
std::uint64_t u64(std::span<const std::uint8_t> b, std::size_t at) {
  return std::uint64_t(u32(b, at)) | (std::uint64_t(u32(b, at + 4)) << 32);
}

}  // namespace

std::string_view register_name(unsigned reg) {
  static constexpr std::string_view kNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                                "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  return reg < 16 ? kNames[reg] : "?";
}

std::string_view walk_end_text(WalkEnd end) {
  switch (end) {
    case WalkEnd::Count: return "frame count reached";
    case WalkEnd::ZeroReturn: return "return address is zero";
    case WalkEnd::StackNotIncreasing: return "the caller's stack pointer is not above the callee's";
    case WalkEnd::Unreadable: return "stack memory is unreadable";
    case WalkEnd::BadUnwindData: return "unwind data is malformed";
    case WalkEnd::Cancelled: return "cancelled";
  }
  return "?";
}

std::size_t unwind_info_size(std::span<const std::uint8_t> header) {
  if (header.size() < 4) return 0;
  const std::uint8_t flags = header[0] >> 3;
  const std::size_t count = header[2];
  std::size_t size = 4 + 2 * ((count + 1) & ~std::size_t(1));
  if (flags & UNW_FLAG_CHAININFO)
    size += 12;
  else if (flags & (UNW_FLAG_EHANDLER | UNW_FLAG_UHANDLER))
    size += 4;
  return size;
}

std::optional<UnwindInfo> parse_unwind_info(std::span<const std::uint8_t> b) {
  if (b.size() < 4) return std::nullopt;
  UnwindInfo info;
  info.version = b[0] & 7;
  info.flags = b[0] >> 3;
  info.prolog_size = b[1];
  const std::size_t count = b[2];
  info.frame_register = b[3] & 0xF;
  info.frame_offset = b[3] >> 4;
  if (info.version != 1 && info.version != 2) return std::nullopt;
  if (b.size() < unwind_info_size(b)) return std::nullopt;
  for (std::size_t i = 0; i < count;) {
    UnwindCode c;
    c.code_offset = b[4 + 2 * i];
    c.op = b[5 + 2 * i] & 0xF;
    c.info = b[5 + 2 * i] >> 4;
    auto slot = [&](std::size_t k) { return u16(b, 4 + 2 * (i + k)); };
    switch (c.op) {
      case UWOP_PUSH_NONVOL:
      case UWOP_ALLOC_SMALL:
      case UWOP_SET_FPREG:
        c.slots = 1;
        break;
      case UWOP_PUSH_MACHFRAME:
        if (c.info > 1) return std::nullopt;
        c.slots = 1;
        break;
      case UWOP_ALLOC_LARGE:
        if (c.info == 0) {
          c.slots = 2;
        } else if (c.info == 1) {
          c.slots = 3;
        } else {
          return std::nullopt;
        }
        break;
      case UWOP_SAVE_NONVOL:
      case UWOP_SAVE_XMM128:
        c.slots = 2;
        break;
      case UWOP_SAVE_NONVOL_FAR:
      case UWOP_SAVE_XMM128_FAR:
        c.slots = 3;
        break;
      case UWOP_EPILOG:  // version 2 only: epilogue descriptors, nothing to undo
        if (info.version != 2) return std::nullopt;
        c.slots = 2;
        break;
      default:  // UWOP_SPARE_CODE and 11..15 are undefined
        return std::nullopt;
    }
    if (i + c.slots > count) return std::nullopt;
    if (c.slots == 2) c.operand = slot(1);
    if (c.slots == 3) c.operand = std::uint32_t(slot(1)) | (std::uint32_t(slot(2)) << 16);
    if (c.op == UWOP_SET_FPREG && info.frame_register == 0) return std::nullopt;
    info.codes.push_back(c);
    i += c.slots;
  }
  const std::size_t trailer = 4 + 2 * ((count + 1) & ~std::size_t(1));
  if (info.flags & UNW_FLAG_CHAININFO)
    info.chained = RuntimeFunction{u32(b, trailer), u32(b, trailer + 4), u32(b, trailer + 8)};
  return info;
}

Image read_image(const ReadMemory& read, std::uint64_t base, std::uint64_t size) {
  Image image{base, size, 0, 0};
  std::array<std::uint8_t, 4> lfanew{};
  if (!read(base + 0x3C, lfanew)) return image;
  const std::uint32_t nt = u32(lfanew, 0);
  if (nt > 0x1000) return image;
  std::array<std::uint8_t, 24 + 112 + 4 * 8> h{};  // signature, COFF, optional header up to data directory 3
  if (!read(base + nt, h)) return image;
  if (u32(h, 0) != 0x00004550 || u16(h, 24) != 0x20B) return image;
  const std::uint32_t directories = u32(h, 24 + 108);
  if (directories <= 3) return image;
  const std::uint32_t rva = u32(h, 24 + 112 + 3 * 8), bytes = u32(h, 24 + 112 + 3 * 8 + 4);
  if (rva == 0 || bytes < 12 || rva >= size || bytes > size - rva || bytes > kMaxPdataBytes) return image;
  image.pdata_rva = rva;
  image.pdata_size = bytes;
  return image;
}

Unwinder::Unwinder(ReadMemory read, std::vector<Image> images) : read_(std::move(read)), images_(std::move(images)) {}

bool Unwinder::read(std::uint64_t address, std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = address + done;
    const std::uint64_t block = at & ~(kBlock - 1);
    auto it = blocks_.find(block);
    if (it == blocks_.end()) {
      if (blocks_.size() >= kMaxCachedBlocks) blocks_.clear();
      std::vector<std::uint8_t> bytes(kBlock);
      it = blocks_.emplace(block, read_(block, bytes) ? std::optional(std::move(bytes)) : std::nullopt).first;
    }
    const std::size_t n = std::min<std::size_t>(out.size() - done, block + kBlock - at);
    if (it->second) {
      std::copy_n(it->second->begin() + (at - block), n, out.begin() + done);
    } else if (!read_(at, out.subspan(done, n))) {  // part of the block may still be readable
      return false;
    }
    done += n;
  }
  return true;
}

bool Unwinder::read_u64(std::uint64_t address, std::uint64_t& value) {
  std::array<std::uint8_t, 8> b{};
  if (!read(address, b)) return false;
  value = u64(b, 0);
  return true;
}

const std::vector<RuntimeFunction>& Unwinder::table(const Image& image) {
  auto it = tables_.find(image.base);
  if (it != tables_.end()) return it->second;
  std::vector<RuntimeFunction> entries;
  if (image.pdata_size >= 12 && image.pdata_size <= kMaxPdataBytes) {
    std::vector<std::uint8_t> raw(image.pdata_size - image.pdata_size % 12);
    if (read_(image.base + image.pdata_rva, raw)) {
      for (std::size_t at = 0; at + 12 <= raw.size(); at += 12) {
        RuntimeFunction f{u32(raw, at), u32(raw, at + 4), u32(raw, at + 8)};
        if (f.begin == 0 && f.end == 0) continue;  // padding
        if (f.end <= f.begin || f.end > image.size) continue;
        entries.push_back(f);
      }
      // The table is sorted in a valid image; a hostile one is sorted here so the search stays right.
      std::ranges::sort(entries, {}, &RuntimeFunction::begin);
    }
  }
  return tables_.emplace(image.base, std::move(entries)).first->second;
}

const Image* Unwinder::image_with_pdata(std::uint64_t pc) {
  for (const auto& image : images_)
    if (image.contains(pc) && image.pdata_size != 0) return &image;
  return nullptr;
}

std::optional<std::pair<RuntimeFunction, std::uint64_t>> Unwinder::entry_at(std::uint64_t pc) {
  const Image* image = image_with_pdata(pc);
  if (!image) return std::nullopt;
  const auto& entries = table(*image);
  const std::uint64_t rva = pc - image->base;
  auto it = std::ranges::upper_bound(entries, rva, {}, &RuntimeFunction::begin);
  if (it == entries.begin()) return std::nullopt;
  --it;
  if (rva >= it->end) return std::nullopt;
  RuntimeFunction f = *it;
  // An entry whose UnwindData has bit 0 set points at another RUNTIME_FUNCTION
  // (an older form of chaining): use that one's unwind data.
  for (unsigned depth = 0; (f.unwind_info & 1) && depth < kMaxChainDepth; ++depth) {
    std::array<std::uint8_t, 12> raw{};
    if (!read(image->base + (f.unwind_info & ~1u), raw)) return std::nullopt;
    f.unwind_info = u32(raw, 8);
  }
  if (f.unwind_info & 1) return std::nullopt;
  return std::pair{f, image->base};
}

const UnwindInfo* Unwinder::unwind_info(std::uint64_t image_base, std::uint32_t rva) {
  const std::uint64_t address = image_base + rva;
  auto it = unwind_infos_.find(address);
  if (it != unwind_infos_.end()) return it->second ? &*it->second : nullptr;
  std::optional<UnwindInfo> info;
  std::array<std::uint8_t, 4> header{};
  if (read(address, header)) {
    std::vector<std::uint8_t> bytes(unwind_info_size(header));
    if (read(address, bytes)) info = parse_unwind_info(bytes);
  }
  it = unwind_infos_.emplace(address, std::move(info)).first;
  return it->second ? &*it->second : nullptr;
}

std::optional<std::pair<RuntimeFunction, std::uint64_t>> Unwinder::function_at(std::uint64_t pc) {
  auto entry = entry_at(pc);
  if (!entry) return std::nullopt;
  RuntimeFunction f = entry->first;
  for (unsigned depth = 0; depth < kMaxChainDepth; ++depth) {
    const UnwindInfo* info = unwind_info(entry->second, f.unwind_info);
    if (!info || !info->chained) break;
    f = *info->chained;
  }
  return std::pair{f, entry->second};
}

std::vector<RuntimeFunction> Unwinder::function_ranges(std::uint64_t base, const RuntimeFunction& primary) {
  std::vector<RuntimeFunction> ranges{primary};
  const Image* image = nullptr;
  for (const auto& i : images_)
    if (i.base == base) image = &i;
  if (!image) return ranges;
  for (const auto& e : table(*image)) {
    if (e == primary) continue;
    RuntimeFunction f = e;
    for (unsigned depth = 0; depth < kMaxChainDepth && !(f.unwind_info & 1); ++depth) {
      const UnwindInfo* info = unwind_info(base, f.unwind_info);
      if (!info || !info->chained) break;
      f = *info->chained;
      if (f.begin == primary.begin) {
        ranges.push_back(e);
        break;
      }
    }
  }
  std::ranges::sort(ranges.begin() + 1, ranges.end(), {}, &RuntimeFunction::begin);
  return ranges;
}

bool Unwinder::emulate_epilogue(const Registers& in, const RuntimeFunction& fn, std::uint64_t base, Registers& out,
                                bool& failed) {
  // The documented epilogue: an optional `add rsp,imm` or `lea rsp,[fpreg+disp]`,
  // pops of nonvolatile registers, then `ret` or a `jmp` that leaves the function
  // (rel8/rel32 to outside it, or an indirect jmp through memory with ModRM mod 00).
  std::array<std::uint8_t, 64> code{};
  std::size_t have = code.size();
  while (have > 0 && !read(in.rip, std::span(code).first(have))) have /= 2;
  if (have == 0) return false;
  const std::span<const std::uint8_t> c(code.data(), have);
  const UnwindInfo* info = unwind_info(base, fn.unwind_info);
  std::size_t i = 0;
  Registers r = in;
  auto at = [&](std::size_t k) -> int { return i + k < c.size() ? c[i + k] : -1; };
  // add rsp, imm8 / imm32
  if (at(0) == 0x48 && at(1) == 0x83 && at(2) == 0xC4 && at(3) >= 0) {
    r.gpr[Rsp] += std::uint64_t(std::int64_t(std::int8_t(at(3))));
    i += 4;
  } else if (at(0) == 0x48 && at(1) == 0x81 && at(2) == 0xC4 && at(6) >= 0) {
    r.gpr[Rsp] += std::uint64_t(std::int64_t(std::int32_t(u32(c, i + 3))));
    i += 7;
  } else if ((at(0) == 0x48 || at(0) == 0x49) && at(1) == 0x8D && at(2) >= 0 && info && info->frame_register != 0) {
    // lea rsp, [fpreg + disp8/disp32]: only with the function's frame register
    const int modrm = at(2);
    const unsigned mod = unsigned(modrm) >> 6, reg = (unsigned(modrm) >> 3) & 7,
                   rm = (unsigned(modrm) & 7) | (at(0) == 0x49 ? 8u : 0u);
    if (reg == 4 && rm == info->frame_register && (rm & 7) != 4 && (mod == 1 || mod == 2)) {
      if (mod == 1 && at(3) >= 0) {
        r.gpr[Rsp] = r.gpr[rm] + std::uint64_t(std::int64_t(std::int8_t(at(3))));
        i += 4;
      } else if (mod == 2 && at(6) >= 0) {
        r.gpr[Rsp] = r.gpr[rm] + std::uint64_t(std::int64_t(std::int32_t(u32(c, i + 3))));
        i += 7;
      } else {
        return false;
      }
    } else {
      return false;
    }
  }
  // pops
  std::vector<unsigned> pops;
  for (;;) {
    if (at(0) >= 0x58 && at(0) <= 0x5F && (at(0) & 7) != Rsp) {
      pops.push_back(unsigned(at(0)) - 0x58);
      i += 1;
    } else if (at(0) == 0x41 && at(1) >= 0x58 && at(1) <= 0x5F) {
      pops.push_back(unsigned(at(1)) - 0x58 + 8);
      i += 2;
    } else {
      break;
    }
  }
  // the terminator
  bool ends = false;
  if (at(0) == 0xC3 || (at(0) == 0xF3 && at(1) == 0xC3) || (at(0) == 0xC2 && at(2) >= 0)) {
    ends = true;
  } else if (at(0) == 0xE9 || at(0) == 0xEB) {
    const std::size_t length = at(0) == 0xE9 ? 5 : 2;
    if (i + length <= c.size()) {
      const std::int64_t rel = at(0) == 0xE9 ? std::int32_t(u32(c, i + 1)) : std::int8_t(at(1));
      const std::uint64_t target = in.rip + i + length + std::uint64_t(rel);
      ends = target < base + fn.begin || target >= base + fn.end;
    }
  } else {
    std::size_t k = (at(0) >= 0x40 && at(0) <= 0x4F) ? 1 : 0;  // an optional REX prefix
    if (at(k) == 0xFF && at(k + 1) >= 0) {
      const unsigned modrm = unsigned(at(k + 1));
      ends = (modrm >> 6) == 0 && ((modrm >> 3) & 7) == 4;
    }
  }
  if (!ends) return false;
  for (unsigned reg : pops) {
    std::uint64_t v = 0;
    if (!read_u64(r.gpr[Rsp], v)) {
      failed = true;
      return true;
    }
    r.gpr[reg] = v;
    r.restored |= std::uint16_t(1u << reg);
    r.gpr[Rsp] += 8;
  }
  std::uint64_t ret = 0;
  if (!read_u64(r.gpr[Rsp], ret)) {
    failed = true;
    return true;
  }
  r.rip = ret;
  r.gpr[Rsp] += 8;
  out = r;
  return true;
}

std::optional<Registers> Unwinder::step(const Registers& regs, Frame& frame, WalkEnd& why) {
  frame.instruction_pointer = regs.rip;
  frame.stack_pointer = regs.rsp();
  frame.registers = regs;
  Registers out = regs;
  out.restored = 0;
  out.xmm_restored = 0;

  auto entry = entry_at(regs.rip);
  if (!entry) {
    frame.function.reset();
    const std::uint64_t rbp = regs.gpr[Rbp];
    std::uint64_t ret = 0, saved_rbp = 0;
    if (!image_with_pdata(regs.rip) && rbp > regs.rsp() && rbp - regs.rsp() <= kMaxFramePointerGap &&
        rbp % 8 == 0 && read_u64(rbp + 8, ret) && read_u64(rbp, saved_rbp)) {
      frame.unwound_by = FrameKind::FramePointer;
      out.rip = ret;
      out.gpr[Rsp] = rbp + 16;
      out.gpr[Rbp] = saved_rbp;
      out.restored |= 1u << Rbp;
      return out;
    }
    frame.unwound_by = FrameKind::Leaf;
    if (!read_u64(regs.rsp(), ret)) {
      why = WalkEnd::Unreadable;
      return std::nullopt;
    }
    out.rip = ret;
    out.gpr[Rsp] += 8;
    return out;
  }

  const std::uint64_t base = entry->second;
  frame.image_base = base;
  if (auto primary = function_at(regs.rip)) frame.function = primary->first;
  frame.unwound_by = FrameKind::Unwind;

  bool failed = false;
  if (emulate_epilogue(regs, entry->first, base, out, failed)) {
    if (failed) {
      why = WalkEnd::Unreadable;
      return std::nullopt;
    }
    return out;
  }

  RuntimeFunction fn = entry->first;
  const std::uint64_t offset = regs.rip - (base + fn.begin);
  bool machine_frame = false;
  for (unsigned depth = 0;; ++depth) {
    const UnwindInfo* info = unwind_info(base, fn.unwind_info);
    if (!info || depth >= kMaxChainDepth) {
      why = WalkEnd::BadUnwindData;
      return std::nullopt;
    }
    // Only the first (the entry covering rip) can be mid-prolog; a chained
    // parent's prolog has run in full.
    const bool in_prolog = depth == 0 && offset < info->prolog_size;
    auto applies = [&](const UnwindCode& c) { return !in_prolog || c.code_offset <= offset; };
    std::uint64_t frame_base = out.gpr[Rsp];
    if (info->frame_register != 0) {
      for (const auto& c : info->codes)
        if (c.op == UWOP_SET_FPREG && applies(c))
          frame_base = out.gpr[info->frame_register] - std::uint64_t(info->frame_offset) * 16;
    }
    for (const auto& c : info->codes) {
      if (!applies(c)) continue;
      std::uint64_t v = 0;
      switch (c.op) {
        case UWOP_PUSH_NONVOL:
          if (!read_u64(out.gpr[Rsp], v)) break;
          out.gpr[c.info] = v;
          out.restored |= std::uint16_t(1u << c.info);
          out.gpr[Rsp] += 8;
          continue;
        case UWOP_ALLOC_LARGE:
          out.gpr[Rsp] += c.info == 0 ? std::uint64_t(c.operand) * 8 : std::uint64_t(c.operand);
          continue;
        case UWOP_ALLOC_SMALL:
          out.gpr[Rsp] += std::uint64_t(c.info) * 8 + 8;
          continue;
        case UWOP_SET_FPREG:
          out.gpr[Rsp] = out.gpr[info->frame_register] - std::uint64_t(info->frame_offset) * 16;
          continue;
        case UWOP_SAVE_NONVOL:
        case UWOP_SAVE_NONVOL_FAR: {
          const std::uint64_t at = frame_base + (c.op == UWOP_SAVE_NONVOL ? std::uint64_t(c.operand) * 8 : c.operand);
          if (!read_u64(at, v)) break;
          out.gpr[c.info] = v;
          out.restored |= std::uint16_t(1u << c.info);
          continue;
        }
        case UWOP_SAVE_XMM128:
        case UWOP_SAVE_XMM128_FAR: {
          const std::uint64_t at = frame_base + (c.op == UWOP_SAVE_XMM128 ? std::uint64_t(c.operand) * 16 : c.operand);
          std::array<std::uint8_t, 16> x{};
          if (!read(at, x)) break;
          out.xmm[c.info] = Xmm{u64(x, 0), u64(x, 8)};
          out.xmm_restored |= std::uint16_t(1u << c.info);
          continue;
        }
        case UWOP_PUSH_MACHFRAME: {
          // [rsp] = rip, cs, rflags, rsp, ss; with an error code pushed first, one slot higher.
          const std::uint64_t at = out.gpr[Rsp] + (c.info == 1 ? 8 : 0);
          std::uint64_t rip = 0, rsp = 0;
          if (!read_u64(at, rip) || !read_u64(at + 24, rsp)) break;
          out.rip = rip;
          out.gpr[Rsp] = rsp;
          machine_frame = true;
          frame.machine_frame = at;
          continue;
        }
        case UWOP_EPILOG:
          continue;
        default:
          why = WalkEnd::BadUnwindData;
          return std::nullopt;
      }
      why = WalkEnd::Unreadable;  // a `break` above: a read failed
      return std::nullopt;
    }
    if (!info->chained) break;
    fn = *info->chained;
  }
  if (machine_frame) {
    frame.unwound_by = FrameKind::MachineFrame;
    return out;
  }
  std::uint64_t ret = 0;
  if (!read_u64(out.gpr[Rsp], ret)) {
    why = WalkEnd::Unreadable;
    return std::nullopt;
  }
  out.rip = ret;
  out.gpr[Rsp] += 8;
  return out;
}

Walk Unwinder::walk(const Registers& start, std::size_t max_frames, const std::function<bool()>& cancelled) {
  Walk w;
  max_frames = std::min(max_frames, kMaxFrames);
  Registers regs = start;
  while (w.frames.size() < max_frames) {
    if (cancelled && cancelled()) {
      w.end = WalkEnd::Cancelled;
      return w;
    }
    Frame f;
    WalkEnd why = WalkEnd::Count;
    auto next = step(regs, f, why);
    if (!next) {
      w.frames.push_back(f);
      w.end = why;
      return w;
    }
    f.return_address = next->rip;
    f.caller_stack_pointer = next->rsp();
    w.frames.push_back(f);
    if (next->rip == 0) {
      w.end = WalkEnd::ZeroReturn;
      return w;
    }
    if (next->rsp() <= regs.rsp()) {
      w.end = WalkEnd::StackNotIncreasing;
      return w;
    }
    regs = *next;
  }
  w.end = WalkEnd::Count;
  return w;
}

}  // namespace openkd::debugger::unwind
