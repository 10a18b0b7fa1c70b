// DBGKD_MANIPULATE_STATE64: API names, the union layout per API and the codec
// (docs/protocol.md section 2; union offsets from windbgkd.h).
#include "core/wire/dbgkd.hpp"

#include <algorithm>
#include <optional>

#include "core/wire/codec_util.hpp"

namespace openkd::wire {

namespace {

constexpr std::size_t kUnionOffset = 16;
constexpr std::size_t kUnionSize = 40;
constexpr std::string_view kManipulate = "DBGKD_MANIPULATE_STATE64";

// ---- one writer and one reader per union layout (offsets inside the union) ----

void put(Writer& w, const RawUnion& a) { w.bytes(a.bytes); }
void get(Reader& r, RawUnion& a) {
  ByteView b = r.bytes(a.bytes.size());
  std::copy(b.begin(), b.end(), a.bytes.begin());
}

void put(Writer& w, const MemoryTransfer& a) {  // @0 address, @8 count, @12 actual
  w.u64(a.target_base_address).u32(a.transfer_count).u32(a.actual_bytes);
}
void get(Reader& r, MemoryTransfer& a) {
  a.target_base_address = r.u64();
  a.transfer_count = r.u32();
  a.actual_bytes = r.u32();
}

void put(Writer& w, const SetContextArgs& a) { w.u32(a.context_flags); }
void get(Reader& r, SetContextArgs& a) { a.context_flags = r.u32(); }

void put(Writer& w, const ContextExArgs& a) { w.u32(a.offset).u32(a.byte_count).u32(a.bytes_copied); }
void get(Reader& r, ContextExArgs& a) {
  a.offset = r.u32();
  a.byte_count = r.u32();
  a.bytes_copied = r.u32();
}

void put(Writer& w, const WriteBreakPointArgs& a) { w.u64(a.break_point_address).u32(a.break_point_handle); }
void get(Reader& r, WriteBreakPointArgs& a) {
  a.break_point_address = r.u64();
  a.break_point_handle = r.u32();
}

void put(Writer& w, const RestoreBreakPointArgs& a) { w.u32(a.break_point_handle); }
void get(Reader& r, RestoreBreakPointArgs& a) { a.break_point_handle = r.u32(); }

void put(Writer& w, const ContinueArgs& a) { w.u32(a.continue_status); }
void get(Reader& r, ContinueArgs& a) { a.continue_status = r.u32(); }

// DBGKD_CONTINUE2 is 4-byte packed: the AMD64 control set starts at @4, so Dr7 is @8.
void put(Writer& w, const Continue2Args& a) {
  w.u32(a.continue_status).u32(a.trace_flag).u64(a.dr7).u64(a.current_symbol_start).u64(a.current_symbol_end);
}
void get(Reader& r, Continue2Args& a) {
  a.continue_status = r.u32();
  a.trace_flag = r.u32();
  a.dr7 = r.u64();
  a.current_symbol_start = r.u64();
  a.current_symbol_end = r.u64();
}

void put(Writer& w, const IoArgs& a) { w.u64(a.io_address).u32(a.data_size).u32(a.data_value); }
void get(Reader& r, IoArgs& a) {
  a.io_address = r.u64();
  a.data_size = r.u32();
  a.data_value = r.u32();
}

// DataSize @0, InterfaceType @4, BusNumber @8, AddressSpace @12, IoAddress @16, DataValue @24.
void put(Writer& w, const IoExtendedArgs& a) {
  w.u32(a.data_size).u32(a.interface_type).u32(a.bus_number).u32(a.address_space).u64(a.io_address).u32(a.data_value);
}
void get(Reader& r, IoExtendedArgs& a) {
  a.data_size = r.u32();
  a.interface_type = r.u32();
  a.bus_number = r.u32();
  a.address_space = r.u32();
  a.io_address = r.u64();
  a.data_value = r.u32();
}

void put(Writer& w, const MsrArgs& a) { w.u32(a.msr).u32(a.data_value_low).u32(a.data_value_high); }
void get(Reader& r, MsrArgs& a) {
  a.msr = r.u32();
  a.data_value_low = r.u32();
  a.data_value_high = r.u32();
}

void put(Writer& w, const QueryMemoryArgs& a) { w.u64(a.address).u64(a.reserved).u32(a.address_space).u32(a.flags); }
void get(Reader& r, QueryMemoryArgs& a) {
  a.address = r.u64();
  a.reserved = r.u64();
  a.address_space = r.u32();
  a.flags = r.u32();
}

void put(Writer& w, const SearchMemoryArgs& a) { w.u64(a.search_address).u64(a.search_length).u32(a.pattern_length); }
void get(Reader& r, SearchMemoryArgs& a) {
  a.search_address = r.u64();
  a.search_length = r.u64();
  a.pattern_length = r.u32();
}

void put(Writer& w, const FillMemoryArgs& a) { w.u64(a.address).u32(a.length).u16(a.flags).u16(a.pattern_length); }
void get(Reader& r, FillMemoryArgs& a) {
  a.address = r.u64();
  a.length = r.u32();
  a.flags = r.u16();
  a.pattern_length = r.u16();
}

void put(Writer& w, const BreakPointExArgs& a) { w.u32(a.break_point_count).u32(a.continue_status); }
void get(Reader& r, BreakPointExArgs& a) {
  a.break_point_count = r.u32();
  a.continue_status = r.u32();
}

void put(Writer& w, const BusDataArgs& a) {
  w.u32(a.bus_data_type).u32(a.bus_number).u32(a.slot_number).u32(a.offset).u32(a.length);
}
void get(Reader& r, BusDataArgs& a) {
  a.bus_data_type = r.u32();
  a.bus_number = r.u32();
  a.slot_number = r.u32();
  a.offset = r.u32();
  a.length = r.u32();
}

void put(Writer& w, const SwitchPartitionArgs& a) { w.u32(a.partition); }
void get(Reader& r, SwitchPartitionArgs& a) { a.partition = r.u32(); }

void put(Writer& w, const SpecialCallArgs& a) { w.u64(a.special_call); }
void get(Reader& r, SpecialCallArgs& a) { a.special_call = r.u64(); }

void put(Writer& w, const QuerySpecialCallsArgs& a) { w.u32(a.number_of_special_calls); }
void get(Reader& r, QuerySpecialCallsArgs& a) { a.number_of_special_calls = r.u32(); }

void put(Writer& w, const InternalBreakpointArgs& a) {
  w.u64(a.break_point_address).u32(a.flags).u32(a.calls).u32(a.max_calls_per_period).u32(a.min_instructions)
      .u32(a.max_instructions).u32(a.total_instructions);
}
void get(Reader& r, InternalBreakpointArgs& a) {
  a.break_point_address = r.u64();
  a.flags = r.u32();
  a.calls = r.u32();
  a.max_calls_per_period = r.u32();
  a.min_instructions = r.u32();
  a.max_instructions = r.u32();
  a.total_instructions = r.u32();
}

// DBGKD_GET_VERSION64 fills the whole 40-byte union.
void put(Writer& w, const GetVersion64& v) {
  w.u16(v.major_version).u16(v.minor_version).u8(v.protocol_version).u8(v.kd_secondary_version).u16(v.flags)
      .u16(v.machine_type).u8(v.max_packet_type).u8(v.max_state_change).u8(v.max_manipulate).u8(v.simulation)
      .u16(v.unused).u64(v.kern_base).u64(v.ps_loaded_module_list).u64(v.debugger_data_list);
}
void get(Reader& r, GetVersion64& v) {
  v.major_version = r.u16();
  v.minor_version = r.u16();
  v.protocol_version = r.u8();
  v.kd_secondary_version = r.u8();
  v.flags = r.u16();
  v.machine_type = r.u16();
  v.max_packet_type = r.u8();
  v.max_state_change = r.u8();
  v.max_manipulate = r.u8();
  v.simulation = r.u8();
  v.unused = r.u16();
  v.kern_base = r.u64();
  v.ps_loaded_module_list = r.u64();
  v.debugger_data_list = r.u64();
}

// BreakPointAddress @0, BreakPointInstruction @8, Handle @16, Size @20, Alignment @21.
void put(Writer& w, const WriteCustomBreakpointArgs& a) {
  w.u64(a.break_point_address).u64(a.break_point_instruction).u32(a.break_point_handle)
      .u8(a.break_point_instruction_size).u8(a.break_point_instruction_alignment);
}
void get(Reader& r, WriteCustomBreakpointArgs& a) {
  a.break_point_address = r.u64();
  a.break_point_instruction = r.u64();
  a.break_point_handle = r.u32();
  a.break_point_instruction_size = r.u8();
  a.break_point_instruction_alignment = r.u8();
}

// When data follows the header, the union field that counts it must agree.
struct DataLength {
  std::string_view field;
  std::uint64_t value;
};
std::optional<DataLength> data_length_field(Api api, const ManipulateArgs& args) {
  switch (api) {
    case Api::ReadVirtualMemory:
    case Api::ReadPhysicalMemory:
    case Api::ReadControlSpace:
      return DataLength{"ActualBytes", std::get<MemoryTransfer>(args).actual_bytes};
    case Api::WriteVirtualMemory:
    case Api::WritePhysicalMemory:
    case Api::WriteControlSpace:
      return DataLength{"TransferCount", std::get<MemoryTransfer>(args).transfer_count};
    case Api::GetContextEx: return DataLength{"BytesCopied", std::get<ContextExArgs>(args).bytes_copied};
    case Api::SetContextEx: return DataLength{"ByteCount", std::get<ContextExArgs>(args).byte_count};
    case Api::SearchMemory: return DataLength{"PatternLength", std::get<SearchMemoryArgs>(args).pattern_length};
    case Api::FillMemory: return DataLength{"PatternLength", std::get<FillMemoryArgs>(args).pattern_length};
    case Api::GetBusData:
    case Api::SetBusData: return DataLength{"Length", std::get<BusDataArgs>(args).length};
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<std::string_view> api_name(std::uint32_t api) {
  switch (api) {
    case 0x3130: return "ReadVirtualMemory";
    case 0x3131: return "WriteVirtualMemory";
    case 0x3132: return "GetContext";
    case 0x3133: return "SetContext";
    case 0x3134: return "WriteBreakPoint";
    case 0x3135: return "RestoreBreakPoint";
    case 0x3136: return "Continue";
    case 0x3137: return "ReadControlSpace";
    case 0x3138: return "WriteControlSpace";
    case 0x3139: return "ReadIoSpace";
    case 0x313A: return "WriteIoSpace";
    case 0x313B: return "Reboot";
    case 0x313C: return "Continue2";
    case 0x313D: return "ReadPhysicalMemory";
    case 0x313E: return "WritePhysicalMemory";
    case 0x313F: return "QuerySpecialCalls";
    case 0x3140: return "SetSpecialCall";
    case 0x3141: return "ClearSpecialCalls";
    case 0x3142: return "SetInternalBreakPoint";
    case 0x3143: return "GetInternalBreakPoint";
    case 0x3144: return "ReadIoSpaceExtended";
    case 0x3145: return "WriteIoSpaceExtended";
    case 0x3146: return "GetVersion";
    case 0x3147: return "WriteBreakPointEx";
    case 0x3148: return "RestoreBreakPointEx";
    case 0x3149: return "CauseBugCheck";
    case 0x3150: return "SwitchProcessor";
    case 0x3151: return "PageIn";
    case 0x3152: return "ReadMachineSpecificRegister";
    case 0x3153: return "WriteMachineSpecificRegister";
    case 0x3154: return "OldVlm1";
    case 0x3155: return "OldVlm2";
    case 0x3156: return "SearchMemory";
    case 0x3157: return "GetBusData";
    case 0x3158: return "SetBusData";
    case 0x3159: return "CheckLowMemory";
    case 0x315A: return "ClearAllInternalBreakpoints";
    case 0x315B: return "FillMemory";
    case 0x315C: return "QueryMemory";
    case 0x315D: return "SwitchPartition";
    case 0x315E: return "WriteCustomBreakpoint";
    case 0x315F: return "GetContextEx";
    case 0x3160: return "SetContextEx";
    case kDebugIoPrintString: return "PrintString";
    case kDebugIoGetString: return "GetString";
    case kTraceIoPrintTrace: return "PrintTrace";
    case kControlRequestHardwareBp: return "RequestHardwareBp";
    case kControlReleaseHardwareBp: return "ReleaseHardwareBp";
    case kFileIoCreateFile: return "CreateFile";
    case kFileIoReadFile: return "ReadFile";
    case kFileIoWriteFile: return "WriteFile";
    case kFileIoCloseFile: return "CloseFile";
    default: return std::nullopt;
  }
}

ManipulateArgs args_for_api(std::uint32_t api) {
  switch (static_cast<Api>(api)) {
    case Api::ReadVirtualMemory:
    case Api::WriteVirtualMemory:
    case Api::ReadPhysicalMemory:
    case Api::WritePhysicalMemory:
    case Api::ReadControlSpace:
    case Api::WriteControlSpace: return MemoryTransfer{};
    case Api::SetContext: return SetContextArgs{};
    case Api::GetContextEx:
    case Api::SetContextEx: return ContextExArgs{};
    case Api::WriteBreakPoint: return WriteBreakPointArgs{};
    case Api::RestoreBreakPoint: return RestoreBreakPointArgs{};
    case Api::Continue: return ContinueArgs{};
    case Api::Continue2: return Continue2Args{};
    case Api::ReadIoSpace:
    case Api::WriteIoSpace: return IoArgs{};
    case Api::ReadIoSpaceExtended:
    case Api::WriteIoSpaceExtended: return IoExtendedArgs{};
    case Api::ReadMachineSpecificRegister:
    case Api::WriteMachineSpecificRegister: return MsrArgs{};
    case Api::QueryMemory: return QueryMemoryArgs{};
    case Api::SearchMemory: return SearchMemoryArgs{};
    case Api::FillMemory: return FillMemoryArgs{};
    case Api::WriteBreakPointEx:
    case Api::RestoreBreakPointEx: return BreakPointExArgs{};
    case Api::GetBusData:
    case Api::SetBusData: return BusDataArgs{};
    case Api::SwitchPartition: return SwitchPartitionArgs{};
    case Api::SetSpecialCall: return SpecialCallArgs{};
    case Api::QuerySpecialCalls: return QuerySpecialCallsArgs{};
    case Api::SetInternalBreakPoint:
    case Api::GetInternalBreakPoint: return InternalBreakpointArgs{};
    case Api::GetVersion: {
      // A request's union is all zeros; GetVersion64's defaults describe a reply.
      GetVersion64 zero{};
      zero.protocol_version = zero.kd_secondary_version = zero.max_packet_type = 0;
      zero.machine_type = 0;
      return zero;
    }
    case Api::WriteCustomBreakpoint: return WriteCustomBreakpointArgs{};
    default: return RawUnion{};  // GetContext, Reboot, CauseBugCheck, SwitchProcessor, ... and unknown numbers
  }
}

Bytes encode(const Manipulate& m) {
  Bytes out;
  out.reserve(kManipulateHeaderSize + m.data.size());
  Writer w(out);
  w.u32(m.api).u16(m.processor_level).u16(m.processor).u32(m.return_status).u32(0);  // @12 padding
  std::visit([&](const auto& args) { put(w, args); }, m.args);
  w.pad_to(kManipulateHeaderSize).bytes(m.data);
  return out;
}

std::expected<Manipulate, DecodeError> decode_manipulate(ByteView body) {
  if (body.size() < kManipulateHeaderSize) return detail::too_short(kManipulate, kManipulateHeaderSize, body.size());
  Reader r(body);
  Manipulate m;
  m.api = r.u32();
  m.processor_level = r.u16();
  m.processor = r.u16();
  m.return_status = r.u32();
  m.args = args_for_api(m.api);
  Reader u(body.subspan(kUnionOffset, kUnionSize));
  std::visit([&](auto& args) { get(u, args); }, m.args);
  ByteView data = body.subspan(kManipulateHeaderSize);
  m.data.assign(data.begin(), data.end());
  if (!data.empty()) {
    if (auto len = data_length_field(static_cast<Api>(m.api), m.args); len && len->value != data.size()) {
      return detail::length_mismatch(std::string(kManipulate) + " " + std::string(*api_name(m.api)), len->field,
                                     len->value, data.size());
    }
  }
  return m;
}

}  // namespace openkd::wire
