#include "core/debugger/types.hpp"

#include <fmt/format.h>

namespace openkd::debugger::types {

std::string kd_type_name(const TypeRef& t) {
  switch (t.kind) {
    case Kind::Void: return "Void";
    case Kind::Bool: return "UChar";
    case Kind::Char: return t.is_signed ? "Char" : "UChar";
    case Kind::WideChar: return "Wchar";
    case Kind::Float: return "Float";
    case Kind::Integer: return fmt::format("{}{}B", t.is_signed ? "Int" : "Uint", t.size);
    case Kind::Pointer: return "Ptr64 " + (t.element ? kd_type_name(*t.element) : std::string("Void"));
    case Kind::Array: return fmt::format("[{}] {}", t.count, t.element ? kd_type_name(*t.element) : std::string("Void"));
    case Kind::Function: return "void ";
    case Kind::Struct:
    case Kind::Union:
    case Kind::Enum: return t.name;
  }
  return "?";
}

}  // namespace openkd::debugger::types
