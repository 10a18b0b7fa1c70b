// PdbFile over LLVM 14's native PDB reader. Record layouts: LLVM's CodeView
// headers and Microsoft's microsoft-pdb repository (cvinfo.h) for the facts.
#include "core/symbols/pdb.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>

#include <llvm/DebugInfo/CodeView/CVTypeVisitor.h>
#include <llvm/DebugInfo/CodeView/DebugChecksumsSubsection.h>
#include <llvm/DebugInfo/CodeView/DebugLinesSubsection.h>
#include <llvm/DebugInfo/CodeView/EnumTables.h>
#include <llvm/DebugInfo/CodeView/LazyRandomTypeCollection.h>
#include <llvm/DebugInfo/CodeView/SymbolDeserializer.h>
#include <llvm/DebugInfo/CodeView/SymbolRecord.h>
#include <llvm/DebugInfo/CodeView/TypeDeserializer.h>
#include <llvm/DebugInfo/CodeView/TypeRecord.h>
#include <llvm/DebugInfo/CodeView/TypeVisitorCallbacks.h>
#include <llvm/DebugInfo/MSF/MappedBlockStream.h>
#include <llvm/DebugInfo/PDB/Native/DbiModuleDescriptor.h>
#include <llvm/DebugInfo/PDB/Native/DbiModuleList.h>
#include <llvm/DebugInfo/PDB/Native/DbiStream.h>
#include <llvm/DebugInfo/PDB/Native/GlobalsStream.h>
#include <llvm/DebugInfo/PDB/Native/InfoStream.h>
#include <llvm/DebugInfo/PDB/Native/ModuleDebugStream.h>
#include <llvm/DebugInfo/PDB/Native/PDBFile.h>
#include <llvm/DebugInfo/PDB/Native/PDBStringTable.h>
#include <llvm/DebugInfo/PDB/Native/PublicsStream.h>
#include <llvm/DebugInfo/PDB/Native/RawConstants.h>
#include <llvm/DebugInfo/PDB/Native/SymbolStream.h>
#include <llvm/DebugInfo/PDB/Native/TpiStream.h>
#include <llvm/Object/COFF.h>
#include <llvm/Support/Allocator.h>
#include <llvm/Support/BinaryByteStream.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

namespace openkd::symbols {
namespace cv = llvm::codeview;
namespace pdb = llvm::pdb;

namespace {

// Bounds against hostile files: no real PDB comes near them.
constexpr std::size_t kMaxSymbols = 4u << 20;
constexpr std::size_t kMaxLines = 16u << 20;
constexpr int kMaxTypeDepth = 32;
constexpr std::size_t kMaxFields = 1u << 16;

std::string one_line(llvm::Error e) {
  std::string s = llvm::toString(std::move(e));
  std::ranges::replace(s, '\n', ' ');
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string register_name(std::uint16_t id) {
  for (const auto& e : cv::getRegisterNames(cv::CPUType::X64))
    if (e.Value == id) {
      std::string n = lower(std::string_view(e.Name.data(), e.Name.size()));
      if (n.starts_with("amd64_")) n.erase(0, 6);
      return n;
    }
  return fmt::format("reg{}", id);
}

// Sizes of CodeView's built-in types (cvinfo.h, "Primitive types").
std::uint64_t simple_size(cv::SimpleTypeKind k) {
  using K = cv::SimpleTypeKind;
  switch (k) {
    case K::None: case K::Void: case K::NotTranslated: return 0;
    case K::SignedCharacter: case K::UnsignedCharacter: case K::NarrowCharacter: case K::SByte:
    case K::Byte: case K::Boolean8: return 1;
    case K::WideCharacter: case K::Character16: case K::Int16Short: case K::UInt16Short: case K::Int16:
    case K::UInt16: case K::Boolean16: case K::Float16: return 2;
    case K::HResult: case K::Character32: case K::Int32Long: case K::UInt32Long: case K::Int32: case K::UInt32:
    case K::Boolean32: case K::Float32: case K::Float32PartialPrecision: return 4;
    case K::Int64Quad: case K::UInt64Quad: case K::Int64: case K::UInt64: case K::Boolean64: case K::Float64:
      return 8;
    case K::Float80: return 10;
    case K::Int128Oct: case K::UInt128Oct: case K::Int128: case K::UInt128: case K::Boolean128: case K::Float128:
      return 16;
    default: return 0;
  }
}

struct LineEntry {
  std::uint32_t rva = 0, length = 0, line = 0, file = 0;
};

struct FunctionRef {
  std::uint32_t module = 0;     // DBI module index
  std::uint32_t record = 0;     // offset of the S_*PROC32 in the module's symbol stream
};

}  // namespace

std::string PdbIdentity::guid_string() const {
  const auto& g = guid;
  return fmt::format("{{{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
                     g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14],
                     g[15]);
}

std::string PdbIdentity::store_key() const {
  std::string s = guid_string();
  std::erase_if(s, [](char c) { return c == '{' || c == '}' || c == '-'; });
  return s + fmt::format("{:X}", age);
}

bool LocalLocation::covers(std::uint32_t rva) const {
  if (length == 0) return true;
  if (rva < start_rva || rva - start_rva >= length) return false;
  const std::uint32_t off = rva - start_rva;
  for (auto [gap_start, gap_length] : gaps)
    if (off >= gap_start && off - gap_start < gap_length) return false;
  return true;
}

std::string RsdsRecord::pdb_name() const {
  auto slash = pdb_path.find_last_of("\\/");
  return slash == std::string::npos ? pdb_path : pdb_path.substr(slash + 1);
}

std::optional<RsdsRecord> parse_rsds(const std::uint8_t* data, std::size_t size) {
  // CV_INFO_PDB70: 'RSDS', GUID (16), Age (4), PdbFileName (NUL-terminated).
  if (size < 25 || std::memcmp(data, "RSDS", 4) != 0) return std::nullopt;
  RsdsRecord r;
  std::memcpy(r.identity.guid.data(), data + 4, 16);
  r.identity.age = data[20] | (data[21] << 8) | (data[22] << 16) | (std::uint32_t(data[23]) << 24);
  const auto* name = reinterpret_cast<const char*>(data + 24);
  r.pdb_path.assign(name, strnlen(name, size - 24));
  if (r.pdb_path.empty()) return std::nullopt;
  return r;
}

struct PdbFile::Impl {
  std::string path;
  llvm::BumpPtrAllocator allocator;
  std::unique_ptr<pdb::PDBFile> file;
  PdbIdentity identity;
  std::vector<std::uint32_t> section_rvas;  // by section number - 1
  std::vector<PdbSymbol> symbols;
  std::vector<std::size_t> by_name;         // indices into symbols, sorted by name
  std::vector<std::pair<std::uint32_t, std::uint32_t>> functions;  // (rva, index into symbols) of functions
  std::map<std::uint32_t, FunctionRef> function_refs;              // function rva -> where its record is
  std::vector<std::string> files;
  std::vector<LineEntry> lines;
  std::map<std::string, TypeId, std::less<>> udts;  // S_UDT typedef name -> type
  std::unordered_map<TypeId, TypeInfo> types;
  std::set<TypeId> building;
  pdb::TpiStream* tpi = nullptr;
  // Records by index, walked from the records themselves: not TpiStream's collection,
  // which seeks with the hash stream's offsets unchecked (a damaged one read wild memory).
  std::unique_ptr<cv::LazyRandomTypeCollection> by_index;
  cv::LazyRandomTypeCollection& types_by_index() { return *by_index; }

  std::optional<std::uint32_t> rva(std::uint16_t segment, std::uint32_t offset) const {
    if (segment == 0 || segment > section_rvas.size()) return std::nullopt;
    return section_rvas[segment - 1] + offset;
  }

  std::string load();
  // A stream by index, if its directory entry is plausible (LLVM 14 sizes a vector
  // from it unchecked: a damaged entry threw bad_alloc).
  std::unique_ptr<llvm::msf::MappedBlockStream> stream(std::uint32_t index) const {
    if (index >= file->getNumStreams()) return nullptr;
    const std::uint32_t size = file->getStreamByteSize(index);
    if (size == 0xFFFFFFFFu /* kInvalidStreamSize */ || size > file->getFileSize()) return nullptr;
    return file->createIndexedStream(static_cast<std::uint16_t>(index));
  }
  void load_publics();
  void load_globals();
  void load_modules();
  TypeInfo describe(TypeId id, int depth);
  TypeId resolve_forward(TypeId id);
  // Named struct/class/union/enum records: definitions and forward references by name.
  bool names_indexed = false;
  std::unordered_map<std::string, std::vector<TypeId>> definitions, forwards;
  void index_names();
  void read_fields(TypeId field_list, TypeInfo& out, int depth);
};

std::string PdbFile::Impl::load() {
  if (auto e = file->parseFileHeaders()) return one_line(std::move(e));
  if (auto e = file->parseStreamData()) return one_line(std::move(e));
  auto info = file->getPDBInfoStream();
  if (!info) return "no PDB info stream: " + one_line(info.takeError());
  std::memcpy(identity.guid.data(), info->getGuid().Guid, 16);
  identity.age = info->getAge();
  if (!file->hasPDBDbiStream()) return "no DBI stream (not a linker PDB)";
  auto dbi = file->getPDBDbiStream();
  if (!dbi) return "bad DBI stream: " + one_line(dbi.takeError());
  identity.age = dbi->getAge();  // the age the image's RSDS record carries
  for (const auto& s : dbi->getSectionHeaders()) section_rvas.push_back(s.VirtualAddress);
  if (file->hasPDBPublicsStream() && file->hasPDBSymbolStream()) load_publics();
  if (file->hasPDBGlobalsStream() && file->hasPDBSymbolStream()) load_globals();
  load_modules();

  // Publics naming what a function or data symbol already names add nothing.
  std::set<std::pair<std::uint32_t, std::string>> described;
  for (const auto& s : symbols)
    if (s.kind == SymbolKind::function || s.kind == SymbolKind::data) described.emplace(s.rva, s.name);
  std::erase_if(symbols, [&](const PdbSymbol& s) {
    return (s.kind == SymbolKind::public_code || s.kind == SymbolKind::public_data) && described.contains({s.rva, s.name});
  });
  std::ranges::stable_sort(symbols, [](const PdbSymbol& a, const PdbSymbol& b) {
    if (a.rva != b.rva) return a.rva < b.rva;
    if (a.kind != b.kind) return static_cast<int>(a.kind) < static_cast<int>(b.kind);
    return a.name < b.name;
  });
  // Module-local data/functions seen from several modules (static in headers) appear once.
  symbols.erase(std::unique(symbols.begin(), symbols.end(),
                            [](const PdbSymbol& a, const PdbSymbol& b) {
                              return a.rva == b.rva && a.kind == b.kind && a.name == b.name;
                            }),
                symbols.end());
  by_name.resize(symbols.size());
  for (std::size_t i = 0; i < symbols.size(); ++i) by_name[i] = i;
  std::ranges::sort(by_name, [&](std::size_t a, std::size_t b) { return symbols[a].name < symbols[b].name; });
  for (std::size_t i = 0; i < symbols.size(); ++i)
    if (symbols[i].kind == SymbolKind::function) functions.emplace_back(symbols[i].rva, static_cast<std::uint32_t>(i));
  std::ranges::sort(lines, {}, &LineEntry::rva);

  if (file->hasPDBTpiStream()) {
    auto t = file->getPDBTpiStream();
    if (!t) return "bad TPI stream: " + one_line(t.takeError());
    tpi = &*t;
    by_index = std::make_unique<cv::LazyRandomTypeCollection>(tpi->typeArray(), tpi->getNumTypeRecords());
    // Not TpiStream::buildHashMap(): LLVM 14 indexes its buckets with hash values
    // from the file unchecked, and a damaged PDB crashed it. Names are indexed here
    // instead (index_names), from the records themselves.
  }
  return {};
}

void PdbFile::Impl::load_publics() {
  auto publics = file->getPDBPublicsStream();
  auto records = file->getPDBSymbolStream();
  if (!publics || !records) {
    llvm::consumeError(publics.takeError());
    llvm::consumeError(records.takeError());
    return;
  }
  for (std::uint32_t offset : publics->getPublicsTable()) {
    if (symbols.size() >= kMaxSymbols) break;
    cv::CVSymbol sym = records->readRecord(offset);
    if (sym.kind() != cv::S_PUB32) continue;
    auto pub = cv::SymbolDeserializer::deserializeAs<cv::PublicSym32>(sym);
    if (!pub) {
      llvm::consumeError(pub.takeError());
      continue;
    }
    auto at = rva(pub->Segment, pub->Offset);
    if (!at) continue;
    const bool code = (static_cast<std::uint32_t>(pub->Flags) & static_cast<std::uint32_t>(cv::PublicSymFlags::Function)) != 0;
    symbols.push_back(PdbSymbol{pub->Name.str(), *at, 0, code ? SymbolKind::public_code : SymbolKind::public_data, 0, false});
  }
}

void PdbFile::Impl::load_globals() {
  auto globals = file->getPDBGlobalsStream();
  auto records = file->getPDBSymbolStream();
  if (!globals || !records) {
    llvm::consumeError(globals.takeError());
    llvm::consumeError(records.takeError());
    return;
  }
  for (std::uint32_t offset : globals->getGlobalsTable()) {
    if (symbols.size() >= kMaxSymbols) break;
    cv::CVSymbol sym = records->readRecord(offset);
    if (sym.kind() == cv::S_GDATA32 || sym.kind() == cv::S_LDATA32) {
      auto data = cv::SymbolDeserializer::deserializeAs<cv::DataSym>(sym);
      if (!data) {
        llvm::consumeError(data.takeError());
        continue;
      }
      auto at = rva(data->Segment, data->DataOffset);
      if (!at) continue;
      symbols.push_back(PdbSymbol{data->Name.str(), *at, 0, SymbolKind::data, data->Type.getIndex(),
                                  sym.kind() == cv::S_LDATA32});
    } else if (sym.kind() == cv::S_UDT) {
      auto udt = cv::SymbolDeserializer::deserializeAs<cv::UDTSym>(sym);
      if (!udt) {
        llvm::consumeError(udt.takeError());
        continue;
      }
      udts.emplace(udt->Name.str(), udt->Type.getIndex());
    }
  }
}

void PdbFile::Impl::load_modules() {
  auto dbi = file->getPDBDbiStream();
  if (!dbi) {
    llvm::consumeError(dbi.takeError());
    return;
  }
  pdb::PDBStringTable* strings = nullptr;
  if (auto s = file->getStringTable()) strings = &*s;
  else llvm::consumeError(s.takeError());
  std::map<std::uint32_t, std::uint32_t> file_ids;  // string table offset -> files index

  const auto& modules = dbi->modules();
  for (std::uint32_t m = 0; m < modules.getModuleCount(); ++m) {
    auto desc = modules.getModuleDescriptor(m);
    const std::uint16_t stream = desc.getModuleStreamIndex();
    if (stream == llvm::pdb::kInvalidStreamIndex) continue;
    auto raw = this->stream(stream);
    if (!raw) continue;
    pdb::ModuleDebugStreamRef mod(desc, std::move(raw));
    if (auto e = mod.reload()) {
      llvm::consumeError(std::move(e));
      continue;
    }
    bool bad = false;
    const auto& array = mod.getSymbolArray();
    for (auto it = array.begin(&bad); it != array.end(); ++it) {
      if (symbols.size() >= kMaxSymbols) break;
      const cv::CVSymbol& sym = *it;
      const auto kind = sym.kind();
      if (kind == cv::S_GPROC32 || kind == cv::S_LPROC32 || kind == cv::S_GPROC32_ID || kind == cv::S_LPROC32_ID) {
        auto proc = cv::SymbolDeserializer::deserializeAs<cv::ProcSym>(sym);
        if (!proc) {
          llvm::consumeError(proc.takeError());
          continue;
        }
        auto at = rva(proc->Segment, proc->CodeOffset);
        if (!at) continue;
        const bool local = kind == cv::S_LPROC32 || kind == cv::S_LPROC32_ID;
        symbols.push_back(PdbSymbol{proc->Name.str(), *at, proc->CodeSize, SymbolKind::function,
                                    proc->FunctionType.getIndex(), local});
        function_refs.try_emplace(*at, FunctionRef{m, it.offset()});
      } else if (kind == cv::S_LDATA32 || kind == cv::S_GDATA32) {
        // Module-scope statics live only here (function statics too).
        auto data = cv::SymbolDeserializer::deserializeAs<cv::DataSym>(sym);
        if (!data) {
          llvm::consumeError(data.takeError());
          continue;
        }
        if (auto at = rva(data->Segment, data->DataOffset))
          symbols.push_back(PdbSymbol{data->Name.str(), *at, 0, SymbolKind::data, data->Type.getIndex(),
                                      kind == cv::S_LDATA32});
      }
    }

    // Line tables: each block is one file's lines within one contiguous piece of code.
    auto checksums = mod.findChecksumsSubsection();
    if (!checksums) {
      llvm::consumeError(checksums.takeError());
      continue;
    }
    for (const auto& sub : mod.subsections()) {
      if (sub.kind() != cv::DebugSubsectionKind::Lines || lines.size() >= kMaxLines) continue;
      cv::DebugLinesSubsectionRef table;
      if (auto e = table.initialize(llvm::BinaryStreamReader(sub.getRecordData()))) {
        llvm::consumeError(std::move(e));
        continue;
      }
      auto base = rva(table.header()->RelocSegment, table.header()->RelocOffset);
      if (!base) continue;
      const std::uint32_t code_size = table.header()->CodeSize;
      for (const auto& block : table) {
        std::uint32_t file_index = 0;
        auto entry = checksums->getArray().at(block.NameIndex);
        if (entry == checksums->getArray().end()) continue;
        const std::uint32_t name_offset = entry->FileNameOffset;
        if (auto found = file_ids.find(name_offset); found != file_ids.end()) {
          file_index = found->second;
        } else {
          std::string name = "?";
          if (strings) {
            if (auto s = strings->getStringForID(name_offset)) name = s->str();
            else llvm::consumeError(s.takeError());
          }
          file_index = static_cast<std::uint32_t>(files.size());
          files.push_back(std::move(name));
          file_ids.emplace(name_offset, file_index);
        }
        const auto& numbers = block.LineNumbers;
        for (std::size_t i = 0; i < numbers.size(); ++i) {
          cv::LineInfo info(numbers[i].Flags);
          const std::uint32_t start = numbers[i].Offset;
          const std::uint32_t end = i + 1 < numbers.size() ? numbers[i + 1].Offset : code_size;
          const std::uint32_t line = info.getStartLine();
          if (line == 0 || line >= 0xf00000 || end <= start) continue;  // 0xfeefee/0xf00f00: hidden code
          lines.push_back(LineEntry{*base + start, end - start, line, file_index});
        }
      }
    }
  }
}

namespace {
// A structure's, union's or enum's name and whether the record is a forward reference.
std::optional<std::pair<std::string, bool>> tag_of(const cv::CVType& record) {
  auto pick = [](auto r) -> std::optional<std::pair<std::string, bool>> {
    if (!r) {
      llvm::consumeError(r.takeError());
      return std::nullopt;
    }
    return std::pair{r->getName().str(), r->isForwardRef()};
  };
  switch (record.kind()) {
    case cv::LF_STRUCTURE: case cv::LF_CLASS: case cv::LF_INTERFACE:
      return pick(cv::TypeDeserializer::deserializeAs<cv::ClassRecord>(record.data()));
    case cv::LF_UNION: return pick(cv::TypeDeserializer::deserializeAs<cv::UnionRecord>(record.data()));
    case cv::LF_ENUM: return pick(cv::TypeDeserializer::deserializeAs<cv::EnumRecord>(record.data()));
    default: return std::nullopt;
  }
}
}  // namespace

void PdbFile::Impl::index_names() {
  if (names_indexed || !tpi) return;
  names_indexed = true;
  for (std::uint32_t i = tpi->TypeIndexBegin(); i < tpi->TypeIndexEnd(); ++i) {
    auto found = types_by_index().tryGetType(cv::TypeIndex(i));
    if (!found) continue;
    if (auto tag = tag_of(*found); tag && !tag->first.empty()) (tag->second ? forwards : definitions)[tag->first].push_back(i);
  }
}

TypeId PdbFile::Impl::resolve_forward(TypeId id) {
  if (!tpi || id < cv::TypeIndex::FirstNonSimpleIndex) return id;
  index_names();
  auto found = types_by_index().tryGetType(cv::TypeIndex(id));
  if (!found) return id;
  auto tag = tag_of(*found);
  if (!tag) return id;
  // The definition of the same kind and name (a struct's forward reference is not an enum's).
  if (auto d = definitions.find(tag->first); d != definitions.end())
    for (TypeId full : d->second)
      if (auto r = types_by_index().tryGetType(cv::TypeIndex(full)); r && r->kind() == found->kind()) return full;
  return id;
}

namespace {
// Collects a field list's members (following LF_INDEX continuations).
struct MemberCollector : cv::TypeVisitorCallbacks {
  std::vector<TypeField> fields;
  std::vector<Enumerator> enumerators;
  std::vector<TypeId> continuations;
  llvm::Error visitKnownMember(cv::CVMemberRecord&, cv::DataMemberRecord& r) override {
    if (fields.size() < kMaxFields) fields.push_back(TypeField{r.Name.str(), r.FieldOffset, r.Type.getIndex()});
    return llvm::Error::success();
  }
  llvm::Error visitKnownMember(cv::CVMemberRecord&, cv::EnumeratorRecord& r) override {
    if (enumerators.size() < kMaxFields)
      enumerators.push_back(Enumerator{r.Name.str(), r.Value.isSigned() ? r.Value.getSExtValue()
                                                                        : static_cast<std::int64_t>(r.Value.getZExtValue())});
    return llvm::Error::success();
  }
  llvm::Error visitKnownMember(cv::CVMemberRecord&, cv::ListContinuationRecord& r) override {
    continuations.push_back(r.ContinuationIndex.getIndex());
    return llvm::Error::success();
  }
};
}  // namespace

void PdbFile::Impl::read_fields(TypeId field_list, TypeInfo& out, int depth) {
  MemberCollector collector;
  std::set<TypeId> seen;
  std::vector<TypeId> pending{field_list};
  while (!pending.empty() && seen.size() < 64) {
    const TypeId list = pending.back();
    pending.pop_back();
    if (list < cv::TypeIndex::FirstNonSimpleIndex || !seen.insert(list).second) continue;
    auto found = types_by_index().tryGetType(cv::TypeIndex(list));
    if (!found) continue;
    cv::CVType record = *found;
    if (record.kind() != cv::LF_FIELDLIST) continue;
    collector.continuations.clear();
    if (auto e = cv::visitMemberRecordStream(record.content(), collector)) llvm::consumeError(std::move(e));
    for (TypeId c : collector.continuations) pending.push_back(c);
  }
  (void)depth;
  out.fields = std::move(collector.fields);
  out.enumerators = std::move(collector.enumerators);
}

TypeInfo PdbFile::Impl::describe(TypeId id, int depth) {
  TypeInfo t;
  t.id = id;
  const cv::TypeIndex ti(id);
  auto name_of = [&](TypeId other) -> std::string {
    if (depth >= kMaxTypeDepth || building.contains(other)) return "?";
    building.insert(id);
    std::string n;
    if (auto found = types.find(other); found != types.end()) n = found->second.name;
    else n = describe(other, depth + 1).name;
    building.erase(id);
    return n;
  };
  auto size_of = [&](TypeId other) -> std::uint64_t {
    if (depth >= kMaxTypeDepth || building.contains(other)) return 0;
    if (auto found = types.find(other); found != types.end()) return found->second.size;
    building.insert(id);
    auto s = describe(other, depth + 1).size;
    building.erase(id);
    return s;
  };

  if (id == 0) return t;
  if (ti.isSimple()) {
    if (ti.getSimpleMode() != cv::SimpleTypeMode::Direct) {
      t.kind = TypeKind::pointer;
      t.element = ti.makeDirect().getIndex();
      t.size = ti.getSimpleMode() == cv::SimpleTypeMode::NearPointer32 ? 4 : 8;
      t.name = name_of(t.element) + " *";
      return t;
    }
    t.kind = ti.getSimpleKind() == cv::SimpleTypeKind::Void ? TypeKind::void_ : TypeKind::base;
    t.size = simple_size(ti.getSimpleKind());
    t.name = cv::TypeIndex::simpleTypeName(ti).str();
    return t;
  }
  if (!tpi) return t;
  auto found_record = types_by_index().tryGetType(ti);
  if (!found_record) {
    t.name = fmt::format("<type {:#x}>", id);
    return t;
  }
  cv::CVType record = *found_record;
  // Structures, unions and enums share a shape; a forward reference describes its definition.
  auto tag = [&](const auto& r, TypeKind kind) -> TypeInfo {
    if (r.isForwardRef()) {
      const TypeId full = resolve_forward(id);
      if (full != id) return describe(full, depth + 1);
      t.forward_unresolved = true;
    }
    t.kind = kind;
    t.name = r.getName().str();
    if constexpr (std::is_same_v<std::decay_t<decltype(r)>, cv::EnumRecord>) {
      t.element = r.getUnderlyingType().getIndex();
      t.size = size_of(t.element);
    } else {
      t.size = r.getSize();
    }
    if (!r.isForwardRef()) read_fields(r.getFieldList().getIndex(), t, depth);
    return t;
  };
  switch (record.kind()) {
    case cv::LF_STRUCTURE:
    case cv::LF_CLASS:
    case cv::LF_INTERFACE:
      if (auto r = cv::TypeDeserializer::deserializeAs<cv::ClassRecord>(record.data())) return tag(*r, TypeKind::structure);
      break;
    case cv::LF_UNION:
      if (auto r = cv::TypeDeserializer::deserializeAs<cv::UnionRecord>(record.data())) return tag(*r, TypeKind::union_);
      break;
    case cv::LF_ENUM:
      if (auto r = cv::TypeDeserializer::deserializeAs<cv::EnumRecord>(record.data())) return tag(*r, TypeKind::enumeration);
      break;
    case cv::LF_POINTER: {
      auto r = cv::TypeDeserializer::deserializeAs<cv::PointerRecord>(record.data());
      if (!r) break;
      t.kind = TypeKind::pointer;
      t.element = r->getReferentType().getIndex();
      t.size = r->getSize() ? r->getSize() : 8;
      t.name = name_of(t.element) + " *";
      return t;
    }
    case cv::LF_ARRAY: {
      auto r = cv::TypeDeserializer::deserializeAs<cv::ArrayRecord>(record.data());
      if (!r) break;
      t.kind = TypeKind::array;
      t.element = r->getElementType().getIndex();
      t.size = r->getSize();
      const std::uint64_t element_size = size_of(t.element);
      t.count = element_size ? t.size / element_size : 0;
      t.name = fmt::format("{} [{}]", name_of(t.element), t.count);
      return t;
    }
    case cv::LF_MODIFIER: {
      auto r = cv::TypeDeserializer::deserializeAs<cv::ModifierRecord>(record.data());
      if (!r) break;
      t.kind = TypeKind::modifier;
      t.element = r->getModifiedType().getIndex();
      const auto mods = static_cast<std::uint16_t>(r->getModifiers());
      t.is_const = mods & static_cast<std::uint16_t>(cv::ModifierOptions::Const);
      t.is_volatile = mods & static_cast<std::uint16_t>(cv::ModifierOptions::Volatile);
      t.size = size_of(t.element);
      t.name = std::string(t.is_const ? "const " : "") + (t.is_volatile ? "volatile " : "") + name_of(t.element);
      return t;
    }
    case cv::LF_BITFIELD: {
      auto r = cv::TypeDeserializer::deserializeAs<cv::BitFieldRecord>(record.data());
      if (!r) break;
      t.kind = TypeKind::bitfield;
      t.element = r->getType().getIndex();
      t.bit_position = r->getBitOffset();
      t.bit_length = r->getBitSize();
      t.size = size_of(t.element);
      t.name = fmt::format("Pos {}, {} Bit{}", t.bit_position, t.bit_length, t.bit_length == 1 ? "" : "s");
      return t;
    }
    case cv::LF_PROCEDURE: {
      auto r = cv::TypeDeserializer::deserializeAs<cv::ProcedureRecord>(record.data());
      if (!r) break;
      t.kind = TypeKind::function;
      t.element = r->getReturnType().getIndex();
      const cv::TypeIndex args = r->getArgumentList();
      if (auto list = args.isSimple() ? llvm::None : types_by_index().tryGetType(args)) {
        if (list->kind() == cv::LF_ARGLIST)
          if (auto a = cv::TypeDeserializer::deserializeAs<cv::ArgListRecord>(list->data()))
            for (auto p : a->getIndices()) t.parameters.push_back(p.getIndex());
      }
      std::string params;
      for (TypeId p : t.parameters) params += (params.empty() ? "" : ", ") + name_of(p);
      t.name = fmt::format("{} ({})", name_of(t.element), params.empty() ? "void" : params);
      return t;
    }
    default:
      break;
  }
  t.kind = TypeKind::none;
  t.name = fmt::format("<type {:#x}>", id);
  return t;
}

PdbFile::PdbFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PdbFile::~PdbFile() = default;

std::expected<std::unique_ptr<PdbFile>, std::string> PdbFile::open(const std::string& path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buffer) return std::unexpected(fmt::format("cannot read {}: {}", path, buffer.getError().message()));
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  auto stream = std::make_unique<llvm::MemoryBufferByteStream>(std::move(*buffer), llvm::support::little);
  impl->file = std::make_unique<pdb::PDBFile>(path, std::move(stream), impl->allocator);
  std::string why;
  try {
    why = impl->load();
  } catch (const std::exception& e) {  // LLVM sizes some buffers from the file: a damaged one throws bad_alloc
    why = fmt::format("damaged ({})", e.what());
  }
  if (!why.empty()) return std::unexpected(fmt::format("{} is not a usable PDB: {}", path, why));
  return std::unique_ptr<PdbFile>(new PdbFile(std::move(impl)));
}

const std::string& PdbFile::path() const { return impl_->path; }
const PdbIdentity& PdbFile::identity() const { return impl_->identity; }
const std::vector<PdbSymbol>& PdbFile::symbols() const { return impl_->symbols; }

const PdbSymbol* PdbFile::find_symbol(std::string_view name) const {
  const auto& s = impl_->symbols;
  auto it = std::ranges::lower_bound(impl_->by_name, name, {}, [&](std::size_t i) -> std::string_view { return s[i].name; });
  if (it != impl_->by_name.end() && s[*it].name == name) return &s[*it];
  for (const auto& sym : s)
    if (iequals(sym.name, name)) return &sym;
  return nullptr;
}

const PdbSymbol* PdbFile::function_containing(std::uint32_t rva) const {
  const auto& f = impl_->functions;
  auto after = std::ranges::upper_bound(f, rva, {}, &std::pair<std::uint32_t, std::uint32_t>::first);
  while (after != f.begin()) {
    --after;
    const auto& sym = impl_->symbols[after->second];
    if (rva - sym.rva < std::max<std::uint32_t>(sym.size, 1)) return &sym;
    if (rva - sym.rva > (1u << 24)) break;  // functions do not nest; give up far away
  }
  return nullptr;
}

const PdbSymbol* PdbFile::symbol_at_or_before(std::uint32_t rva) const {
  if (const auto* f = function_containing(rva)) {
    // A public or data symbol inside a function (a label) is not preferred over it,
    // unless it names the exact address.
    return f;
  }
  const auto& s = impl_->symbols;
  auto after = std::ranges::upper_bound(s, rva, {}, &PdbSymbol::rva);
  if (after == s.begin()) return nullptr;
  auto at = std::prev(after);
  while (at != s.begin() && std::prev(at)->rva == at->rva) --at;
  return &*at;
}

std::optional<SourceLine> PdbFile::line_at(std::uint32_t rva) const {
  const auto& l = impl_->lines;
  auto after = std::ranges::upper_bound(l, rva, {}, &LineEntry::rva);
  if (after == l.begin()) return std::nullopt;
  const auto& e = *std::prev(after);
  if (rva - e.rva >= e.length) return std::nullopt;
  return SourceLine{impl_->files[e.file], e.line, e.rva, e.length};
}

std::vector<std::uint32_t> PdbFile::rvas_of_line(std::string_view file, std::uint32_t line) const {
  const std::string want = lower(file);
  auto file_matches = [&](const std::string& path) {
    std::string p = lower(path);
    std::ranges::replace(p, '\\', '/');
    std::string w = want;
    std::ranges::replace(w, '\\', '/');
    return p == w || (p.size() > w.size() && p.ends_with(w) && p[p.size() - w.size() - 1] == '/');
  };
  std::vector<std::uint32_t> out;
  std::set<std::uint32_t> functions_seen;
  for (const auto& e : impl_->lines) {
    if (e.line != line || !file_matches(impl_->files[e.file])) continue;
    // One address per function: its first code for that line.
    const auto* f = function_containing(e.rva);
    if (f && !functions_seen.insert(f->rva).second) continue;
    out.push_back(e.rva);
  }
  return out;
}

std::optional<TypeId> PdbFile::find_type(std::string_view name) {
  if (!impl_->tpi) return std::nullopt;
  impl_->index_names();
  const std::string key(name);
  if (auto d = impl_->definitions.find(key); d != impl_->definitions.end())
    for (TypeId id : d->second)
      if (type(id).kind != TypeKind::none) return id;
  if (auto udt = impl_->udts.find(name); udt != impl_->udts.end()) return udt->second;
  // Only declared: the forward reference (TypeInfo::forward_unresolved says so).
  if (auto f = impl_->forwards.find(key); f != impl_->forwards.end() && !f->second.empty()) return f->second.front();
  return std::nullopt;
}

const TypeInfo& PdbFile::type(TypeId id) {
  if (auto found = impl_->types.find(id); found != impl_->types.end()) return found->second;
  TypeInfo t;
  try {
    t = impl_->describe(id, 0);
  } catch (const std::exception&) {  // a damaged record: described as unknown
    t = TypeInfo{};
    t.id = id;
    t.name = fmt::format("<type {:#x}>", id);
  }
  return impl_->types.insert_or_assign(id, std::move(t)).first->second;
}

TypeId PdbFile::strip_modifiers(TypeId id) {
  for (int i = 0; i < kMaxTypeDepth; ++i) {
    const auto& t = type(id);
    if (t.kind != TypeKind::modifier) return t.id ? t.id : id;
    id = t.element;
  }
  return id;
}

std::vector<std::string> PdbFile::type_names() {
  impl_->index_names();
  std::set<std::string> names;
  for (const auto& [name, ids] : impl_->definitions)
    if (!name.starts_with("<unnamed")) names.insert(name);
  return {names.begin(), names.end()};
}

std::optional<FunctionInfo> PdbFile::function_info(std::uint32_t rva) {
  try {
    return function_info_unchecked(rva);
  } catch (const std::exception&) {  // a damaged module stream: no locals rather than no debugger
    return std::nullopt;
  }
}

std::optional<FunctionInfo> PdbFile::function_info_unchecked(std::uint32_t rva) {
  const PdbSymbol* f = function_containing(rva);
  if (!f) return std::nullopt;
  FunctionInfo info;
  info.symbol = *f;
  auto ref = impl_->function_refs.find(f->rva);
  if (ref == impl_->function_refs.end()) return info;
  auto dbi = impl_->file->getPDBDbiStream();
  if (!dbi) {
    llvm::consumeError(dbi.takeError());
    return info;
  }
  auto desc = dbi->modules().getModuleDescriptor(ref->second.module);
  auto raw = impl_->stream(desc.getModuleStreamIndex());
  if (!raw) return info;
  pdb::ModuleDebugStreamRef mod(desc, std::move(raw));
  if (auto e = mod.reload()) {
    llvm::consumeError(std::move(e));
    return info;
  }
  auto scope = mod.getSymbolArrayForScope(ref->second.record);
  // Scopes: the procedure (depth 1), blocks inside it (kept), inline sites (their
  // locals belong to the inlined function: skipped).
  int depth = 0, inline_depth = 0;
  LocalVariable* current = nullptr;
  std::uint16_t frame_reg_id = 0;
  auto range_of = [&](const cv::LocalVariableAddrRange& r, const std::vector<cv::LocalVariableAddrGap>& gaps,
                      LocalLocation& loc) {
    loc.start_rva = impl_->rva(r.ISectStart, r.OffsetStart).value_or(0);
    loc.length = r.Range;
    for (const auto& g : gaps) loc.gaps.emplace_back(g.GapStartOffset, g.Range);
  };
  for (const auto& sym : scope) {
    const auto k = sym.kind();
    switch (k) {
      case cv::S_GPROC32: case cv::S_LPROC32: case cv::S_GPROC32_ID: case cv::S_LPROC32_ID: case cv::S_BLOCK32:
        ++depth;
        continue;
      case cv::S_INLINESITE:
        ++depth;
        ++inline_depth;
        continue;
      case cv::S_INLINESITE_END:
        --depth;
        --inline_depth;
        continue;
      case cv::S_END: case cv::S_PROC_ID_END:
        --depth;
        continue;
      default:
        break;
    }
    if (depth <= 0) break;
    if (inline_depth > 0) continue;
    if (k == cv::S_FRAMEPROC) {
      if (auto fp = cv::SymbolDeserializer::deserializeAs<cv::FrameProcSym>(sym)) {
        info.frame_size = fp->TotalFrameBytes;
        frame_reg_id = static_cast<std::uint16_t>(fp->getLocalFramePtrReg(cv::CPUType::X64));
        info.frame_register = register_name(frame_reg_id);
      }
    } else if (k == cv::S_REGREL32) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::RegRelativeSym>(sym)) {
        LocalVariable v{r->Name.str(), r->Type.getIndex(), false, {}};
        LocalLocation loc;
        loc.kind = LocalLocation::Kind::register_relative;
        loc.reg_id = static_cast<std::uint16_t>(r->Register);
        loc.reg = register_name(loc.reg_id);
        loc.offset = static_cast<std::int32_t>(r->Offset);
        v.locations.push_back(std::move(loc));
        info.locals.push_back(std::move(v));
        current = nullptr;
      }
    } else if (k == cv::S_LOCAL) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::LocalSym>(sym)) {
        const bool param = (static_cast<std::uint16_t>(r->Flags) & static_cast<std::uint16_t>(cv::LocalSymFlags::IsParameter)) != 0;
        info.locals.push_back(LocalVariable{r->Name.str(), r->Type.getIndex(), param, {}});
        current = &info.locals.back();
      }
    } else if (current && k == cv::S_DEFRANGE_REGISTER) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::DefRangeRegisterSym>(sym)) {
        LocalLocation loc;
        loc.kind = LocalLocation::Kind::register_;
        loc.reg_id = r->Hdr.Register;
        loc.reg = register_name(loc.reg_id);
        range_of(r->Range, r->Gaps, loc);
        current->locations.push_back(std::move(loc));
      }
    } else if (current && k == cv::S_DEFRANGE_SUBFIELD_REGISTER) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::DefRangeSubfieldRegisterSym>(sym)) {
        LocalLocation loc;
        loc.kind = LocalLocation::Kind::subfield_register;
        loc.reg_id = r->Hdr.Register;
        loc.reg = register_name(loc.reg_id);
        loc.parent_offset = r->Hdr.OffsetInParent;
        range_of(r->Range, r->Gaps, loc);
        current->locations.push_back(std::move(loc));
      }
    } else if (current && k == cv::S_DEFRANGE_REGISTER_REL) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::DefRangeRegisterRelSym>(sym)) {
        LocalLocation loc;
        loc.kind = LocalLocation::Kind::register_relative;
        loc.reg_id = r->Hdr.Register;
        loc.reg = register_name(loc.reg_id);
        loc.offset = r->Hdr.BasePointerOffset;
        range_of(r->Range, r->Gaps, loc);
        current->locations.push_back(std::move(loc));
      }
    } else if (current && k == cv::S_DEFRANGE_FRAMEPOINTER_REL) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::DefRangeFramePointerRelSym>(sym)) {
        LocalLocation loc;
        loc.kind = LocalLocation::Kind::frame_relative;
        loc.offset = r->Hdr.Offset;
        range_of(r->Range, r->Gaps, loc);
        current->locations.push_back(std::move(loc));
      }
    } else if (current && k == cv::S_DEFRANGE_FRAMEPOINTER_REL_FULL_SCOPE) {
      if (auto r = cv::SymbolDeserializer::deserializeAs<cv::DefRangeFramePointerRelFullScopeSym>(sym)) {
        LocalLocation loc;
        loc.kind = LocalLocation::Kind::frame_relative;
        loc.offset = r->Offset;
        current->locations.push_back(std::move(loc));
      }
    }
  }
  (void)frame_reg_id;
  // Parameters first (stable: declaration order kept within each group).
  std::ranges::stable_partition(info.locals, &LocalVariable::is_parameter);
  return info;
}

}  // namespace openkd::symbols
