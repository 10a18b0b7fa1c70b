// A PDB file as the debugger uses it: identity, symbols with addresses, line
// numbers, and a type model (structures, fields, enums, pointers, arrays, bit
// fields, function signatures, a function's locals and parameters).
//
// Built over LLVM 14's native PDB reader (llvm/DebugInfo/PDB/Native); LLVM stays
// inside pdb.cpp, so this header needs nothing but the standard library.
// I/O-free of the target: everything is relative to the image (RVAs); the caller
// adds the module's base. A PDB is untrusted input: a malformed file is refused
// by open() with a one-line reason, and a damaged record later is skipped.
//
//   auto pdb = symbols::PdbFile::open("simkrnl.pdb");
//   if (!pdb) fail(pdb.error());
//   if (!(*pdb)->identity().matches(guid_from_rsds, age)) ...;
//   auto t = (*pdb)->find_type("_EPROCESS");           // forward refs resolved
//   for (auto& f : (*pdb)->type(*t).fields) ...        // name, offset, type
#pragma once
#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openkd::symbols {

/// The key a PDB and its image share (the image's RSDS debug record, the PDB's info stream).
struct PdbIdentity {
  std::array<std::uint8_t, 16> guid{};  ///< as stored (Data1..Data3 little-endian, then 8 bytes)
  std::uint32_t age = 0;
  /// "{1FED7A01-08EF-A861-4C4C-44205044422E}": the GUID as KD and llvm-pdbutil print it.
  std::string guid_string() const;
  /// "1FED7A0108EFA8614C4C44205044422E1": the symbol store's directory name (GUID then age, hex).
  std::string store_key() const;
  friend bool operator==(const PdbIdentity&, const PdbIdentity&) = default;
};

/// What a symbol is, as `x /v` names it.
enum class SymbolKind {
  function,     ///< S_GPROC32/S_LPROC32: has a size, a signature, locals
  data,         ///< S_GDATA32/S_LDATA32: has a type
  public_code,  ///< S_PUB32 with the function flag, not otherwise described
  public_data,  ///< S_PUB32 without it
};

/// A CodeView type index (0: none / unknown). Values below 0x1000 are the built-in
/// base types and pointers to them; type() describes both kinds alike.
using TypeId = std::uint32_t;

struct PdbSymbol {
  std::string name;    ///< undecorated where the PDB gives the plain name (functions, data)
  std::uint32_t rva = 0;
  std::uint32_t size = 0;  ///< code size for functions, type size for data, 0 if unknown
  SymbolKind kind = SymbolKind::public_code;
  TypeId type = 0;     ///< function type (LF_PROCEDURE) or data type; 0 for publics
  bool is_static = false;  ///< S_LPROC32 / S_LDATA32 (module-local)
};

/// A line-table entry: the code at [rva, rva+length) comes from file:line.
struct SourceLine {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t rva = 0;
  std::uint32_t length = 0;
};

enum class TypeKind {
  none,         ///< index 0, or a record this model does not describe
  void_,
  base,         ///< char, int, unsigned __int64, ... (name and size)
  pointer,      ///< `element` is the pointee
  array,        ///< `element`, `count` (size / element size)
  structure,    ///< struct or class: `fields`
  union_,       ///< `fields` (all at offset 0 unless nested)
  enumeration,  ///< `element` is the underlying type, `enumerators`
  function,     ///< `element` is the return type, `parameters`
  bitfield,     ///< `element` is the underlying type, `bit_position`, `bit_length`
  modifier,     ///< const/volatile `element`
};

struct TypeField {
  std::string name;
  std::uint64_t offset = 0;  ///< bytes from the start of the enclosing record
  TypeId type = 0;           ///< a bitfield type (TypeKind::bitfield) for bit fields
};

struct Enumerator {
  std::string name;
  std::int64_t value = 0;
};

struct TypeInfo {
  TypeId id = 0;
  TypeKind kind = TypeKind::none;
  /// C spelling: "unsigned long", "_KPRCB", "_LIST_ENTRY *", "char [16]", "void (unsigned long)".
  std::string name;
  std::uint64_t size = 0;
  TypeId element = 0;  ///< pointee, array element, enum/bitfield underlying, return type, modified type
  std::uint64_t count = 0;  ///< array element count
  std::uint8_t bit_position = 0, bit_length = 0;  ///< bitfield
  bool is_const = false, is_volatile = false;     ///< modifier
  bool forward_unresolved = false;  ///< a forward reference with no definition in this PDB
  std::vector<TypeField> fields;          ///< structure / union, in declaration order
  std::vector<Enumerator> enumerators;    ///< enumeration
  std::vector<TypeId> parameters;         ///< function
};

/// Where a local or parameter lives over some range of code.
struct LocalLocation {
  enum class Kind {
    register_,          ///< in `reg` (S_DEFRANGE_REGISTER)
    register_relative,  ///< at `reg` + `offset` (S_REGREL32, S_DEFRANGE_REGISTER_REL)
    frame_relative,     ///< at the function's frame base + `offset` (S_DEFRANGE_FRAMEPOINTER_REL*)
    subfield_register,  ///< bytes at `parent_offset` of the variable are in `reg`
  };
  Kind kind = Kind::register_relative;
  std::string reg;             ///< lower case: "rsp", "ecx" ("" for frame_relative)
  std::uint16_t reg_id = 0;    ///< CodeView register number
  std::int32_t offset = 0;
  std::uint32_t parent_offset = 0;
  /// The code where this holds, [start, start+length); length 0: the whole function.
  std::uint32_t start_rva = 0, length = 0;
  /// Holes in that range, as (offset from start, length).
  std::vector<std::pair<std::uint16_t, std::uint16_t>> gaps;
  /// True if `rva` is inside the range and outside every gap.
  bool covers(std::uint32_t rva) const;
};

struct LocalVariable {
  std::string name;
  TypeId type = 0;
  bool is_parameter = false;
  std::vector<LocalLocation> locations;  ///< empty: optimised away
};

struct FunctionInfo {
  PdbSymbol symbol;  ///< kind function
  /// From S_FRAMEPROC: the frame base register for frame_relative locals ("rsp"/"rbp"), and frame size.
  std::string frame_register;
  std::uint32_t frame_size = 0;
  std::vector<LocalVariable> locals;  ///< parameters first, in declaration order
};

/// An open PDB. Not thread-safe (types are read and cached lazily).
class PdbFile {
public:
  /// Opens and parses the file (header, info, DBI, publics, module symbols, line
  /// tables). A missing, truncated or non-PDB file is a one-line error.
  static std::expected<std::unique_ptr<PdbFile>, std::string> open(const std::string& path);
  ~PdbFile();
  PdbFile(const PdbFile&) = delete;
  PdbFile& operator=(const PdbFile&) = delete;

  const std::string& path() const;
  /// GUID from the info stream, age from the DBI stream (what the image's RSDS record
  /// carries and what the symbol store keys on).
  const PdbIdentity& identity() const;

  /// Every symbol with an address, sorted by RVA (functions and data first at one
  /// RVA, then publics); a public that names the same RVA as a function is left out.
  const std::vector<PdbSymbol>& symbols() const;
  /// The symbol named exactly `name` (case-sensitive first, then case-insensitive).
  const PdbSymbol* find_symbol(std::string_view name) const;
  /// The nearest symbol at or below `rva` (a function containing it wins over a later public).
  const PdbSymbol* symbol_at_or_before(std::uint32_t rva) const;
  /// The function whose code range holds `rva`.
  const PdbSymbol* function_containing(std::uint32_t rva) const;

  /// The line-table entry covering `rva`.
  std::optional<SourceLine> line_at(std::uint32_t rva) const;
  /// The first code address of file:line; `file` matches a full path or its last
  /// component(s), case-insensitively.
  std::vector<std::uint32_t> rvas_of_line(std::string_view file, std::uint32_t line) const;

  /// A named type (struct/union/class/enum, or a typedef's S_UDT); forward references
  /// resolve to their definition. "_EPROCESS", "_KPRCB".
  std::optional<TypeId> find_type(std::string_view name);
  /// The type's description (cached). Unknown indices give kind none.
  const TypeInfo& type(TypeId id);
  /// Follows modifiers and resolves forward references: the type a value actually has.
  TypeId strip_modifiers(TypeId id);
  /// Every named structure, union and enum (for `dt module!*` and `x /t`).
  std::vector<std::string> type_names();

  /// The function at `rva` with its frame and locals (nullopt: not a function).
  std::optional<FunctionInfo> function_info(std::uint32_t rva);

private:
  struct Impl;
  std::optional<FunctionInfo> function_info_unchecked(std::uint32_t rva);
  explicit PdbFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The RSDS CodeView record of an image's debug directory: what PDB it wants.
struct RsdsRecord {
  PdbIdentity identity;
  std::string pdb_path;  ///< as the linker wrote it ("C:\...\simkrnl.pdb" or a build path)
  /// "simkrnl.pdb": the file name the symbol store is keyed on (last path component).
  std::string pdb_name() const;
};
/// Parses an RSDS record ('RSDS', GUID, age, NUL-terminated name); nullopt if it is not one.
std::optional<RsdsRecord> parse_rsds(const std::uint8_t* data, std::size_t size);

}  // namespace openkd::symbols
