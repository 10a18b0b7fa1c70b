// Type information as the type-driven commands need it (dt, and later kp, dv and
// the !process/!thread-style extensions): a type by name gives its size, its
// fields (name, offset, type, bit position and length) and, for enums, its
// enumerators. A TypeProvider answers from whatever knows the types (a PDB read
// through core/symbols' type model, a test's table); the commands never read PDBs.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace openkd::debugger::types {

enum class Kind { Void, Integer, Char, WideChar, Bool, Float, Pointer, Array, Struct, Union, Enum, Function };

/// How a field (or a pointer's pointee, an array's element) refers to a type.
struct TypeRef {
  Kind kind = Kind::Void;
  std::string name;        // a struct/union/enum's name ("_LIST_ENTRY"); empty for base types
  std::uint64_t size = 0;  // bytes (a pointer: 8; an array: count * element size)
  bool is_signed = false;  // Integer, Char
  std::shared_ptr<const TypeRef> element;  // Pointer: the pointee; Array: the element
  std::uint64_t count = 0;                 // Array: the element count
};

struct Field {
  std::string name;
  std::uint64_t offset = 0;
  TypeRef type;
  std::optional<std::pair<unsigned, unsigned>> bits;  // bit position, bit length
};

struct TypeInfo {
  std::string name;
  Kind kind = Kind::Struct;  // Struct, Union or Enum
  std::uint64_t size = 0;
  std::vector<Field> fields;
  std::vector<std::pair<std::string, std::int64_t>> enumerators;  // Enum
};

class TypeProvider {
public:
  virtual ~TypeProvider() = default;
  /// The type called `name` in module `module` (KD's name: "nt"); nullopt if unknown.
  virtual std::optional<TypeInfo> find(std::string_view module, std::string_view name) = 0;
};

/// KD's spelling of a type in dt: "Uint4B", "Int8B", "UChar", "Wchar", "Ptr64 _KTHREAD",
/// "[16] UChar", "_LIST_ENTRY", "Void".
std::string kd_type_name(const TypeRef& type);

}  // namespace openkd::debugger::types
