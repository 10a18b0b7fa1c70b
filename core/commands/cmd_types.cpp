// dt: a type's layout, or its values at an address, in KD's shape
// (`   +0x440 UniqueProcessId  : 0x00000000`00000004 Void`), from the engine's
// TypeProvider (core/debugger/types.hpp). Options: -r[N] (expand embedded
// structures N levels, 1 by default), -b (arrays element by element), -v (the
// type's kind, element count and size first), -l Field (follow a list through
// Field, a LIST_ENTRY or a pointer). Names: module!Type; without `!`, nt.
#include <algorithm>
#include <cctype>
#include <set>

#include "core/commands/format.hpp"
#include "core/debugger/types.hpp"
#include "core/commands/engine_core.hpp"

namespace openkd::commands {
namespace {

namespace types = debugger::types;
using types::Kind;

constexpr unsigned kMaxDepth = 16;
constexpr std::size_t kMaxListElements = 0x1000;
constexpr std::uint64_t kMaxArrayShown = 0x100;

struct DtOptions {
  unsigned recurse = 0;
  bool blocks = false;
  bool verbose = false;
  std::string list_field;
};

struct Dt {
  EngineCore& core;
  types::TypeProvider& provider;
  std::string module;
  DtOptions options;

  std::optional<std::uint64_t> read(std::uint64_t address, unsigned size) {
    if (size == 0 || size > 8) return std::nullopt;
    return core.read_block(address, size).value(0, size);
  }

  std::string scalar(const types::TypeRef& t, std::uint64_t address) {
    const unsigned size = static_cast<unsigned>(std::min<std::uint64_t>(t.size ? t.size : 8, 8));
    auto v = read(address, size);
    if (!v) return "????";
    switch (t.kind) {
      case Kind::Pointer:
        return fmt::format("0x{} {}", hex64(*v), t.element ? types::kd_type_name(*t.element) : "Void");
      case Kind::Char:
      case Kind::Bool: {
        const char c = static_cast<char>(*v);
        return fmt::format("0x{:x} '{}'", *v, std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "");
      }
      case Kind::Enum: {
        const std::int64_t value = static_cast<std::int64_t>(size < 8 && (*v >> (8 * size - 1)) ? *v | (~0ull << (8 * size)) : *v);
        if (auto e = provider.find(module, t.name))
          for (const auto& [name, n] : e->enumerators)
            if (n == value) return fmt::format("0n{} ( {} )", value, name);
        return fmt::format("0n{}", value);
      }
      default:
        break;
    }
    if (size == 8) return "0x" + hex64(*v);
    if (t.is_signed) {
      const std::int64_t s = static_cast<std::int64_t>(*v << (64 - 8 * size)) >> (64 - 8 * size);
      return fmt::format("0n{}", s);
    }
    return fmt::format("0x{:x}", *v);
  }

  std::string value(const types::TypeRef& t, std::uint64_t address) {
    switch (t.kind) {
      case Kind::Struct:
      case Kind::Union:
        if (t.name == "_LIST_ENTRY") {
          auto flink = read(address, 8), blink = read(address + 8, 8);
          if (!flink || !blink) return "_LIST_ENTRY [ ???? - ???? ]";
          return fmt::format("_LIST_ENTRY [ 0x{} - 0x{} ]", hex64(*flink), hex64(*blink));
        }
        return t.name;
      case Kind::Array: {
        if (!t.element) return fmt::format("[{}] ????", t.count);
        if (t.element->kind == Kind::Char && t.element->size == 1) {  // a character array shows as text
          const MemoryBlock b = core.read_block(address, std::min<std::uint64_t>(t.count, kMaxArrayShown));
          std::string text;
          for (std::size_t i = 0; i < b.bytes.size() && b.valid[i] && b.bytes[i]; ++i)
            text += std::isprint(b.bytes[i]) ? static_cast<char>(b.bytes[i]) : '.';
          return fmt::format("[{}]  \"{}\"", t.count, text);
        }
        return fmt::format("[{}] {}", t.count, value(*t.element, address));
      }
      case Kind::Function:
        return "void ";
      case Kind::Void:
        return "Void";
      default:
        return scalar(t, address);
    }
  }

  void fields(const types::TypeInfo& type, std::optional<std::uint64_t> base, unsigned indent, unsigned depth) {
    const std::string pad(3 + indent, ' ');
    for (const auto& f : type.fields) {
      if (core.cancel_requested.load()) return;
      std::string line = fmt::format("{}+0x{:03x} {:<16} : ", pad, f.offset, f.name);
      const std::optional<std::uint64_t> at = base ? std::optional(*base + f.offset) : std::nullopt;
      if (f.bits) {
        const auto [pos, len] = *f.bits;
        if (!at) {
          line += fmt::format("Pos {}, {} Bit{}", pos, len, len == 1 ? "" : "s");
        } else if (auto v = read(*at, static_cast<unsigned>(std::min<std::uint64_t>(f.type.size ? f.type.size : 8, 8)))) {
          const std::uint64_t bits = len >= 64 ? *v >> pos : (*v >> pos) & ((1ull << len) - 1);
          std::string binary;
          for (unsigned i = len; i-- > 0;) binary += ((bits >> i) & 1) ? '1' : '0';
          line += "0y" + binary;
        } else {
          line += "????";
        }
      } else {
        line += at ? value(f.type, *at) : types::kd_type_name(f.type);
      }
      core.printf("{}\n", line);
      // -b: array elements one per line.
      if (options.blocks && at && f.type.kind == Kind::Array && f.type.element && f.type.element->size) {
        const std::uint64_t n = std::min(f.type.count, kMaxArrayShown);
        for (std::uint64_t i = 0; i < n; ++i)
          core.printf("{}   [{:02d}] {}\n", pad, i, value(*f.type.element, *at + i * f.type.element->size));
      }
      // -r: embedded structures and unions, one level deeper.
      if (depth > 0 && (f.type.kind == Kind::Struct || f.type.kind == Kind::Union) && !f.type.name.empty()) {
        if (auto inner = provider.find(module, f.type.name)) fields(*inner, at, indent + 3, depth - 1);
      }
    }
  }
};

CommandResult<> cmd_dt(EngineCore& core, Invocation& call) {
  DtOptions o;
  std::string type_name;
  std::optional<std::uint64_t> address;
  while (!call.args.at_end()) {
    const std::size_t column = call.args.column();
    if (call.args.consume('-')) {
      const char c = call.args.rest().empty() ? '\0' : call.args.rest()[0];
      call.args.set_offset(call.args.offset() + 1);
      if (c == 'r') {
        o.recurse = 1;
        const auto rest = call.args.rest();
        if (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest[0]))) {
          o.recurse = std::min<unsigned>(static_cast<unsigned>(rest[0] - '0'), kMaxDepth);
          call.args.set_offset(call.args.offset() + 1);
        }
      } else if (c == 'b') {
        o.blocks = true;
      } else if (c == 'v') {
        o.verbose = true;
      } else if (c == 'l') {
        call.args.skip_spaces();
        const auto rest = call.args.rest();
        std::size_t n = 0;
        while (n < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[n])) || rest[n] == '_')) ++n;
        if (n == 0) return std::unexpected(CommandError::caret("dt -l needs a field name", call.args.column()));
        o.list_field = std::string(rest.substr(0, n));
        call.args.set_offset(call.args.offset() + n);
      } else {
        return std::unexpected(CommandError::caret("Unknown dt option", column));
      }
      continue;
    }
    if (type_name.empty()) {
      call.args.skip_spaces();
      const auto rest = call.args.rest();
      std::size_t n = 0;
      while (n < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[n])) || rest[n] == '_' || rest[n] == '!')) ++n;
      if (n == 0) return std::unexpected(CommandError::syntax(column));
      type_name = std::string(rest.substr(0, n));
      call.args.set_offset(call.args.offset() + n);
      continue;
    }
    if (address) return std::unexpected(CommandError::caret("Extra character error", column));
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    address = *v;
  }
  if (type_name.empty()) return std::unexpected(CommandError::plain("dt: a type name is required (dt module!_TYPE [address])"));
  std::string module = "nt", name = type_name;
  if (auto bang = type_name.find('!'); bang != std::string::npos) {
    module = type_name.substr(0, bang);
    name = type_name.substr(bang + 1);
  }
  if (!core.type_provider)
    return std::unexpected(CommandError::plain(
        fmt::format("dt: no type information for {} (no type provider is connected; PDB types come with symbols)", module)));
  auto type = core.type_provider->find(module, name);
  if (!type) return std::unexpected(CommandError::plain(fmt::format("Symbol {}!{} not found.", module, name)));

  Dt dt{core, *core.type_provider, module, o};
  if (o.verbose) {
    const char* kind = type->kind == Kind::Union ? "union" : type->kind == Kind::Enum ? "enum" : "struct";
    const std::size_t elements = type->kind == Kind::Enum ? type->enumerators.size() : type->fields.size();
    core.printf("{} {}, {} elements, 0x{:x} bytes\n", kind, type->name, elements, type->size);
  }
  if (type->kind == Kind::Enum) {
    for (const auto& [n, v] : type->enumerators) core.printf("   {} = 0n{}\n", n, v);
    return {};
  }
  if (o.list_field.empty()) {
    dt.fields(*type, address, 0, o.recurse);
    return {};
  }
  // -l: the list through list_field, CONTAINING_RECORD for a LIST_ENTRY field.
  auto field = std::ranges::find(type->fields, o.list_field, &types::Field::name);
  if (field == type->fields.end())
    return std::unexpected(CommandError::plain(fmt::format("dt: {} has no field {}", type->name, o.list_field)));
  if (!address) return std::unexpected(CommandError::plain("dt -l needs the address of the first element"));
  const bool entry = field->type.kind == Kind::Struct && field->type.name == "_LIST_ENTRY";
  if (!entry && field->type.kind != Kind::Pointer)
    return std::unexpected(CommandError::plain(fmt::format("dt -l: {} is neither a _LIST_ENTRY nor a pointer", o.list_field)));
  std::uint64_t element = *address;
  for (std::size_t n = 0; n < kMaxListElements && element != 0; ++n) {
    if (core.take_cancel()) return {};
    core.printf("{} at 0x{}\n---------------------------------------------\n", o.list_field, hex64(element + field->offset));
    dt.fields(*type, element, 0, o.recurse);
    core.print("\n");
    auto next = dt.read(element + field->offset, 8);
    if (!next) {
      core.printf("Memory read error at 0x{}\n", hex64(element + field->offset));
      return {};
    }
    const std::uint64_t following = entry ? *next - field->offset : *next;
    if (following == *address || *next == 0 || (entry && *next == element + field->offset)) return {};
    element = following;
  }
  return {};
}


// ---- type-driven extensions: !process, !thread ------------------------------------

// KDDEBUGGER_DATA64.PsActiveProcessHead.
constexpr std::uint64_t kDebuggerDataPsActiveProcessHead = 0x50;
constexpr std::size_t kMaxProcesses = 0x10000;

// A field by path ("Pcb.DirectoryTableBase"): its offset from the outer type and its type.
std::optional<types::Field> field_path(types::TypeProvider& provider, const std::string& module, const std::string& type,
                                       std::string_view path) {
  auto t = provider.find(module, type);
  std::uint64_t offset = 0;
  for (unsigned depth = 0; t && depth < kMaxDepth; ++depth) {
    const auto dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    auto f = std::ranges::find(t->fields, part, &types::Field::name);
    if (f == t->fields.end()) return std::nullopt;
    offset += f->offset;
    if (dot == std::string_view::npos) {
      types::Field found = *f;
      found.offset = offset;
      return found;
    }
    path = path.substr(dot + 1);
    t = provider.find(module, f->type.name);
  }
  return std::nullopt;
}

struct Fields {
  EngineCore& core;
  types::TypeProvider& provider;
  std::string type;
  // The value (up to 8 bytes) of a field of the object at `object`; nullopt if the
  // type lacks it or memory is unreadable.
  std::optional<std::uint64_t> get(std::uint64_t object, std::string_view path) {
    auto f = field_path(provider, "nt", type, path);
    if (!f) return std::nullopt;
    const unsigned size = static_cast<unsigned>(std::clamp<std::uint64_t>(f->type.size, 1, 8));
    return core.read_block(object + f->offset, size).value(0, size);
  }
  std::string text(std::uint64_t object, std::string_view path, std::size_t max) {
    auto f = field_path(provider, "nt", type, path);
    if (!f) return "?";
    const MemoryBlock b = core.read_block(object + f->offset, std::min<std::uint64_t>(f->type.size, max));
    std::string out;
    for (std::size_t i = 0; i < b.bytes.size() && b.valid[i] && b.bytes[i]; ++i) out += static_cast<char>(b.bytes[i]);
    return out;
  }
};

std::string hex_or_unknown(std::optional<std::uint64_t> v, int width) {
  return v ? fmt::format("{:0{}x}", *v, width) : std::string("????");
}

// The extension needs nt's `type`: without a provider, or when nt's PDB (the
// provider's source) does not have it, say so and how to get it.
CommandResult<types::TypeProvider*> need_types(EngineCore& core, std::string_view command, std::string_view type) {
  if (!core.type_provider)
    return std::unexpected(CommandError::plain(fmt::format(
        "{}: no type information for nt (no type provider is connected; PDB types come with symbols)", command)));
  if (!core.type_provider->find("nt", type))
    return std::unexpected(CommandError::plain(fmt::format(
        "{}: no type information for nt!{} (nt's PDB was not found: see .sympath and .reload /f nt)", command, type)));
  return core.type_provider.get();
}

// !process [0 0] [image]: the processes on PsActiveProcessHead (EPROCESS.ActiveProcessLinks).
CommandResult<> cmd_process(EngineCore& core, Invocation& call) {
  auto provider = need_types(core, "!process", "_EPROCESS");
  if (!provider) return std::unexpected(provider.error());
  std::vector<std::uint64_t> numbers;
  std::string image;
  while (!call.args.at_end()) {
    const auto rest = call.args.rest();
    if (numbers.size() < 2 && !rest.empty() && std::isxdigit(static_cast<unsigned char>(call.args.peek()))) {
      auto v = core.expression(call.args);
      if (!v) return std::unexpected(v.error());
      numbers.push_back(*v);
      continue;
    }
    image = std::string(call.args.take_rest());
    while (!image.empty() && std::isspace(static_cast<unsigned char>(image.back()))) image.pop_back();
  }
  Fields p{core, **provider, "_EPROCESS"};
  const auto links = field_path(**provider, "nt", "_EPROCESS", "ActiveProcessLinks");
  if (!links) return std::unexpected(CommandError::plain("!process: nt!_EPROCESS has no ActiveProcessLinks"));
  std::vector<std::uint64_t> processes;
  if (numbers.empty() || numbers[0] != 0) {
    // One process: the given address, or the current thread's.
    std::uint64_t process = numbers.empty() ? 0 : numbers[0];
    if (process == 0) {
      auto thread = core.target.read_control_pointer(3);
      if (!thread) return std::unexpected(CommandError::plain("!process: the current thread is unknown: " + thread.error().message));
      Fields t{core, **provider, "_ETHREAD"};
      auto owner = t.get(*thread, "Tcb.Process");
      if (!owner) owner = t.get(*thread, "Process");
      if (!owner) owner = t.get(*thread, "Tcb.ApcState.Process");
      if (!owner) return std::unexpected(CommandError::plain("!process: the current thread's process is unreadable"));
      process = *owner;
    }
    processes.push_back(process);
  } else {
    std::uint64_t head = 0;
    if (const std::uint64_t data = core.debugger_data())
      head = read_u64(core.target, data + kDebuggerDataPsActiveProcessHead).value_or(0);
    if (head == 0) head = core.symbols.address_of("nt!PsActiveProcessHead").value_or(0);
    if (head == 0) return std::unexpected(CommandError::plain("!process: PsActiveProcessHead is unknown"));
    auto next = read_u64(core.target, head);
    std::set<std::uint64_t> seen;
    for (std::size_t n = 0; next && *next != head && *next != 0 && n < kMaxProcesses; ++n) {
      if (!seen.insert(*next).second) {
        core.printf("!process: the process list loops back to {} without returning to its head\n", hex64(*next));
        break;
      }
      processes.push_back(*next - links->offset);
      next = read_u64(core.target, *next);
    }
    if (!next) core.printf("!process: the process list is unreadable after {} entries\n", processes.size());
    core.print("**** NT ACTIVE PROCESS DUMP ****\n");
  }
  for (std::uint64_t e : processes) {
    if (core.take_cancel()) return {};
    const std::string name = p.text(e, "ImageFileName", 15);
    if (!image.empty() && !std::ranges::equal(name, image, [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      continue;
    core.printf("PROCESS {:016x}\n", e);
    core.printf("    SessionId: none  Cid: {}    Peb: {}  ParentCid: {}\n", hex_or_unknown(p.get(e, "UniqueProcessId"), 4),
                hex_or_unknown(p.get(e, "Peb"), 8), hex_or_unknown(p.get(e, "InheritedFromUniqueProcessId"), 4));
    core.printf("    DirBase: {}  ObjectTable: {}  HandleCount: <Data Not Accessible>\n",
                hex_or_unknown(p.get(e, "Pcb.DirectoryTableBase"), 8), hex_or_unknown(p.get(e, "ObjectTable"), 16));
    core.printf("    Image: {}\n\n", name);
  }
  return {};
}

// !thread [address]: a thread's ids, TEB, state and owning process.
CommandResult<> cmd_thread(EngineCore& core, Invocation& call) {
  auto provider = need_types(core, "!thread", "_ETHREAD");
  if (!provider) return std::unexpected(provider.error());
  std::uint64_t thread = 0;
  if (!call.args.at_end()) {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    thread = *v;
  }
  if (auto r = core.expect_end(call.args); !r) return r;
  auto current = core.target.read_control_pointer(3);
  if (thread == 0) {
    if (!current) return std::unexpected(CommandError::plain("!thread: the current thread is unknown: " + current.error().message));
    thread = *current;
  }
  Fields t{core, **provider, "_ETHREAD"};
  auto first = [&](std::initializer_list<std::string_view> paths) -> std::optional<std::uint64_t> {
    for (auto path : paths)
      if (auto v = t.get(thread, path)) return v;
    return std::nullopt;
  };
  const auto pid = first({"Cid.UniqueProcess"}), tid = first({"Cid.UniqueThread"});
  const auto teb = first({"Tcb.Teb", "Teb"});
  const auto state = first({"Tcb.State", "State"});
  const auto process = first({"Tcb.Process", "Process", "Tcb.ApcState.Process"});
  static constexpr std::string_view kStates[] = {"INITIALIZED", "READY", "RUNNING", "STANDBY", "TERMINATED",
                                                 "WAIT", "TRANSITION", "DEFERREDREADY", "GATEWAITOBSOLETE", "WAITINGFORPROCESSINSWAP"};
  std::string state_text = state ? (*state < std::size(kStates) ? std::string(kStates[*state]) : fmt::format("STATE {}", *state)) : "????";
  if (current && *current == thread) state_text = fmt::format("RUNNING on processor {:x}", core.target.current_processor());
  core.printf("THREAD {:016x}  Cid {}.{}  Teb: {} {}\n", thread, hex_or_unknown(pid, 4), hex_or_unknown(tid, 4),
              hex_or_unknown(teb, 16), state_text);
  core.printf("Owning Process            {}       Image:         {}\n", hex_or_unknown(process, 16),
              process ? Fields{core, **provider, "_EPROCESS"}.text(*process, "ImageFileName", 15) : std::string("?"));
  if (current && *current == thread) {
    core.print("\n");
    core.run_command(CommandText{"k", 0});
  }
  return {};
}


// The current processor's KPCR (control space 0); `n` must name it.
CommandResult<std::uint64_t> processor_block(EngineCore& core, Invocation& call, std::string_view command, std::uint64_t which) {
  std::uint64_t n = core.target.current_processor();
  if (!call.args.at_end()) {
    auto v = core.expression(call.args);
    if (!v) return std::unexpected(v.error());
    n = *v;
  }
  if (auto r = core.expect_end(call.args); !r) return std::unexpected(r.error());
  if (n != core.target.current_processor())
    return std::unexpected(CommandError::plain(fmt::format(
        "{}: processor {} is not the current one (switch with ~{} first)", command, n, n)));
  auto block = core.target.read_control_pointer(which);
  if (!block) return std::unexpected(CommandError::plain(fmt::format("{}: cannot read it: {}", command, block.error().message)));
  return *block;
}

// !pcr [n]: the processor control region's fields, as KD lists them.
CommandResult<> cmd_pcr(EngineCore& core, Invocation& call) {
  auto provider = need_types(core, "!pcr", "_KPCR");
  if (!provider) return std::unexpected(provider.error());
  auto pcr = processor_block(core, call, "!pcr", 0);
  if (!pcr) return std::unexpected(pcr.error());
  Fields f{core, **provider, "_KPCR"};
  auto v = [&](std::string_view path) { return hex_or_unknown(f.get(*pcr, path), 16); };
  core.printf("KPCR for Processor {} at {:016x}:\n", core.target.current_processor(), *pcr);
  core.printf("    Major {} Minor {}\n", f.get(*pcr, "MajorVersion").value_or(0), f.get(*pcr, "MinorVersion").value_or(0));
  for (std::string_view tib : {"ExceptionList", "StackBase", "StackLimit", "SubSystemTib", "Version", "UserPointer", "Self"})
    core.printf("\t{:>20}: {}\n", fmt::format("NtTib.{}", tib == "Self" ? "SelfTib" : tib), v(fmt::format("NtTib.{}", tib)));
  core.print("\n");
  const auto prcb = field_path(**provider, "nt", "_KPCR", "Prcb");
  core.printf("\t{:>20}: {}\n", "SelfPcr", v("Self"));
  core.printf("\t{:>20}: {}\n", "Prcb", prcb ? fmt::format("{:016x}", *pcr + prcb->offset) : std::string("????"));
  core.printf("\t{:>20}: {}\n", "Irql", v("Irql"));
  core.printf("\t{:>20}: {}\n", "GDT", v("GdtBase"));
  core.printf("\t{:>20}: {}\n", "TSS", v("TssBase"));
  core.printf("\t{:>20}: {}\n", "IDT", v("IdtBase"));
  core.print("\n");
  for (std::string_view thread : {"CurrentThread", "NextThread", "IdleThread"})
    core.printf("\t{:>20}: {}\n", thread, v(fmt::format("Prcb.{}", thread)));
  return {};
}

// !prcb [n]: the processor control block's threads and numbers.
CommandResult<> cmd_prcb(EngineCore& core, Invocation& call) {
  auto provider = need_types(core, "!prcb", "_KPRCB");
  if (!provider) return std::unexpected(provider.error());
  auto prcb = processor_block(core, call, "!prcb", 1);
  if (!prcb) return std::unexpected(prcb.error());
  Fields f{core, **provider, "_KPRCB"};
  core.printf("PRCB for Processor {} at {:016x}:\n", core.target.current_processor(), *prcb);
  if (auto irql = f.get(*prcb, "DebuggerSavedIRQL")) core.printf("Current IRQL -- {}\n", *irql);
  core.printf("Threads--  Current {} Next {} Idle {}\n", hex_or_unknown(f.get(*prcb, "CurrentThread"), 16),
              hex_or_unknown(f.get(*prcb, "NextThread"), 16), hex_or_unknown(f.get(*prcb, "IdleThread"), 16));
  core.printf("Processor Index {} Number ({}, {})\n", f.get(*prcb, "Number").value_or(core.target.current_processor()),
              f.get(*prcb, "Group").value_or(0), f.get(*prcb, "GroupIndex").value_or(core.target.current_processor()));
  return {};
}

}  // namespace

void add_type_commands(std::vector<CommandSpec>& table) {
  table.push_back({"!process", cmd_process, "!process [0 0] [image] | !process address   processes (from the types of nt!_EPROCESS)"});
  table.push_back({"!thread", cmd_thread, "!thread [address]             a thread: ids, TEB, state, process (and the stack of the current one)"});
  table.push_back({"!pcr", cmd_pcr, "!pcr [n]                      the current processor's KPCR (from the types of nt!_KPCR)"});
  table.push_back({"!prcb", cmd_prcb, "!prcb [n]                     the current processor's KPRCB: threads and numbers"});
  table.push_back({"dt", cmd_dt, "dt [-r[N]] [-b] [-v] [-l Field] module!Type [address]  display a type (or its values)"});
}

}  // namespace openkd::commands
