#include "fake_target.hpp"

#include <fmt/format.h>

#include "core/wire/bytes.hpp"

namespace openkd::testing {
namespace {

constexpr std::uint64_t kPage = 0x1000;

wire::Bytes le64(std::uint64_t v) {
  wire::Bytes b;
  wire::Writer(b).u64(v);
  return b;
}

debugger::Error fault(std::uint64_t address) { return {fmt::format("no memory at {:x}", address), 0xC0000005}; }

// The fake kernel's code, by offset from its base. Calls return where a real
// CPU would; KeBugCheckEx ends at the int 3 of RtlpBreakWithStatusInstruction.
struct Code {
  std::uint32_t rva;
  std::vector<std::uint8_t> bytes;
};
const std::vector<Code>& kernel_code() {
  static const std::vector<Code> code{
      // KiSystemStartup
      {0x1000, {0x48, 0x83, 0xEC, 0x28}},        // sub rsp,28h
      {0x1004, {0xE8, 0x77, 0x00, 0x00, 0x00}},  // call KiInitializeKernel
      {0x1009, {0xB9, 0x7E, 0x00, 0x00, 0x00}},  // mov ecx,7Eh
      {0x100E, {0xE8, 0xED, 0x00, 0x00, 0x00}},  // call KeBugCheckEx
      {0x1013, {0x48, 0x83, 0xC4, 0x28}},        // add rsp,28h
      {0x1017, {0xC3}},                          // ret
      // KiInitializeKernel
      {0x1080, {0x33, 0xC0}},                    // xor eax,eax
      {0x1082, {0x48, 0xFF, 0xC0}},              // inc rax
      {0x1085, {0xC3}},                          // ret
      // KeBugCheckEx
      {0x1100, {0x48, 0x89, 0x4C, 0x24, 0x08}},  // mov qword ptr [rsp+8],rcx
      {0x1105, {0x48, 0x89, 0x54, 0x24, 0x10}},  // mov qword ptr [rsp+10h],rdx
      {0x110A, {0xB9, 0x03, 0x00, 0x00, 0x00}},  // mov ecx,3
      {0x110F, {0xE8, 0xEC, 0x00, 0x00, 0x00}},  // call DbgBreakPointWithStatus
      {0x1114, {0xC3}},                          // ret
      // DbgBreakPointWithStatus, RtlpBreakWithStatusInstruction
      {0x1200, {0x48, 0x8B, 0xC1}},              // mov rax,rcx
      {0x1203, {0xCC}},                          // int 3
      {0x1204, {0xC3}},                          // ret
      // DbgBreakPoint
      {0x1210, {0xCC}},                          // int 3
      {0x1211, {0xC3}},                          // ret
      // a load from KeTickCount, for rip-relative operands
      {0x1220, {0x48, 0x8B, 0x05, 0xD9, 0x23, 0x00, 0x00}},  // mov rax,qword ptr [nt!KeTickCount]
      {0x1227, {0x65, 0x48, 0x8B, 0x04, 0x25, 0x88, 0x01, 0x00, 0x00}},  // mov rax,qword ptr gs:[188h]
      {0x1230, {0xB8, 0x05, 0x00, 0x00, 0xC0}},  // mov eax,0C0000005h
      {0x1235, {0xC3}},
  };
  return code;
}

}  // namespace

FakeTarget::FakeTarget() {
  ver.major_version = 0x0F;
  ver.minor_version = 19041;
  ver.flags = wire::kVersionFlagData | wire::kVersionFlagPtr64;
  ver.machine_type = 0x8664;
  ver.kern_base = kKernBase;
  ver.ps_loaded_module_list = kPsLoadedModuleList;
  ver.debugger_data_list = kDebuggerDataListHead;
  build_kernel();
  build_page_tables();

  ctx.context_flags = wire::kContextAll;
  ctx.seg_cs = 0x10;
  ctx.seg_ss = 0x18;
  ctx.seg_ds = ctx.seg_es = ctx.seg_gs = 0x2B;
  ctx.seg_fs = 0x53;
  ctx.eflags = 0x246;
  ctx.rcx = 1;
  ctx.rsp = kStackTop - 0x108;
  ctx.rip = kDbgBreakPoint;
  special.cr3 = kCr3;
  special.cr0 = 0x80050033;
  special.cr4 = 0x6F8;
  msrs[0xC0000082] = kKiSystemStartup;  // LSTAR
  msrs[0x1B] = 0xFEE00900;              // APIC base

  // The path the CPU walks, and what each arrival changes.
  for (std::uint32_t rva : {0x1210u, 0x1211u, 0x1000u, 0x1004u, 0x1080u, 0x1082u, 0x1085u, 0x1009u, 0x100Eu, 0x1100u,
                            0x1105u, 0x110Au, 0x110Fu, 0x1200u, 0x1203u})
    path.push_back(kKernBase + rva);
  effects[kKernBase + 0x1000] = [](wire::Context& c) { c.rsp += 8; };
  effects[kKernBase + 0x1004] = [](wire::Context& c) { c.rsp -= 0x28; };
  effects[kKernBase + 0x1080] = [](wire::Context& c) { c.rsp -= 8; };
  effects[kKernBase + 0x1082] = [](wire::Context& c) { c.rax = 0; c.eflags = 0x246; };
  effects[kKernBase + 0x1085] = [](wire::Context& c) { c.rax = 1; c.eflags = 0x202; };
  effects[kKernBase + 0x1009] = [](wire::Context& c) { c.rsp += 8; };
  effects[kKernBase + 0x100E] = [](wire::Context& c) { c.rcx = 0x7E; };
  effects[kKernBase + 0x1100] = [](wire::Context& c) { c.rsp -= 8; };
  effects[kKernBase + 0x110F] = [](wire::Context& c) { c.rcx = 3; };
  effects[kKernBase + 0x1200] = [](wire::Context& c) { c.rsp -= 8; };
  effects[kKernBase + 0x1203] = [](wire::Context& c) { c.rax = 3; };
  last = exception_stop(wire::kExceptionBreakpoint, kDbgBreakPoint);
}

std::uint8_t* FakeTarget::byte(std::map<std::uint64_t, Page>& space, std::uint64_t address) {
  auto it = space.find(address & ~(kPage - 1));
  return it == space.end() ? nullptr : &it->second[address & (kPage - 1)];
}

void FakeTarget::map(std::uint64_t address, std::size_t size) {
  for (std::uint64_t p = address & ~(kPage - 1); p < address + size; p += kPage) virtual_.try_emplace(p, Page{});
}

void FakeTarget::poke(std::uint64_t address, wire::ByteView bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (auto* b = byte(virtual_, address + i)) *b = bytes[i];
}

void FakeTarget::poke_u64(std::uint64_t address, std::uint64_t value) { poke(address, le64(value)); }

void FakeTarget::poke_physical(std::uint64_t address, wire::ByteView bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::uint64_t a = address + i;
    physical_.try_emplace(a & ~(kPage - 1), Page{});
    *byte(physical_, a) = bytes[i];
  }
}

void FakeTarget::write_image(std::uint64_t base, std::uint32_t size, std::string_view image_name,
                             const std::vector<FakeExport>& exports, std::uint32_t entry_rva) {
  map(base, size);
  wire::Bytes h(0x200, 0);
  h[0] = 'M';
  h[1] = 'Z';
  h[0x3C] = 0x80;
  wire::Bytes nt;
  wire::Writer w(nt);
  w.u32(0x00004550).u16(0x8664).u16(0).u32(0x5F8E3A1B).u32(0).u32(0).u16(0xF0).u16(0x22);
  // Optional header (PE32+), 0xF0 bytes.
  wire::Bytes opt(0xF0, 0);
  const std::uint32_t export_rva = 0x2000;
  const std::uint32_t n = static_cast<std::uint32_t>(exports.size());
  wire::Bytes dir;
  wire::Writer d(dir);
  const std::uint32_t functions = export_rva + 40, names = functions + 4 * n, ordinals = names + 4 * n;
  std::uint32_t strings = ordinals + 2 * n;
  const std::uint32_t image_name_rva = strings;
  strings += static_cast<std::uint32_t>(image_name.size() + 1);
  d.u32(0).u32(0x5F8E3A1B).u16(0).u16(0).u32(image_name_rva).u32(1).u32(n).u32(n).u32(functions).u32(names).u32(ordinals);
  for (const auto& e : exports) d.u32(e.rva);
  std::uint32_t name_at = strings;
  for (const auto& e : exports) {
    d.u32(name_at);
    name_at += static_cast<std::uint32_t>(e.name.size() + 1);
  }
  for (std::uint16_t i = 0; i < n; ++i) d.u16(i);
  d.bytes(wire::ByteView(reinterpret_cast<const std::uint8_t*>(image_name.data()), image_name.size())).u8(0);
  for (const auto& e : exports)
    d.bytes(wire::ByteView(reinterpret_cast<const std::uint8_t*>(e.name.data()), e.name.size())).u8(0);

  wire::Writer o(opt);
  opt.clear();
  o.u16(0x20B).u8(14).u8(0).u32(0).u32(0).u32(0).u32(entry_rva).u32(0x1000).u64(base).u32(0x1000).u32(0x200);
  o.pad_to(56);
  o.u32(size).u32(0x400).u32(0x1234).u16(1).u16(0);
  o.pad_to(108);
  o.u32(16).u32(export_rva).u32(static_cast<std::uint32_t>(dir.size()));
  o.pad_to(0xF0);
  nt.insert(nt.end(), opt.begin(), opt.end());
  std::copy(nt.begin(), nt.end(), h.begin() + 0x80);
  poke(base, h);
  poke(base + export_rva, dir);
}

void FakeTarget::build_kernel() {
  write_image(kKernBase, kKernSize, "simkrnl.exe",
              {{"KiSystemStartup", 0x1000}, {"KeBugCheckEx", 0x1100}, {"DbgBreakPointWithStatus", 0x1200},
               {"RtlpBreakWithStatusInstruction", 0x1203}, {"DbgBreakPoint", 0x1210}, {"KiReadTickCount", 0x1220},
               {"PsLoadedModuleList", 0x3000}, {"KdDebuggerDataBlock", 0x3100}, {"KiBugCheckData", 0x3400},
               {"NtBuildLab", 0x3500}, {"KeTickCount", 0x3600}},
              0x1000);
  for (const auto& c : kernel_code()) poke(kKernBase + c.rva, c.bytes);
  // KiInitializeKernel is not exported: `u` shows it as KiSystemStartup+0x80.

  write_image(kDriverBase, kDriverSize, "simdrv.sys", {{"DriverEntry", 0x1000}, {"TriggerBug", 0x3000}}, 0x1000);
  poke(kDriverBase + 0x1000, std::vector<std::uint8_t>{0x33, 0xC0, 0xC3});  // xor eax,eax; ret

  // LDR_DATA_TABLE_ENTRY list in pool: kernel, then driver.
  map(kPool, 0x2000);
  map(kStackTop - 0x2000, 0x2000);
  const std::uint64_t entries[2] = {kPool, kPool + 0x100};
  struct Names { std::string full, base; std::uint64_t dll_base, size, entry; };
  const Names names[2] = {{"\\SystemRoot\\system32\\simkrnl.exe", "simkrnl.exe", kKernBase, kKernSize, kKiSystemStartup},
                          {"\\SystemRoot\\system32\\drivers\\simdrv.sys", "simdrv.sys", kDriverBase, kDriverSize,
                           kDriverBase + 0x1000}};
  std::uint64_t strings = kPool + 0x800;
  for (int i = 0; i < 2; ++i) {
    const std::uint64_t e = entries[i];
    poke_u64(e, i == 0 ? entries[1] : kPsLoadedModuleList);          // Flink
    poke_u64(e + 8, i == 0 ? kPsLoadedModuleList : entries[0]);      // Blink
    poke_u64(e + 0x30, names[i].dll_base);
    poke_u64(e + 0x38, names[i].entry);
    poke_u64(e + 0x40, names[i].size);
    auto unicode = [&](std::uint64_t at, const std::string& s) {
      wire::Bytes header, text;
      wire::Writer(header).u16(static_cast<std::uint16_t>(2 * s.size())).u16(static_cast<std::uint16_t>(2 * s.size() + 2)).u32(0).u64(strings);
      for (char c : s) wire::Writer(text).u16(static_cast<std::uint8_t>(c));
      poke(at, header);
      poke(strings, text);
      strings += text.size() + 2;
    };
    unicode(e + 0x48, names[i].full);
    unicode(e + 0x58, names[i].base);
  }
  poke_u64(kPsLoadedModuleList, entries[0]);
  poke_u64(kPsLoadedModuleList + 8, entries[1]);

  // KDDEBUGGER_DATA64 and the list head GetVersion points at.
  poke_u64(kDebuggerDataListHead, kKdDebuggerDataBlock);
  poke_u64(kDebuggerDataListHead + 8, kKdDebuggerDataBlock);
  poke_u64(kKdDebuggerDataBlock, kDebuggerDataListHead);
  poke_u64(kKdDebuggerDataBlock + 8, kDebuggerDataListHead);
  poke(kKdDebuggerDataBlock + 0x10, std::vector<std::uint8_t>{'K', 'D', 'B', 'G', 0x40, 0x03, 0, 0});
  poke_u64(kKdDebuggerDataBlock + 0x18, kKernBase);
  poke_u64(kKdDebuggerDataBlock + 0x20, kRtlpBreakWithStatusInstruction);
  poke_u64(kKdDebuggerDataBlock + 0x48, kPsLoadedModuleList);
  poke_u64(kKdDebuggerDataBlock + 0x88, kKiBugCheckData);
  poke_u64(kKdDebuggerDataBlock + 0x208, kNtBuildLab);
  // What KeBugCheckEx(0x7E, ...) stores.
  poke_u64(kKiBugCheckData, 0x7E);
  poke_u64(kKiBugCheckData + 8, 0xFFFFFFFFC0000005ull);
  poke_u64(kKiBugCheckData + 16, 0xFFFFF80001001234ull);
  const std::string lab = "19041.1.amd64fre.openkd_sim.201020-1800";
  poke(kNtBuildLab, wire::ByteView(reinterpret_cast<const std::uint8_t*>(lab.data()), lab.size()));
  poke_u64(kKeTickCount, 0x1234);
}

void FakeTarget::build_page_tables() {
  // PML4 at CR3 with the Windows self-map slot 0x1ED; one PDPT, PD and PT map the kernel image.
  const std::uint64_t pdpt = kCr3 + 0x1000, pd = kCr3 + 0x2000, pt = kCr3 + 0x3000;
  const std::uint64_t va = kKernBase & 0x0000FFFFFFFFFFFFull;
  poke_physical(kCr3 + 8 * 0x1ED, le64(kCr3 | 0x63));
  poke_physical(kCr3 + 8 * ((va >> 39) & 0x1FF), le64(pdpt | 0x63));
  poke_physical(pdpt + 8 * ((va >> 30) & 0x1FF), le64(pd | 0x63));
  poke_physical(pd + 8 * ((va >> 21) & 0x1FF), le64(pt | 0x63));
  for (std::uint64_t page = 0; page < kKernSize / kPage; ++page) {
    const std::uint64_t nx = page == 1 ? 0 : 1ull << 63;  // only the code page executes
    poke_physical(pt + 8 * (((va >> 12) & 0x1FF) + page), le64((kKernPhysical + page * kPage) | 0x163 | nx));
    std::vector<std::uint8_t> bytes(kPage);
    (void)read_virtual(kKernBase + page * kPage, bytes);
    poke_physical(kKernPhysical + page * kPage, bytes);
  }
}

debugger::Result<std::size_t> FakeTarget::read_virtual(std::uint64_t address, std::span<std::uint8_t> out) {
  std::size_t n = 0;
  for (; n < out.size(); ++n) {
    const auto* b = byte(virtual_, address + n);
    if (!b) break;
    out[n] = *b;
  }
  if (n == 0 && !out.empty()) return std::unexpected(fault(address));
  return n;
}

debugger::Result<std::size_t> FakeTarget::write_virtual(std::uint64_t address, wire::ByteView data) {
  calls.push_back(fmt::format("write_virtual {:x} {}", address, data.size()));
  std::size_t n = 0;
  for (; n < data.size(); ++n) {
    auto* b = byte(virtual_, address + n);
    if (!b) break;
    *b = data[n];
  }
  if (n == 0 && !data.empty()) return std::unexpected(fault(address));
  return n;
}

debugger::Result<std::size_t> FakeTarget::read_physical(std::uint64_t address, std::span<std::uint8_t> out) {
  std::size_t n = 0;
  for (; n < out.size(); ++n) {
    const auto* b = byte(physical_, address + n);
    if (!b) break;
    out[n] = *b;
  }
  if (n == 0 && !out.empty()) return std::unexpected(fault(address));
  return n;
}

debugger::Result<std::size_t> FakeTarget::write_physical(std::uint64_t address, wire::ByteView data) {
  poke_physical(address, data);
  return data.size();
}

debugger::Result<std::uint64_t> FakeTarget::search_memory(std::uint64_t start, std::uint64_t length,
                                                          wire::ByteView pattern) {
  if (!searches) return std::unexpected(debugger::Error{"not implemented", wire::kStatusNotImplemented});
  ++searches_made;
  // As the simulator's stub: the first address where the whole pattern lies in the range.
  for (std::uint64_t i = 0; !pattern.empty() && i + pattern.size() <= length; ++i) {
    bool match = true;
    for (std::size_t k = 0; k < pattern.size() && match; ++k) {
      const auto* b = byte(virtual_, start + i + k);
      match = b && *b == pattern[k];
    }
    if (match) return start + i;
  }
  return std::unexpected(debugger::Error{"search failed: status c0000001", wire::kStatusUnsuccessful,
                                         debugger::ErrorKind::Status});
}

debugger::Result<std::uint32_t> FakeTarget::fill_memory(std::uint64_t address, std::uint32_t length,
                                                        wire::ByteView pattern, bool physical) {
  calls.push_back(fmt::format("fill_memory {:x} {} {}", address, length, pattern.size()));
  for (std::uint32_t i = 0; i < length; ++i) {
    auto* b = byte(physical ? physical_ : virtual_, address + i);
    if (!b) return i;
    *b = pattern[i % pattern.size()];
  }
  return length;
}

debugger::Result<wire::Context> FakeTarget::get_context() {
  calls.push_back("get_context");
  return ctx;
}

debugger::Result<void> FakeTarget::set_context(const wire::Context& c) {
  calls.push_back(fmt::format("set_context rip={:x} dr0={:x} dr7={:x}", c.rip, c.dr0, c.dr7));
  ctx = c;
  return {};
}

debugger::Result<std::uint64_t> FakeTarget::read_control_pointer(std::uint64_t which) {
  switch (which) {
    case 0: return 0xFFFFF80000490000ull;
    case 1: return 0xFFFFF80000490180ull;
    case 3: return kPool + 0x1000;
    default: return std::unexpected(debugger::Error{"bad control space", wire::kStatusUnsuccessful});
  }
}

debugger::Result<std::uint64_t> FakeTarget::read_msr(std::uint32_t msr) {
  auto it = msrs.find(msr);
  if (it == msrs.end()) return std::unexpected(debugger::Error{"STATUS_UNSUCCESSFUL", wire::kStatusUnsuccessful});
  return it->second;
}

debugger::Result<void> FakeTarget::write_msr(std::uint32_t msr, std::uint64_t value) {
  calls.push_back(fmt::format("write_msr {:x} {:x}", msr, value));
  msrs[msr] = value;
  return {};
}

debugger::Result<std::uint32_t> FakeTarget::write_breakpoint(std::uint64_t address) {
  auto* b = byte(virtual_, address);
  if (!b) return std::unexpected(fault(address));
  calls.push_back(fmt::format("write_breakpoint {:x}", address));
  const std::uint32_t handle = next_handle_++;
  inserted[handle] = {address, *b};
  *b = 0xCC;
  return handle;
}

debugger::Result<void> FakeTarget::restore_breakpoint(std::uint32_t handle) {
  auto it = inserted.find(handle);
  if (it == inserted.end()) return std::unexpected(debugger::Error{"no such breakpoint", wire::kStatusUnsuccessful});
  calls.push_back(fmt::format("restore_breakpoint {:x}", it->second.first));
  *byte(virtual_, it->second.first) = it->second.second;
  inserted.erase(it);
  return {};
}

debugger::StopEvent FakeTarget::exception_stop(std::uint32_t code, std::uint64_t address, std::uint64_t dr6) const {
  debugger::StopEvent s;
  s.change.processor = current;
  s.change.number_processors = processors;
  s.change.program_counter = address;
  wire::ExceptionState e;
  e.record.code = code;
  e.record.address = address;
  e.first_chance = 1;
  s.change.state = e;
  s.change.control.dr6 = dr6;
  s.change.control.dr7 = ctx.dr7;
  return s;
}

debugger::StopEvent FakeTarget::arrive(std::size_t index) {
  position = index;
  ctx.rip = path[index];
  if (auto e = effects.find(ctx.rip); e != effects.end()) e->second(ctx);
  return {};
}

debugger::Result<debugger::StopEvent> FakeTarget::resume(const debugger::ResumeOptions& options) {
  calls.push_back(fmt::format("resume {} status={:x} dr7={:x}{}", options.single_step ? "step" : "go", options.status,
                              options.dr7, options.break_in ? " break-in" : ""));
  if (!scripted_stops.empty()) {
    last = scripted_stops.front();
    scripted_stops.erase(scripted_stops.begin());
    return last;
  }
  auto inserted_at = [&](std::uint64_t address) {
    for (const auto& [handle, bp] : inserted)
      if (bp.first == address) return true;
    return false;
  };
  // An int 3 the debugger wrote under rip fires before anything moves.
  if (!options.single_step && inserted_at(ctx.rip)) return last = exception_stop(wire::kExceptionBreakpoint, ctx.rip);
  if (position + 1 >= path.size()) return last = exception_stop(wire::kExceptionBreakpoint, ctx.rip);
  if (options.single_step) {
    arrive(position + 1);
    return last = exception_stop(wire::kExceptionSingleStep, ctx.rip);
  }
  for (std::size_t i = position + 1; i < path.size(); ++i) {
    arrive(i);
    const std::uint64_t rip = ctx.rip;
    for (unsigned slot = 0; slot < 4; ++slot) {
      const std::uint64_t dr[4] = {ctx.dr0, ctx.dr1, ctx.dr2, ctx.dr3};
      const bool enabled = options.dr7 & (1ull << (2 * slot));
      const bool execute = ((options.dr7 >> (16 + 4 * slot)) & 3) == 0;
      if (enabled && execute && dr[slot] == rip)
        return last = exception_stop(wire::kExceptionSingleStep, rip, 1ull << slot);
    }
    std::uint8_t code = 0;
    (void)read_virtual(rip, std::span(&code, 1));
    if (code == 0xCC || i + 1 == path.size()) return last = exception_stop(wire::kExceptionBreakpoint, rip);
  }
  return last;
}

debugger::Result<debugger::StopEvent> FakeTarget::switch_processor(std::uint16_t processor) {
  calls.push_back(fmt::format("switch_processor {}", processor));
  current = processor;
  return last = exception_stop(wire::kExceptionBreakpoint, ctx.rip);
}

debugger::Result<debugger::StopEvent> FakeTarget::reboot() {
  calls.push_back("reboot");
  position = 0;
  ctx.rip = path[0];
  return last = exception_stop(wire::kExceptionBreakpoint, ctx.rip);
}

debugger::Result<debugger::StopEvent> FakeTarget::cause_bugcheck() {
  calls.push_back("cause_bugcheck");
  position = path.size() - 1;
  ctx.rip = kRtlpBreakWithStatusInstruction;
  ctx.rcx = 3;
  return last = exception_stop(wire::kExceptionBreakpoint, ctx.rip);
}

}  // namespace openkd::testing
