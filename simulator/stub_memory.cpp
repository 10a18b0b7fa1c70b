// KD stub handlers for memory: virtual and physical reads and writes, software
// breakpoints, search, fill and query.
#include <algorithm>

#include "simulator/kd_stub.hpp"

namespace openkd::sim {
namespace {
using wire::Manipulate;
using wire::MemoryTransfer;

// Windows caps one search at what a debugger can sensibly ask; so do we.
constexpr std::uint64_t kMaxSearchLength = 1ull << 30;
// QueryMemory answers (DBGKD_QUERY_MEMORY_*).
constexpr std::uint32_t kQueryKernel = 2, kQueryRead = 1, kQueryWrite = 2, kQueryExecute = 4;
// FillMemory flags.
constexpr std::uint16_t kFillVirtual = 1, kFillPhysical = 2;

MemoryTransfer* transfer(Manipulate& m) { return std::get_if<MemoryTransfer>(&m.args); }
const MemoryTransfer* transfer(const Manipulate& m) { return std::get_if<MemoryTransfer>(&m.args); }
}  // namespace

bool KdStub::handle_read_virtual_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* t = transfer(request);
  std::uint32_t count = std::min<std::uint32_t>(t ? t->transfer_count : 0, wire::kMaxReadChunk);
  reply.data.resize(count);
  std::size_t n = t ? machine_->space().read(t->target_base_address, reply.data) : 0;
  reply.data.resize(n);
  transfer(reply)->actual_bytes = static_cast<std::uint32_t>(n);
  // As KdpCopyMemoryChunks: a short read is STATUS_UNSUCCESSFUL, with the bytes that were read.
  reply.return_status = (n == count && t) ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_write_virtual_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* t = transfer(request);
  std::size_t n = t ? machine_->space().write(t->target_base_address, request.data) : 0;
  if (n) machine_->code_changed(t->target_base_address, n);
  transfer(reply)->actual_bytes = static_cast<std::uint32_t>(n);
  reply.return_status = (t && n == request.data.size()) ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_read_physical_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* t = transfer(request);
  std::uint32_t count = std::min<std::uint32_t>(t ? t->transfer_count : 0, wire::kMaxReadChunk);
  reply.data.resize(count);
  std::size_t n = t ? machine_->physical().read(t->target_base_address, reply.data) : 0;
  reply.data.resize(n);
  transfer(reply)->actual_bytes = static_cast<std::uint32_t>(n);
  reply.return_status = (n == count && t) ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_write_physical_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* t = transfer(request);
  std::size_t n = t ? machine_->physical().write(t->target_base_address, request.data) : 0;
  if (n) machine_->physical_changed(t->target_base_address, n);  // any virtual alias may hold code
  transfer(reply)->actual_bytes = static_cast<std::uint32_t>(n);
  reply.return_status = (t && n == request.data.size()) ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

// ---- software breakpoints: the target writes int 3 (0xCC) and keeps the byte.
std::optional<std::uint32_t> KdStub::insert_breakpoint(std::uint64_t address) {
  for (const auto& [handle, bp] : breakpoints_)
    if (bp.address == address) return handle;  // already there: same handle, original kept
  std::uint8_t original = 0;
  if (machine_->space().read(address, {&original, 1}) != 1) return std::nullopt;
  std::uint8_t cc = 0xCC;
  if (machine_->space().write(address, {&cc, 1}) != 1) return std::nullopt;
  machine_->code_changed(address, 1);
  std::uint32_t handle = next_handle_++;
  breakpoints_[handle] = {address, original};
  return handle;
}

bool KdStub::remove_breakpoint(std::uint32_t handle) {
  auto it = breakpoints_.find(handle);
  if (it == breakpoints_.end()) return false;
  std::uint8_t byte = it->second.original;
  machine_->space().write(it->second.address, {&byte, 1});
  machine_->code_changed(it->second.address, 1);
  breakpoints_.erase(it);
  return true;
}

bool KdStub::handle_write_breakpoint(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::WriteBreakPointArgs>(&request.args);
  auto handle = a ? insert_breakpoint(a->break_point_address) : std::nullopt;
  std::get<wire::WriteBreakPointArgs>(reply.args).break_point_handle = handle.value_or(0);
  reply.return_status = handle ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_restore_breakpoint(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::RestoreBreakPointArgs>(&request.args);
  reply.return_status = (a && remove_breakpoint(a->break_point_handle)) ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

// The Ex forms carry BreakPointCount DBGKD_WRITE_BREAKPOINT64 entries
// ({u64 address, u32 handle, u32 pad}) after the header.
bool KdStub::handle_write_breakpoint_ex(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::BreakPointExArgs>(&request.args);
  std::uint32_t count = a ? a->break_point_count : 0;
  if (!a || request.data.size() < std::size_t(count) * 16 || count > 32) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  bool all = true;
  wire::Writer w(reply.data);
  wire::Reader r(request.data);
  for (std::uint32_t k = 0; k < count; ++k) {
    std::uint64_t address = r.u64();
    r.skip(8);
    auto handle = insert_breakpoint(address);
    all = all && handle.has_value();
    w.u64(address).u32(handle.value_or(0)).u32(0);
  }
  reply.return_status = all ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_restore_breakpoint_ex(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::BreakPointExArgs>(&request.args);
  std::uint32_t count = a ? a->break_point_count : 0;
  if (!a || request.data.size() < std::size_t(count) * 16 || count > 32) {
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  bool all = true;
  wire::Reader r(request.data);
  for (std::uint32_t k = 0; k < count; ++k) {
    r.skip(8);
    all = remove_breakpoint(r.u32()) && all;
    r.skip(4);
  }
  reply.data = request.data;
  reply.return_status = all ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_search_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::SearchMemoryArgs>(&request.args);
  auto& out = std::get<wire::SearchMemoryArgs>(reply.args);
  reply.return_status = wire::kStatusUnsuccessful;  // not found (STATUS_NO_MORE_ENTRIES in some builds)
  if (!a || request.data.empty() || request.data.size() > 4096) return true;
  const auto& pattern = request.data;
  std::uint64_t start = a->search_address;
  std::uint64_t length = std::min(a->search_length, kMaxSearchLength);
  // Page by page, skipping holes; keep pattern.size()-1 bytes of overlap.
  wire::Bytes window;
  std::uint64_t window_base = start;
  for (std::uint64_t off = 0; off < length;) {
    std::uint64_t va = start + off;
    std::uint64_t chunk = std::min<std::uint64_t>(kPageSize - (va & (kPageSize - 1)), length - off);
    wire::Bytes bytes(static_cast<std::size_t>(chunk));
    std::size_t got = machine_->space().read(va, bytes);
    if (got < chunk) {  // a hole: matches cannot span it
      window.clear();
      off += chunk;
      window_base = start + off;
      continue;
    }
    window.insert(window.end(), bytes.begin(), bytes.end());
    auto hit = std::search(window.begin(), window.end(), pattern.begin(), pattern.end());
    if (hit != window.end()) {
      out.search_address = window_base + static_cast<std::uint64_t>(hit - window.begin());
      reply.return_status = wire::kStatusSuccess;
      reply.data.clear();
      return true;
    }
    std::size_t keep = std::min(window.size(), pattern.size() - 1);
    window_base += window.size() - keep;
    window.erase(window.begin(), window.end() - static_cast<std::ptrdiff_t>(keep));
    off += chunk;
  }
  reply.data.clear();
  return true;
}

bool KdStub::handle_fill_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::FillMemoryArgs>(&request.args);
  auto& out = std::get<wire::FillMemoryArgs>(reply.args);
  reply.data.clear();
  if (!a || request.data.empty() || (a->flags != kFillVirtual && a->flags != kFillPhysical)) {
    reply.return_status = wire::kStatusUnsuccessful;
    out.length = 0;
    return true;
  }
  const auto& pattern = request.data;
  std::uint32_t done = 0;
  wire::Bytes chunk;
  while (done < a->length) {
    std::uint32_t n = std::min<std::uint32_t>(a->length - done, 4096);
    chunk.resize(n);
    for (std::uint32_t k = 0; k < n; ++k) chunk[k] = pattern[(done + k) % pattern.size()];
    std::size_t put = a->flags == kFillPhysical ? machine_->physical().write(a->address + done, chunk)
                                                : machine_->space().write(a->address + done, chunk);
    done += static_cast<std::uint32_t>(put);
    if (put < n) break;
  }
  if (a->flags == kFillPhysical) machine_->physical_changed(a->address, done);
  else if (done) machine_->code_changed(a->address, done);
  out.length = done;
  reply.return_status = done == a->length ? wire::kStatusSuccess : wire::kStatusUnsuccessful;
  return true;
}

bool KdStub::handle_query_memory(const Manipulate& request, Manipulate& reply, TimePoint) {
  const auto* a = std::get_if<wire::QueryMemoryArgs>(&request.args);
  auto& out = std::get<wire::QueryMemoryArgs>(reply.args);
  auto prot = a ? machine_->space().protection(a->address) : std::nullopt;
  if (!prot) {
    out.flags = 0;
    reply.return_status = wire::kStatusUnsuccessful;
    return true;
  }
  out.address_space = kQueryKernel;  // everything mapped is kernel space here
  out.flags = ((*prot & kProtRead) ? kQueryRead : 0) | ((*prot & kProtWrite) ? kQueryWrite : 0) |
              ((*prot & kProtExecute) ? kQueryExecute : 0);
  return true;
}

}  // namespace openkd::sim
