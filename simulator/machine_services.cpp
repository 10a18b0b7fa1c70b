// The int 2Dh services of ABI.md ("Services") and the pending-event answers.
#include <algorithm>

#include "simulator/machine.hpp"

namespace openkd::sim {
namespace {
// Service numbers (ABI.md; simulator/kernel/ntos/simsvc.h).
enum : std::uint32_t {
  kBreakpointPrint = 1,
  kBreakpointPrompt = 2,
  kBreakpointLoadSymbols = 3,
  kBreakpointUnloadSymbols = 4,
  kSimMapImage = 0x100,
  kSimUnmapImage = 0x101,
  kSimCreateThread = 0x102,
  kSimYield = 0x103,
  kSimExitThread = 0x104,
  kSimHalt = 0x105,
  kSimFileOpen = 0x106,
  kSimFileRead = 0x107,
  kSimCreateAddressSpace = 0x108,
};
// The most a process's initial user pages may hold (SIM_CREATE_ADDRESS_SPACE).
constexpr std::uint64_t kMaxUserBlock = 1u << 20;
// A DEBUG_IO packet carries at most 4000 - 16 bytes of text.
constexpr std::size_t kMaxPrint = 3984;
constexpr std::uint32_t kStatusNotImplemented = 0xC0000002;
}  // namespace

std::optional<std::string> Machine::read_ascii(std::uint64_t va, std::size_t max) {
  std::string s;
  for (std::size_t k = 0; k < max; ++k) {
    std::uint8_t b;
    if (space_->read(va + k, {&b, 1}) != 1) return std::nullopt;
    if (b == 0) return s;
    s.push_back(static_cast<char>(b));
  }
  return std::nullopt;
}

std::optional<MachineEvent> Machine::service(unsigned i) {
  CpuSlot& slot = cpus_[i];
  Cpu& c = *slot.cpu;
  // `int 2Dh` is followed by `int 3`, which the service consumes (ABI.md).
  std::uint8_t next = 0;
  if (space_->read(c.rip(), {&next, 1}) == 1 && next == 0xCC) c.set_rip(c.rip() + 1);
  std::uint32_t number = static_cast<std::uint32_t>(c.reg(UC_X86_REG_RAX));
  std::uint64_t a1 = c.reg(UC_X86_REG_RCX), a2 = c.reg(UC_X86_REG_RDX), a3 = c.reg(UC_X86_REG_R8),
                a4 = c.reg(UC_X86_REG_R9);
  auto read_text = [&](std::uint64_t va, std::uint64_t len) {
    std::string s(static_cast<std::size_t>(std::min<std::uint64_t>(len, kMaxPrint)), '\0');
    s.resize(space_->read(va, {reinterpret_cast<std::uint8_t*>(s.data()), s.size()}));
    return s;
  };
  switch (number) {
    case kBreakpointPrint:
      return MachineEvent{i, PrintEvent{read_text(a1, a2)}};
    case kBreakpointPrompt:
      return MachineEvent{i, PromptEvent{read_text(a1, a2), static_cast<std::uint32_t>(std::min<std::uint64_t>(a4, kMaxPrint))}};
    case kBreakpointLoadSymbols:
    case kBreakpointUnloadSymbols: {
      // STRING {u16 Length, u16 MaximumLength, u32 pad, u64 Buffer};
      // KD_SYMBOLS_INFO {u64 BaseOfDll, u64 ProcessId, u32 CheckSum, u32 SizeOfImage}.
      std::uint16_t length = static_cast<std::uint16_t>(space_->read_u32(a1) & 0xFFFF);
      SymbolsEvent ev;
      ev.path = read_text(space_->read_u64(a1 + 8), std::min<std::uint16_t>(length, 512));
      ev.base = space_->read_u64(a2);
      ev.process_id = space_->read_u64(a2 + 8);
      ev.checksum = space_->read_u32(a2 + 16);
      ev.size = space_->read_u32(a2 + 20);
      ev.unload = number == kBreakpointUnloadSymbols;
      return MachineEvent{i, ev};
    }
    case kSimMapImage: {
      auto name = read_ascii(a1, 64);
      // rdx/r8: the file's bytes as a debugger served them (.kdfiles), mapped instead of ours.
      std::optional<wire::Bytes> served;
      if (a2 && a3 && a3 <= (16u << 20)) {
        wire::Bytes bytes(static_cast<std::size_t>(a3));
        if (space_->read(a2, bytes) == bytes.size()) served = std::move(bytes);
      }
      auto region = name ? map_image(*name, std::move(served)) : std::unexpected<std::string>("bad name");
      c.set_reg(UC_X86_REG_RAX, region ? region->va : 0);
      c.set_reg(UC_X86_REG_RDX, region ? region->size : 0);
      return std::nullopt;
    }
    case kSimCreateAddressSpace: {
      // rcx = user address, rdx/r8 = the kernel's bytes for it: a new process address
      // space (AddressSpace::create_process_root) with those bytes as its user pages;
      // rax = its DirectoryTableBase, 0 if refused.
      std::uint64_t cr3 = 0;
      if (a3 && a3 <= kMaxUserBlock) {
        wire::Bytes bytes(static_cast<std::size_t>(a3));
        if (space_->read(a2, bytes) == bytes.size())
          if (auto root = space_->create_process_root(); root && space_->map_user(*root, a1, bytes)) cr3 = *root;
      }
      c.set_reg(UC_X86_REG_RAX, cr3);
      return std::nullopt;
    }
    case kSimUnmapImage:
      unmap_image(a1);
      return std::nullopt;
    case kSimCreateThread: {
      Thread t;
      t.kthread = a1;
      t.regs.rip = a2;
      t.regs.gpr[1] = a3;  // rcx = context
      // As if called: rsp = 8 mod 16 at the first instruction, home space above
      // the (zero) return address.
      std::uint64_t rsp = (a4 & ~0xFull) - 0x28;
      space_->write_u64(rsp, 0);
      t.regs.gpr[4] = rsp;
      ready_.push_back(t);
      return std::nullopt;
    }
    case kSimYield:
      if (!ready_.empty()) switch_to_next(i, slot.thread.has_value());
      return std::nullopt;
    case kSimExitThread:
      if (slot.thread) switch_to_next(i, false);
      return std::nullopt;
    case kSimHalt: {
      bool interrupts_off = !(c.reg(UC_X86_REG_RFLAGS) & 0x200);
      if (slot.thread || interrupts_off) {
        slot.halted_for_good = true;  // a bug check's final halt
      } else if (!ready_.empty()) {
        switch_to_next(i, false);
      } else {
        slot.halted = true;
      }
      return std::nullopt;
    }
    case kSimFileOpen: {
      std::u16string path;
      std::uint64_t bytes = std::min<std::uint64_t>(a2, 1024);
      for (std::uint64_t k = 0; k + 1 < bytes; k += 2) {
        std::uint8_t b[2];
        if (space_->read(a1 + k, b) != 2) break;
        path.push_back(static_cast<char16_t>(b[0] | (b[1] << 8)));
      }
      return MachineEvent{i, FileOpenEvent{path}};
    }
    case kSimFileRead:
      file_buffer_ = a1;
      return MachineEvent{i, FileReadEvent{a2, static_cast<std::uint32_t>(std::min<std::uint64_t>(a3, 1u << 20))}};
    default:
      c.set_reg(UC_X86_REG_RAX, kStatusNotImplemented);
      return std::nullopt;
  }
}

bool Machine::post_print(unsigned cpu, std::string text) {
  if (pending_ || cpu >= cpu_count()) return false;
  if (text.size() > kMaxPrint) text.resize(kMaxPrint);
  pending_ = MachineEvent{cpu, PrintEvent{std::move(text)}};
  return true;
}

void Machine::complete_print() {
  if (pending_ && std::holds_alternative<PrintEvent>(pending_->detail)) pending_.reset();
}

void Machine::complete_symbols() {
  if (pending_ && std::holds_alternative<SymbolsEvent>(pending_->detail)) pending_.reset();
}

void Machine::complete_prompt(std::string_view reply) {
  if (!pending_ || !std::holds_alternative<PromptEvent>(pending_->detail)) return;
  Cpu& c = *cpus_[pending_->cpu].cpu;
  std::uint64_t buffer = c.reg(UC_X86_REG_R8), size = c.reg(UC_X86_REG_R9);
  std::size_t n = std::min<std::size_t>(reply.size(), size);
  n = space_->write(buffer, {reinterpret_cast<const std::uint8_t*>(reply.data()), n});
  c.set_reg(UC_X86_REG_RAX, n);
  pending_.reset();
}

void Machine::complete_file_open(std::uint32_t status, std::uint64_t size) {
  if (!pending_ || !std::holds_alternative<FileOpenEvent>(pending_->detail)) return;
  Cpu& c = *cpus_[pending_->cpu].cpu;
  c.set_reg(UC_X86_REG_RAX, status);
  c.set_reg(UC_X86_REG_RDX, size);
  pending_.reset();
}

void Machine::complete_file_read(std::uint32_t status, std::span<const std::uint8_t> data) {
  if (!pending_ || !std::holds_alternative<FileReadEvent>(pending_->detail)) return;
  const auto& ev = std::get<FileReadEvent>(pending_->detail);
  Cpu& c = *cpus_[pending_->cpu].cpu;
  std::size_t n = std::min<std::size_t>(data.size(), ev.length);
  n = space_->write(file_buffer_, data.first(n));
  c.set_reg(UC_X86_REG_RAX, status);
  c.set_reg(UC_X86_REG_RDX, n);
  pending_.reset();
}

std::expected<Region, std::string> Machine::map_image(const std::string& name, std::optional<wire::Bytes> served) {
  bool safe = !name.empty() && name.size() < 64 &&
              std::all_of(name.begin(), name.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_'; }) &&
              name.find("..") == std::string::npos;
  if (!safe) return std::unexpected("bad image name");
  auto image = served ? parse_pe(name, std::move(*served)) : load_pe_file(config_.kernel_dir + "/" + name);
  if (!image) return std::unexpected(image.error());
  if (image->size_of_image > kDriverSlot) return std::unexpected(name + " is larger than a driver slot");
  std::uint64_t base = 0;
  for (unsigned slot = 0; slot < kDriverSlots && !base; ++slot) {
    std::uint64_t va = kDriverBase + slot * kDriverSlot;
    if (!space_->find(va)) base = va;
  }
  if (!base) return std::unexpected("no free driver slot");
  auto resolve = [this](const std::string& module, const std::string& fn) -> std::optional<std::uint64_t> {
    std::string lower = module;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower != "simkrnl.exe" && lower != "ntoskrnl.exe") return std::nullopt;
    return kernel_export(fn);
  };
  auto region = map_pe(*space_, *image, base, resolve);
  if (!region) return region;
  code_changed(region->va, region->size);
  modules_.push_back(*region);
  return region;
}

bool Machine::unmap_image(std::uint64_t base) {
  auto it = std::find_if(modules_.begin(), modules_.end(), [&](const Region& r) { return r.va == base; });
  if (it == modules_.end() || base == kernel_.va) return false;
  modules_.erase(it);
  return space_->unmap(base);
}

}  // namespace openkd::sim
