// Every DBGKD message of docs/protocol.md sections 2-4, as typed
// structures with explicit little-endian encode/decode. Decoders never throw
// and never read out of bounds; inconsistent lengths are errors.
#pragma once
#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/wire/bytes.hpp"

namespace openkd::wire {

// ---- status codes -------------------------------------------------------
inline constexpr std::uint32_t kStatusSuccess = 0x00000000;
inline constexpr std::uint32_t kStatusUnsuccessful = 0xC0000001;
inline constexpr std::uint32_t kStatusNotImplemented = 0xC0000002;
inline constexpr std::uint32_t kStatusNoSuchFile = 0xC000000F;
inline constexpr std::uint32_t kDbgContinue = 0x00010002;
inline constexpr std::uint32_t kDbgExceptionHandled = 0x00010001;
inline constexpr std::uint32_t kDbgExceptionNotHandled = 0x80010001;

// ---- DBGKD_MANIPULATE_STATE64 (packet type 2) ----------------------------
inline constexpr std::size_t kManipulateHeaderSize = 56;
inline constexpr std::size_t kMaxReadChunk = 4000 - kManipulateHeaderSize;  // 3944

enum class Api : std::uint32_t {
  ReadVirtualMemory = 0x3130, WriteVirtualMemory = 0x3131, GetContext = 0x3132, SetContext = 0x3133,
  WriteBreakPoint = 0x3134, RestoreBreakPoint = 0x3135, Continue = 0x3136, ReadControlSpace = 0x3137,
  WriteControlSpace = 0x3138, ReadIoSpace = 0x3139, WriteIoSpace = 0x313A, Reboot = 0x313B,
  Continue2 = 0x313C, ReadPhysicalMemory = 0x313D, WritePhysicalMemory = 0x313E,
  QuerySpecialCalls = 0x313F, SetSpecialCall = 0x3140, ClearSpecialCalls = 0x3141,
  SetInternalBreakPoint = 0x3142, GetInternalBreakPoint = 0x3143, ReadIoSpaceExtended = 0x3144,
  WriteIoSpaceExtended = 0x3145, GetVersion = 0x3146, WriteBreakPointEx = 0x3147,
  RestoreBreakPointEx = 0x3148, CauseBugCheck = 0x3149, SwitchProcessor = 0x3150, PageIn = 0x3151,
  ReadMachineSpecificRegister = 0x3152, WriteMachineSpecificRegister = 0x3153, OldVlm1 = 0x3154,
  OldVlm2 = 0x3155, SearchMemory = 0x3156, GetBusData = 0x3157, SetBusData = 0x3158,
  CheckLowMemory = 0x3159, ClearAllInternalBreakpoints = 0x315A, FillMemory = 0x315B,
  QueryMemory = 0x315C, SwitchPartition = 0x315D, WriteCustomBreakpoint = 0x315E,
  GetContextEx = 0x315F, SetContextEx = 0x3160,
};
/// "ReadVirtualMemory" etc. for every DbgKd API number: the manipulate APIs
/// above, DebugIo (PrintString, GetString), TraceIo (PrintTrace), control
/// requests (RequestHardwareBp, ReleaseHardwareBp) and FileIo (CreateFile ...);
/// nullopt for a number that is none of them.
std::optional<std::string_view> api_name(std::uint32_t api);

// Union layouts (offsets inside the 40-byte union at packet offset 16).
struct MemoryTransfer {  // Read/Write virtual, physical and control space
  std::uint64_t target_base_address = 0;
  std::uint32_t transfer_count = 0;
  std::uint32_t actual_bytes = 0;  // physical requests: caching flag (0..3)
  bool operator==(const MemoryTransfer&) const = default;
};
struct SetContextArgs { std::uint32_t context_flags = 0; bool operator==(const SetContextArgs&) const = default; };
struct ContextExArgs {
  std::uint32_t offset = 0, byte_count = 0, bytes_copied = 0;
  bool operator==(const ContextExArgs&) const = default;
};
struct WriteBreakPointArgs {
  std::uint64_t break_point_address = 0;
  std::uint32_t break_point_handle = 0;
  bool operator==(const WriteBreakPointArgs&) const = default;
};
struct RestoreBreakPointArgs { std::uint32_t break_point_handle = 0; bool operator==(const RestoreBreakPointArgs&) const = default; };
struct ContinueArgs { std::uint32_t continue_status = 0; bool operator==(const ContinueArgs&) const = default; };
struct Continue2Args {  // with the AMD64 control set
  std::uint32_t continue_status = 0;
  std::uint32_t trace_flag = 0;  // 1 = single step
  std::uint64_t dr7 = 0;
  std::uint64_t current_symbol_start = 1;  // 1 = no range
  std::uint64_t current_symbol_end = 0;
  bool operator==(const Continue2Args&) const = default;
};
struct IoArgs {
  std::uint64_t io_address = 0;
  std::uint32_t data_size = 0, data_value = 0;
  bool operator==(const IoArgs&) const = default;
};
struct IoExtendedArgs {
  std::uint32_t data_size = 0, interface_type = 0, bus_number = 0, address_space = 0;
  std::uint64_t io_address = 0;
  std::uint32_t data_value = 0;
  bool operator==(const IoExtendedArgs&) const = default;
};
struct MsrArgs {
  std::uint32_t msr = 0, data_value_low = 0, data_value_high = 0;
  bool operator==(const MsrArgs&) const = default;
};
struct QueryMemoryArgs {
  std::uint64_t address = 0, reserved = 0;
  std::uint32_t address_space = 0, flags = 0;
  bool operator==(const QueryMemoryArgs&) const = default;
};
struct SearchMemoryArgs {
  std::uint64_t search_address = 0, search_length = 0;
  std::uint32_t pattern_length = 0;
  bool operator==(const SearchMemoryArgs&) const = default;
};
struct FillMemoryArgs {
  std::uint64_t address = 0;
  std::uint32_t length = 0;
  std::uint16_t flags = 0, pattern_length = 0;  // flags: 1 virtual, 2 physical
  bool operator==(const FillMemoryArgs&) const = default;
};
struct BreakPointExArgs {
  std::uint32_t break_point_count = 0, continue_status = 0;
  bool operator==(const BreakPointExArgs&) const = default;
};
struct BusDataArgs {
  std::uint32_t bus_data_type = 0, bus_number = 0, slot_number = 0, offset = 0, length = 0;
  bool operator==(const BusDataArgs&) const = default;
};
struct SwitchPartitionArgs { std::uint32_t partition = 0; bool operator==(const SwitchPartitionArgs&) const = default; };
struct SpecialCallArgs { std::uint64_t special_call = 0; bool operator==(const SpecialCallArgs&) const = default; };
struct QuerySpecialCallsArgs { std::uint32_t number_of_special_calls = 0; bool operator==(const QuerySpecialCallsArgs&) const = default; };
struct WriteCustomBreakpointArgs {
  std::uint64_t break_point_address = 0, break_point_instruction = 0;
  std::uint32_t break_point_handle = 0;
  std::uint8_t break_point_instruction_size = 0, break_point_instruction_alignment = 0;
  bool operator==(const WriteCustomBreakpointArgs&) const = default;
};
struct InternalBreakpointArgs {  // Set: address + flags; Get: all fields
  std::uint64_t break_point_address = 0;
  std::uint32_t flags = 0, calls = 0, max_calls_per_period = 0, min_instructions = 0,
                max_instructions = 0, total_instructions = 0;
  bool operator==(const InternalBreakpointArgs&) const = default;
};

/// DBGKD_GET_VERSION64, 40 bytes.
struct GetVersion64 {
  std::uint16_t major_version = 0, minor_version = 0;
  std::uint8_t protocol_version = 6, kd_secondary_version = 2;
  std::uint16_t flags = 0;
  std::uint16_t machine_type = 0x8664;
  std::uint8_t max_packet_type = 12, max_state_change = 0, max_manipulate = 0, simulation = 0;
  std::uint16_t unused = 0;
  std::uint64_t kern_base = 0, ps_loaded_module_list = 0, debugger_data_list = 0;
  bool operator==(const GetVersion64&) const = default;
};
inline constexpr std::uint16_t kVersionFlagMp = 0x1, kVersionFlagData = 0x2, kVersionFlagPtr64 = 0x4,
                               kVersionFlagNoMm = 0x8, kVersionFlagHss = 0x10, kVersionFlagPartitions = 0x20;

/// The raw 40 bytes, for APIs with no arguments (GetContext, Reboot, ...) or unknown numbers.
struct RawUnion { std::array<std::uint8_t, 40> bytes{}; bool operator==(const RawUnion&) const = default; };

using ManipulateArgs =
    std::variant<RawUnion, MemoryTransfer, SetContextArgs, ContextExArgs, WriteBreakPointArgs,
                 RestoreBreakPointArgs, ContinueArgs, Continue2Args, IoArgs, IoExtendedArgs, MsrArgs,
                 QueryMemoryArgs, SearchMemoryArgs, FillMemoryArgs, BreakPointExArgs, BusDataArgs,
                 SwitchPartitionArgs, SpecialCallArgs, QuerySpecialCallsArgs, InternalBreakpointArgs,
                 GetVersion64, WriteCustomBreakpointArgs>;

/// The union layout that belongs to an API number, default-constructed
/// (RawUnion for APIs without arguments and for unknown numbers). GetVersion
/// gets an all-zero GetVersion64, as its request carries.
ManipulateArgs args_for_api(std::uint32_t api);

struct Manipulate {
  std::uint32_t api = 0;  // an Api value, or an unknown number (kept as received)
  std::uint16_t processor_level = 0;
  std::uint16_t processor = 0;
  std::uint32_t return_status = 0;
  ManipulateArgs args;    // the alternative that belongs to `api` (RawUnion if none/unknown)
  Bytes data;             // what follows the 56 bytes
  bool operator==(const Manipulate&) const = default;
};

/// Writes the 56-byte header (the held union alternative, padding zeroed) and the data.
Bytes encode(const Manipulate& m);
/// Picks the union layout by ApiNumber; an unknown number decodes as RawUnion.
/// ReturnStatus and the processor fields are kept as received (WinDbg leaves
/// junk in requests). When data follows, the length field that describes it
/// must match: ActualBytes (reads), TransferCount (writes), BytesCopied /
/// ByteCount (GetContextEx / SetContextEx), PatternLength (search, fill),
/// Length (bus data). An empty data part is a request and is not checked.
std::expected<Manipulate, DecodeError> decode_manipulate(ByteView body);

// ---- DBGKD_ANY_WAIT_STATE_CHANGE (packet type 7), 240 bytes ---------------
inline constexpr std::size_t kStateChangeSize = 240;
inline constexpr std::uint32_t kStateException = 0x3030, kStateLoadSymbols = 0x3031,
                               kStateCommandString = 0x3032;
inline constexpr std::uint32_t kExceptionBreakpoint = 0x80000003, kExceptionSingleStep = 0x80000004,
                               kExceptionAccessViolation = 0xC0000005;

struct ExceptionRecord64 {
  std::uint32_t code = 0, flags = 0;
  std::uint64_t record = 0, address = 0;
  std::uint32_t number_parameters = 0;  // at most 15
  std::array<std::uint64_t, 15> information{};
  bool operator==(const ExceptionRecord64&) const = default;
};
struct ExceptionState {
  ExceptionRecord64 record;
  std::uint32_t first_chance = 1;
  bool operator==(const ExceptionState&) const = default;
};
struct LoadSymbolsState {
  std::uint64_t base_of_dll = 0, process_id = 0;
  std::uint32_t checksum = 0, size_of_image = 0;
  bool unload = false;
  std::string path;  // PathNameLength is derived (length + NUL) on encode, checked on decode
  bool operator==(const LoadSymbolsState&) const = default;
};
struct CommandStringState {
  std::uint32_t flags = 0, reserved = 0;
  std::string name, command;
  bool operator==(const CommandStringState&) const = default;
};
struct ControlReport {
  std::uint64_t dr6 = 0, dr7 = 0;
  std::uint32_t eflags = 0;
  std::uint16_t instruction_count = 0, report_flags = 0;
  std::array<std::uint8_t, 16> instruction_stream{};
  std::uint16_t seg_cs = 0, seg_ds = 0, seg_es = 0, seg_fs = 0;
  bool operator==(const ControlReport&) const = default;
};
struct StateChange {
  std::uint16_t processor_level = 0, processor = 0;
  std::uint32_t number_processors = 1;
  std::uint64_t thread = 0, program_counter = 0;
  std::variant<ExceptionState, LoadSymbolsState, CommandStringState> state;  // NewState follows it
  ControlReport control;
  bool operator==(const StateChange&) const = default;
};
Bytes encode(const StateChange& s);
/// Needs the 240 bytes; NewState picks the union. Exception: NumberParameters
/// at most 15, anything after the 240 bytes ignored. Load symbols:
/// PathNameLength must equal the bytes that follow (0 = no path, else the path
/// and its NUL). Command string: "name\0command\0" must follow.
std::expected<StateChange, DecodeError> decode_state_change(ByteView body);

// ---- KD_DEBUG_IO (packet type 3) ----------------------------------------
inline constexpr std::size_t kDebugIoHeaderSize = 16;
inline constexpr std::uint32_t kDebugIoPrintString = 0x3230, kDebugIoGetString = 0x3231;
struct DebugIo {
  std::uint32_t api = kDebugIoPrintString;
  std::uint16_t processor_level = 0, processor = 0;
  /// Print: the text. GetString from the target: the prompt (LengthOfPromptString);
  /// GetString answered by the debugger: the string read.
  std::string text;
  std::uint32_t length_of_string_read = 0;  // GetString: max reply length (request) / actual (reply)
  bool operator==(const DebugIo&) const = default;
};
/// Print: LengthOfString = text size. GetString: LengthOfPromptString = text
/// size, LengthOfStringRead = length_of_string_read.
Bytes encode(const DebugIo& d);
/// Print: LengthOfString must equal the text that follows. GetString: the text
/// must match LengthOfPromptString (the target's prompt) or LengthOfStringRead
/// (the debugger's answer, which keeps the prompt's length in its header).
std::expected<DebugIo, DecodeError> decode_debug_io(ByteView body);

// ---- KD_FILE_IO (packet type 11), 64-byte header --------------------------
// u32 ApiNumber, u32 Status, 56-byte union. CreateFile: DesiredAccess @8,
// FileAttributes @12, ShareAccess @16, CreateDisposition @20, CreateOptions
// @24, u64 Handle @32, u64 Length @40. Read/WriteFile: u64 Handle @8, u64
// Offset @16, u32 Length @24. CloseFile: u64 Handle @8.
inline constexpr std::size_t kFileIoHeaderSize = 64;
inline constexpr std::uint32_t kFileIoCreateFile = 0x3430, kFileIoReadFile = 0x3431,
                               kFileIoWriteFile = 0x3432, kFileIoCloseFile = 0x3433;
struct CreateFileArgs {
  std::uint32_t desired_access = 0, file_attributes = 0, share_access = 0, create_disposition = 0,
                create_options = 0;
  std::uint64_t handle = 0, length = 0;
  bool operator==(const CreateFileArgs&) const = default;
};
struct FileTransferArgs {  // ReadFile / WriteFile
  std::uint64_t handle = 0, offset = 0;
  std::uint32_t length = 0;
  bool operator==(const FileTransferArgs&) const = default;
};
struct CloseFileArgs { std::uint64_t handle = 0; bool operator==(const CloseFileArgs&) const = default; };
struct FileIo {
  std::uint32_t api = 0;
  std::uint32_t status = 0;
  std::variant<CreateFileArgs, FileTransferArgs, CloseFileArgs> args;
  std::u16string path;  // CreateFile: the UTF-16 path that follows the header
  Bytes data;           // ReadFile reply / WriteFile request
  bool operator==(const FileIo&) const = default;
};
/// CreateFile: a non-empty path is written NUL-terminated; ReadFile/WriteFile: data follows.
Bytes encode(const FileIo& f);
/// ApiNumber picks the union (an unknown number is an error). CreateFile: what
/// follows the 64 bytes is empty (the answer) or an even-sized UTF-16 path
/// ending in NUL. ReadFile/WriteFile: when data follows, Length must match it.
std::expected<FileIo, DecodeError> decode_file_io(ByteView body);

// ---- KD_TRACE_IO (9) and KD_CONTROL_REQUEST (10) ---------------------------
// DBGKD_TRACE_IO: u32 ApiNumber, u16 ProcessorLevel, u16 Processor, 56-byte
// union (PrintTrace: u32 LengthOfData); the trace data follows the 64 bytes.
// DBGKD_CONTROL_REQUEST: u32 ApiNumber, u32 ReturnStatus, 56-byte union
// (RequestBreakpoint: u32 HardwareBreakPointNumber, u32 Available;
// ReleaseBreakpoint: u32 HardwareBreakPointNumber, u32 Released).
inline constexpr std::size_t kTraceIoHeaderSize = 64, kControlRequestSize = 64;
inline constexpr std::uint32_t kTraceIoPrintTrace = 0x3330;
inline constexpr std::uint32_t kControlRequestHardwareBp = 0x4300, kControlReleaseHardwareBp = 0x4301;
struct TraceIo {
  std::uint32_t api = kTraceIoPrintTrace;
  std::uint16_t processor_level = 0, processor = 0;
  Bytes data;  // LengthOfData is derived on encode, checked on decode
  bool operator==(const TraceIo&) const = default;
};
Bytes encode(const TraceIo& t);
/// LengthOfData must equal the data that follows the 64 bytes.
std::expected<TraceIo, DecodeError> decode_trace_io(ByteView body);

struct ControlRequest {
  std::uint32_t api = kControlRequestHardwareBp;
  std::uint32_t return_status = 0;
  std::uint32_t hardware_break_point_number = 0;
  std::uint32_t available = 0;  // RequestHardwareBp: Available; ReleaseHardwareBp: Released
  bool operator==(const ControlRequest&) const = default;
};
Bytes encode(const ControlRequest& c);
std::expected<ControlRequest, DecodeError> decode_control_request(ByteView body);

}  // namespace openkd::wire
