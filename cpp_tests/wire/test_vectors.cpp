// Byte-exact KDCOM vectors from an independent implementation (cpp_tests/vectors/kdcom.json):
// one test case per vector. Decode the hex and compare every listed field (checksum
// included); build the message from the fields, encode it and compare the bytes.
#include <boost/json/src.hpp>  // header-only Boost.JSON: included in this one file only
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <variant>

#include "core/wire/dbgkd.hpp"
#include "core/wire/kdcom.hpp"
#include "wire_test_util.hpp"

namespace json = boost::json;
namespace kdcom = openkd::wire::kdcom;
namespace wire = openkd::wire;
using namespace wiretest;

namespace {

// ---- the vector file ---------------------------------------------------------

const json::object& vector_file() {
  static const json::value file = [] {
    std::ifstream in(OPENKD_VECTORS_DIR "/kdcom.json");
    std::stringstream ss;
    ss << in.rdbuf();
    json::error_code ec;
    json::value v = json::parse(ss.str(), ec);
    return ec ? json::value(json::object{}) : v;
  }();
  static const json::object empty;
  return file.is_object() ? file.as_object() : empty;
}

std::vector<std::string> vector_names() {
  std::vector<std::string> names;
  if (const json::value* packets = vector_file().if_contains("packets"); packets && packets->is_array())
    for (const json::value& p : packets->as_array()) names.emplace_back(p.at("name").as_string());
  if (names.empty()) names.emplace_back("(kdcom.json missing or empty)");
  return names;
}

const json::object* find_vector(const std::string& name) {
  if (const json::value* packets = vector_file().if_contains("packets"); packets && packets->is_array())
    for (const json::value& p : packets->as_array())
      if (p.at("name").as_string() == name) return &p.as_object();
  return nullptr;
}

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::uint64_t parse_field(const std::string& s) { return std::stoull(s, nullptr, 16); }

// ---- field tables: a JSON field name, how to read it from a message, how to set it ----

using FieldMap = std::map<std::string, std::string>;

template <class T>
struct FieldSpec {
  std::string name;
  std::function<std::string(const T&)> get;
  std::function<void(T&, const std::string&)> set;
};

// A numeric field reached through `ref` (a generic lambda returning a reference).
template <class T, class Ref>
FieldSpec<T> num(std::string name, Ref ref) {
  return {name,
          [ref](const T& t) {
            const auto& v = ref(t);
            return field_hex(static_cast<std::uint64_t>(v), sizeof(v));
          },
          [ref](T& t, const std::string& s) {
            auto& v = ref(t);
            v = static_cast<std::remove_reference_t<decltype(v)>>(parse_field(s));
          }};
}

// A field derived from others on encode (lengths): read-only.
template <class T>
FieldSpec<T> derived(std::string name, std::function<std::string(const T&)> get) {
  return {name, std::move(get), [](T&, const std::string&) {}};
}

// Specs for different union alternatives may share a name: the one whose
// alternative the message holds answers (the others throw bad_variant_access).
template <class T>
FieldMap flatten(const T& t, const std::vector<FieldSpec<T>>& specs) {
  FieldMap out;
  for (const auto& spec : specs) {
    try {
      out[spec.name] = spec.get(t);
    } catch (const std::bad_variant_access&) {
    }
  }
  return out;
}

template <class T>
void apply(T& t, const std::vector<FieldSpec<T>>& specs, const json::object& fields) {
  for (const auto& [key, value] : fields) {
    bool done = false;
    for (const auto& spec : specs) {
      if (spec.name != key) continue;
      try {
        spec.set(t, std::string(value.as_string()));
        done = true;
        break;
      } catch (const std::bad_variant_access&) {
      }
    }
    BOOST_TEST(done, "no field spec sets " << std::string(key));
  }
}

std::string bytes_hex(ByteView b) { return tohex(b); }
ByteView as_bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// -- DBGKD_MANIPULATE_STATE64
template <class A>
auto arg(auto&& ref) {
  return [ref](auto& m) -> auto& { return ref(std::get<A>(m.args)); };
}
const std::vector<FieldSpec<wire::Manipulate>>& manipulate_specs() {
  using M = wire::Manipulate;
  static const std::vector<FieldSpec<M>> specs = {
      num<M>("ApiNumber", [](auto& m) -> auto& { return m.api; }),
      num<M>("ProcessorLevel", [](auto& m) -> auto& { return m.processor_level; }),
      num<M>("Processor", [](auto& m) -> auto& { return m.processor; }),
      num<M>("ReturnStatus", [](auto& m) -> auto& { return m.return_status; }),
      num<M>("TargetBaseAddress", arg<wire::MemoryTransfer>([](auto& a) -> auto& { return a.target_base_address; })),
      num<M>("TransferCount", arg<wire::MemoryTransfer>([](auto& a) -> auto& { return a.transfer_count; })),
      num<M>("ActualBytes", arg<wire::MemoryTransfer>([](auto& a) -> auto& { return a.actual_bytes; })),
      {"Data", [](const M& m) { return bytes_hex(m.data); }, [](M& m, const std::string& s) { m.data = unhex(s); }},
      num<M>("ContinueStatus", arg<wire::Continue2Args>([](auto& a) -> auto& { return a.continue_status; })),
      num<M>("ContinueStatus", arg<wire::ContinueArgs>([](auto& a) -> auto& { return a.continue_status; })),
      num<M>("TraceFlag", arg<wire::Continue2Args>([](auto& a) -> auto& { return a.trace_flag; })),
      num<M>("Dr7", arg<wire::Continue2Args>([](auto& a) -> auto& { return a.dr7; })),
      num<M>("CurrentSymbolStart", arg<wire::Continue2Args>([](auto& a) -> auto& { return a.current_symbol_start; })),
      num<M>("CurrentSymbolEnd", arg<wire::Continue2Args>([](auto& a) -> auto& { return a.current_symbol_end; })),
      num<M>("MajorVersion", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.major_version; })),
      num<M>("MinorVersion", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.minor_version; })),
      num<M>("ProtocolVersion", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.protocol_version; })),
      num<M>("KdSecondaryVersion", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.kd_secondary_version; })),
      num<M>("Flags", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.flags; })),
      num<M>("MachineType", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.machine_type; })),
      num<M>("MaxPacketType", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.max_packet_type; })),
      num<M>("MaxStateChange", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.max_state_change; })),
      num<M>("MaxManipulate", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.max_manipulate; })),
      num<M>("Simulation", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.simulation; })),
      num<M>("Unused", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.unused; })),
      num<M>("KernBase", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.kern_base; })),
      num<M>("PsLoadedModuleList", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.ps_loaded_module_list; })),
      num<M>("DebuggerDataList", arg<wire::GetVersion64>([](auto& v) -> auto& { return v.debugger_data_list; })),
  };
  return specs;
}

// -- DBGKD_ANY_WAIT_STATE_CHANGE
template <class S>
auto state(auto&& ref) {
  return [ref](auto& s) -> auto& { return ref(std::get<S>(s.state)); };
}
const std::vector<FieldSpec<wire::StateChange>>& state_change_specs() {
  using S = wire::StateChange;
  using E = wire::ExceptionState;
  static const std::vector<FieldSpec<S>> specs = [] {
    std::vector<FieldSpec<S>> v = {
        derived<S>("NewState",
                   [](const S& s) {
                     static constexpr std::uint32_t kStates[] = {wire::kStateException, wire::kStateLoadSymbols,
                                                                 wire::kStateCommandString};
                     return field_hex(kStates[s.state.index()], 4);
                   }),
        num<S>("ProcessorLevel", [](auto& s) -> auto& { return s.processor_level; }),
        num<S>("Processor", [](auto& s) -> auto& { return s.processor; }),
        num<S>("NumberProcessors", [](auto& s) -> auto& { return s.number_processors; }),
        num<S>("Thread", [](auto& s) -> auto& { return s.thread; }),
        num<S>("ProgramCounter", [](auto& s) -> auto& { return s.program_counter; }),
        num<S>("ExceptionCode", state<E>([](auto& e) -> auto& { return e.record.code; })),
        num<S>("ExceptionFlags", state<E>([](auto& e) -> auto& { return e.record.flags; })),
        num<S>("ExceptionRecord", state<E>([](auto& e) -> auto& { return e.record.record; })),
        num<S>("ExceptionAddress", state<E>([](auto& e) -> auto& { return e.record.address; })),
        num<S>("NumberParameters", state<E>([](auto& e) -> auto& { return e.record.number_parameters; })),
        num<S>("FirstChance", state<E>([](auto& e) -> auto& { return e.first_chance; })),
        num<S>("Dr6", [](auto& s) -> auto& { return s.control.dr6; }),
        num<S>("Dr7", [](auto& s) -> auto& { return s.control.dr7; }),
        num<S>("EFlags", [](auto& s) -> auto& { return s.control.eflags; }),
        num<S>("InstructionCount", [](auto& s) -> auto& { return s.control.instruction_count; }),
        num<S>("ReportFlags", [](auto& s) -> auto& { return s.control.report_flags; }),
        {"InstructionStream", [](const S& s) { return bytes_hex(s.control.instruction_stream); },
         [](S& s, const std::string& h) {
           Bytes b = unhex(h);
           std::copy_n(b.begin(), std::min(b.size(), s.control.instruction_stream.size()),
                       s.control.instruction_stream.begin());
         }},
        num<S>("SegCs", [](auto& s) -> auto& { return s.control.seg_cs; }),
        num<S>("SegDs", [](auto& s) -> auto& { return s.control.seg_ds; }),
        num<S>("SegEs", [](auto& s) -> auto& { return s.control.seg_es; }),
        num<S>("SegFs", [](auto& s) -> auto& { return s.control.seg_fs; }),
    };
    for (std::size_t i = 0; i < 15; ++i)
      v.push_back(num<S>("ExceptionInformation[" + std::to_string(i) + "]",
                         state<E>([i](auto& e) -> auto& { return e.record.information[i]; })));
    return v;
  }();
  return specs;
}

// -- DBGKD_DEBUG_IO
const std::vector<FieldSpec<wire::DebugIo>>& debug_io_specs() {
  using D = wire::DebugIo;
  static const std::vector<FieldSpec<D>> specs = {
      num<D>("ApiNumber", [](auto& d) -> auto& { return d.api; }),
      num<D>("ProcessorLevel", [](auto& d) -> auto& { return d.processor_level; }),
      num<D>("Processor", [](auto& d) -> auto& { return d.processor; }),
      derived<D>("LengthOfString", [](const D& d) { return field_hex(d.text.size(), 4); }),
      {"String", [](const D& d) { return bytes_hex(as_bytes(d.text)); },
       [](D& d, const std::string& h) {
         Bytes b = unhex(h);
         d.text.assign(b.begin(), b.end());
       }},
  };
  return specs;
}

// -- DBGKD_FILE_IO
const std::vector<FieldSpec<wire::FileIo>>& file_io_specs() {
  using F = wire::FileIo;
  using C = wire::CreateFileArgs;
  auto create = [](auto&& ref) { return [ref](auto& f) -> auto& { return ref(std::get<C>(f.args)); }; };
  static const std::vector<FieldSpec<F>> specs = {
      num<F>("ApiNumber", [](auto& f) -> auto& { return f.api; }),
      num<F>("Status", [](auto& f) -> auto& { return f.status; }),
      num<F>("DesiredAccess", create([](auto& c) -> auto& { return c.desired_access; })),
      num<F>("FileAttributes", create([](auto& c) -> auto& { return c.file_attributes; })),
      num<F>("ShareAccess", create([](auto& c) -> auto& { return c.share_access; })),
      num<F>("CreateDisposition", create([](auto& c) -> auto& { return c.create_disposition; })),
      num<F>("CreateOptions", create([](auto& c) -> auto& { return c.create_options; })),
      num<F>("Handle", create([](auto& c) -> auto& { return c.handle; })),
      num<F>("Length", create([](auto& c) -> auto& { return c.length; })),
      {"FileName",  // UTF-16LE with its NUL, as it travels
       [](const F& f) {
         Bytes b;
         for (char16_t ch : f.path) b.insert(b.end(), {static_cast<std::uint8_t>(ch), static_cast<std::uint8_t>(ch >> 8)});
         if (!f.path.empty()) b.insert(b.end(), {0, 0});
         return bytes_hex(b);
       },
       [](F& f, const std::string& h) {
         Bytes b = unhex(h);
         f.path.clear();
         for (std::size_t i = 0; i + 1 < b.size(); i += 2) {
           auto unit = static_cast<char16_t>(b[i] | (b[i + 1] << 8));
           if (unit == 0) break;
           f.path.push_back(unit);
         }
       }},
  };
  return specs;
}

std::string json_field(const json::value& v) { return std::string(v.as_string()); }

// Decodes the body, compares each listed field, builds the message from the
// fields and returns its encoding (to compare with the body).
template <class T>
Bytes check_fields(ByteView body, const json::object& fields, const std::vector<FieldSpec<T>>& specs,
                   std::expected<T, wire::DecodeError> (*decode)(ByteView), std::function<void(T&)> prepare) {
  auto decoded = decode(body);
  BOOST_TEST_REQUIRE(decoded.has_value(), (decoded ? "" : decoded.error().message));
  const FieldMap got = flatten(*decoded, specs);
  for (const auto& [key, value] : fields) {
    auto it = got.find(std::string(key));
    BOOST_TEST_INFO("field " << std::string(key));
    BOOST_TEST_REQUIRE((it != got.end()));
    BOOST_TEST(it->second == json_field(value));
  }
  T built{};
  prepare(built);
  apply(built, specs, fields);
  return wire::encode(built);
}

std::string field_or(const json::object& fields, const char* key) {
  const json::value* v = fields.if_contains(key);
  return v ? json_field(*v) : std::string("0x0");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kdcom_vectors)

BOOST_AUTO_TEST_CASE(file_loads) {
  BOOST_TEST(str(vector_file(), "format") == "KDCOM test vectors, version 1");
  BOOST_TEST(vector_names().size() >= 12u);
}

BOOST_DATA_TEST_CASE(vector, boost::unit_test::data::make(vector_names()), name) {
  const json::object* v = find_vector(name);
  BOOST_TEST_REQUIRE(v != nullptr, "vector " << name << " not found in " OPENKD_VECTORS_DIR "/kdcom.json");
  const Bytes wire_bytes = unhex(str(*v, "hex"));

  std::vector<kdcom::FrameEvent> events;
  kdcom::Parser parser([&](const kdcom::FrameEvent& e) { events.push_back(e); });
  parser.push(wire_bytes);
  BOOST_TEST_REQUIRE(events.size() == 1u);

  const json::value* header_json = v->if_contains("header");
  if (!header_json) {  // the break-in byte
    BOOST_TEST((events[0].kind == kdcom::FrameEvent::Kind::BreakIn));
    BOOST_TEST(Bytes{kdcom::kBreakIn} == wire_bytes);
    return;
  }

  // Header, checksum included.
  const json::object& hj = header_json->as_object();
  auto header = kdcom::decode_header(wire_bytes);
  BOOST_TEST_REQUIRE(header.has_value());
  BOOST_TEST(field_hex(header->leader, 4) == str(hj, "PacketLeader"));
  BOOST_TEST(field_hex(header->type, 2) == str(hj, "PacketType"));
  BOOST_TEST(field_hex(header->byte_count, 2) == str(hj, "ByteCount"));
  BOOST_TEST(field_hex(header->id, 4) == str(hj, "PacketId"));
  BOOST_TEST(field_hex(header->checksum, 4) == str(hj, "Checksum"));

  BOOST_TEST_REQUIRE((events[0].kind == kdcom::FrameEvent::Kind::Packet));
  const kdcom::Packet& packet = events[0].packet;
  BOOST_TEST(field_hex(static_cast<std::uint16_t>(packet.type), 2) == str(hj, "PacketType"));
  BOOST_TEST(str(*v, "packet_type") == std::string(to_string(packet.type)));
  BOOST_TEST(field_hex(packet.id, 4) == str(hj, "PacketId"));
  BOOST_TEST(field_hex(kdcom::checksum(packet.body), 4) == str(hj, "Checksum"));
  BOOST_TEST(tohex(packet.body) == str(*v, "body_hex"));
  if (!str(*v, "trailer").empty()) BOOST_TEST(field_hex(wire_bytes.back(), 1) == str(*v, "trailer"));

  if (kdcom::is_control(packet.type)) {
    BOOST_TEST(kdcom::encode_control(packet.type, static_cast<std::uint32_t>(parse_field(str(hj, "PacketId")))) ==
               wire_bytes);
    return;
  }

  // Body fields: decode and compare; then build from the fields and encode.
  const json::object& fields = v->at("fields").as_object();
  Bytes body;
  switch (packet.type) {
    case kdcom::PacketType::StateManipulate:
      body = check_fields<wire::Manipulate>(packet.body, fields, manipulate_specs(), &wire::decode_manipulate,
                                            [&](wire::Manipulate& m) {
                                              m.args = wire::args_for_api(
                                                  static_cast<std::uint32_t>(parse_field(field_or(fields, "ApiNumber"))));
                                            });
      break;
    case kdcom::PacketType::StateChange64:
      body = check_fields<wire::StateChange>(packet.body, fields, state_change_specs(), &wire::decode_state_change,
                                             [&](wire::StateChange& s) {
                                               switch (parse_field(field_or(fields, "NewState"))) {
                                                 case wire::kStateLoadSymbols: s.state = wire::LoadSymbolsState{}; break;
                                                 case wire::kStateCommandString: s.state = wire::CommandStringState{}; break;
                                                 default: s.state = wire::ExceptionState{}; break;
                                               }
                                             });
      break;
    case kdcom::PacketType::DebugIo:
      body = check_fields<wire::DebugIo>(packet.body, fields, debug_io_specs(), &wire::decode_debug_io,
                                         [](wire::DebugIo&) {});
      break;
    case kdcom::PacketType::FileIo:
      body = check_fields<wire::FileIo>(packet.body, fields, file_io_specs(), &wire::decode_file_io,
                                        [](wire::FileIo& f) { f.args = wire::CreateFileArgs{}; });
      break;
    default:
      BOOST_FAIL("no field table for " << to_string(packet.type));
  }
  BOOST_TEST(tohex(body) == str(*v, "body_hex"));
  kdcom::Packet built{packet.type, static_cast<std::uint32_t>(parse_field(str(hj, "PacketId"))), body};
  BOOST_TEST(tohex(kdcom::encode(built)) == str(*v, "hex"));
}

BOOST_AUTO_TEST_SUITE_END()
