#include "core/debugger/pdb_types.hpp"

#include <string>

#include "core/symbols/pdb.hpp"

namespace openkd::debugger::types {
namespace {

using symbols::PdbFile;
using symbols::TypeId;
using symbols::TypeKind;

// Pointers to pointers to ... and arrays of arrays nest; structures never do
// (a field of struct type names it, and dt asks for it by name), so the depth
// is the C declarator depth. The bound keeps a hostile PDB's cycle finite.
constexpr int kMaxDepth = 16;

Kind base_kind(const std::string& name, bool& is_signed) {
  is_signed = !name.starts_with("unsigned");
  if (name == "void") return Kind::Void;
  if (name == "wchar_t" || name == "char16_t") return Kind::WideChar;
  if (name == "bool") return Kind::Bool;
  if (name == "float" || name == "double" || name == "long double") return Kind::Float;
  if (name.find("char") != std::string::npos) return Kind::Char;
  return Kind::Integer;
}

TypeRef convert_ref(PdbFile& pdb, TypeId id, int depth) {
  TypeRef r;
  if (depth > kMaxDepth) return r;  // Void: nothing more is said of it
  id = pdb.strip_modifiers(id);
  const symbols::TypeInfo& t = pdb.type(id);
  r.size = t.size;
  switch (t.kind) {
    case TypeKind::none:
    case TypeKind::void_: r.kind = Kind::Void; break;
    case TypeKind::base: r.kind = base_kind(t.name, r.is_signed); break;
    case TypeKind::pointer:
      r.kind = Kind::Pointer;
      r.size = t.size ? t.size : 8;
      r.element = std::make_shared<TypeRef>(convert_ref(pdb, t.element, depth + 1));
      break;
    case TypeKind::array:
      r.kind = Kind::Array;
      r.count = t.count;
      r.element = std::make_shared<TypeRef>(convert_ref(pdb, t.element, depth + 1));
      break;
    case TypeKind::structure: r.kind = Kind::Struct; r.name = t.name; break;
    case TypeKind::union_: r.kind = Kind::Union; r.name = t.name; break;
    case TypeKind::enumeration: r.kind = Kind::Enum; r.name = t.name; break;
    case TypeKind::function: r.kind = Kind::Function; r.name = t.name; break;
    case TypeKind::bitfield:  // a field's bit field is unwrapped by convert_type
    case TypeKind::modifier: return convert_ref(pdb, t.element, depth + 1);
  }
  return r;
}

TypeInfo convert_type(PdbFile& pdb, TypeId id) {
  const symbols::TypeInfo t = pdb.type(pdb.strip_modifiers(id));  // a copy: type() may grow its cache
  TypeInfo out;
  out.name = t.name;
  out.size = t.size;
  out.kind = t.kind == TypeKind::union_ ? Kind::Union : t.kind == TypeKind::enumeration ? Kind::Enum : Kind::Struct;
  for (const auto& f : t.fields) {
    Field field;
    field.name = f.name;
    field.offset = f.offset;
    const symbols::TypeInfo ft = pdb.type(pdb.strip_modifiers(f.type));
    if (ft.kind == TypeKind::bitfield) {
      field.type = convert_ref(pdb, ft.element, 0);
      field.bits = std::pair<unsigned, unsigned>{ft.bit_position, ft.bit_length};
    } else {
      field.type = convert_ref(pdb, f.type, 0);
    }
    out.fields.push_back(std::move(field));
  }
  for (const auto& e : t.enumerators) out.enumerators.emplace_back(e.name, e.value);
  return out;
}

class PdbTypeProvider final : public TypeProvider {
public:
  PdbTypeProvider(ModuleList& modules, SymbolTable& symbols) : modules_(modules), symbols_(symbols) {}

  std::optional<TypeInfo> find(std::string_view module, std::string_view name) override {
    const Module* m = modules_.find(module);
    if (!m) return std::nullopt;
    PdbFile* pdb = symbols_.pdb_of(*m);
    if (!pdb) return std::nullopt;
    auto id = pdb->find_type(name);
    if (!id) return std::nullopt;
    const auto kind = pdb->type(pdb->strip_modifiers(*id)).kind;
    if (kind != TypeKind::structure && kind != TypeKind::union_ && kind != TypeKind::enumeration) return std::nullopt;
    return convert_type(*pdb, *id);
  }

private:
  ModuleList& modules_;
  SymbolTable& symbols_;
};

}  // namespace

std::shared_ptr<TypeProvider> make_pdb_type_provider(ModuleList& modules, SymbolTable& symbols) {
  return std::make_shared<PdbTypeProvider>(modules, symbols);
}

}  // namespace openkd::debugger::types
