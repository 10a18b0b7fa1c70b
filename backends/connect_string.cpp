#include "backends/connect_string.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fmt/format.h>
#include <vector>

namespace openkd::backends {
namespace {

constexpr std::string_view kForms =
    "expected com:pipe,port=PATH[,resets=0][,reconnect] | "
    "com:port=DEVICE,baud=N[,flow=none|rtscts|xonxoff][,reconnect] | com:? | "
    "com:ipport=PORT,port=HOST | net:port=N,key=W.X.Y.Z[,target=HOST][,bus=B.D.F][,bind=IP] | "
    "sim[:cpus=N,seed=S,build=B]";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Option {
  std::string key;    // lower-cased
  std::string value;  // as written
  bool has_value = false;
};

std::vector<Option> split_options(std::string_view text) {
  std::vector<Option> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    Option o;
    if (auto eq = item.find('='); eq != std::string_view::npos) {
      o.key = lower(item.substr(0, eq));
      o.value = std::string(item.substr(eq + 1));
      o.has_value = true;
    } else {
      o.key = lower(item);
    }
    out.push_back(std::move(o));
    start = comma + 1;
  }
  return out;
}

template <class T>
std::expected<T, std::string> number(const Option& o, T min, T max) {
  std::string_view v = o.value;
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) { base = 16; v.remove_prefix(2); }
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (v.empty() || ec != std::errc{} || p != v.data() + v.size() ||
      n < static_cast<std::uint64_t>(min) || n > static_cast<std::uint64_t>(max))
    return std::unexpected(fmt::format("bad value '{}' for '{}': expected a number from {} to {}", o.value,
                                       o.key, min, max));
  return static_cast<T>(n);
}

std::unexpected<std::string> bad(std::string_view what) {
  return std::unexpected(fmt::format("{}; {}", what, kForms));
}

}  // namespace

std::expected<ConnectSpec, std::string> parse_connect_string(std::string_view text) {
  auto colon = text.find(':');
  std::string scheme = lower(text.substr(0, colon));
  std::string_view rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  if (text.empty()) return bad("empty connection string");
  // A control character (a pasted newline, a NUL) would split the one-line
  // error that echoes the text, and names no real path, host or key.
  if (auto c = std::ranges::find_if(text, [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; }); c != text.end())
    return bad(fmt::format("control character 0x{:02x} at offset {} of the connection string",
                           static_cast<unsigned char>(*c), c - text.begin()));
  ConnectSpec spec;
  std::vector<Option> opts = rest.empty() ? std::vector<Option>{} : split_options(rest);
  auto need_value = [](const Option& o) -> std::expected<void, std::string> {
    if (!o.has_value || o.value.empty())
      return std::unexpected(fmt::format("'{}' needs a value ('{}=...')", o.key, o.key));
    return {};
  };

  if (scheme == "sim") {
    spec.kind = ConnectSpec::Kind::Sim;
    for (const Option& o : opts) {
      if (o.key.empty()) return bad("empty option in 'sim:'");
      if (auto r = need_value(o); !r) return bad(r.error());
      if (o.key == "cpus") {
        auto n = number<std::uint32_t>(o, 1, 8);
        if (!n) return bad(n.error());
        spec.cpus = *n;
      } else if (o.key == "seed") {
        auto n = number<std::uint64_t>(o, 0, UINT64_MAX);
        if (!n) return bad(n.error());
        spec.seed = *n;
      } else if (o.key == "build") {
        auto n = number<std::uint32_t>(o, 1, 0xFFFF);
        if (!n) return bad(n.error());
        spec.build = *n;
      } else if (o.key == "prompt") {
        auto n = number<std::uint32_t>(o, 0, 1);
        if (!n) return bad(n.error());
        spec.boot_prompt = *n != 0;
      } else {
        return bad(fmt::format("unknown option '{}' in 'sim:' (known: cpus, seed, build, prompt)", o.key));
      }
    }
    return spec;
  }

  if (scheme == "com" && rest == "?") {
    spec.kind = ConnectSpec::Kind::ListPorts;
    return spec;
  }
  if (scheme == "com") {
    bool have_flow = false;
    bool pipe = false, have_port = false, have_ipport = false, have_baud = false;
    for (const Option& o : opts) {
      if (o.key == "pipe" && !o.has_value) { pipe = true; continue; }
      if (o.key == "reconnect" && !o.has_value) { spec.reconnect = true; continue; }
      if (o.key.empty()) return bad("empty option in 'com:'");
      if (auto r = need_value(o); !r) return bad(r.error());
      if (o.key == "port") { spec.path = o.value; have_port = true; }
      else if (o.key == "baud") {
        auto n = number<std::uint32_t>(o, 50, 4000000);
        if (!n) return bad(n.error());
        spec.baud = *n; have_baud = true;
      } else if (o.key == "resets") {
        auto n = number<int>(o, 0, 1000000);
        if (!n) return bad(n.error());
        spec.resets = *n;
      } else if (o.key == "flow") {
        std::string f = lower(o.value);
        if (f == "none") spec.flow = FlowControl::None;
        else if (f == "rtscts") spec.flow = FlowControl::RtsCts;
        else if (f == "xonxoff") spec.flow = FlowControl::XonXoff;
        else return bad(fmt::format("bad value '{}' for 'flow': expected none, rtscts or xonxoff", o.value));
        have_flow = true;
      } else if (o.key == "ipport") {
        auto n = number<std::uint16_t>(o, 1, 65535);
        if (!n) return bad(n.error());
        spec.port = *n; have_ipport = true;
      } else {
        return bad(fmt::format("unknown option '{}' in 'com:' (known: pipe, port, baud, flow, resets, reconnect, ipport)",
                               o.key));
      }
    }
    if (!have_port) return bad("'com:' needs 'port='");
    if (pipe && have_ipport) return bad("'com:' cannot have both 'pipe' and 'ipport='");
    if ((pipe || have_ipport) && have_flow) return bad("'flow=' applies to a serial device ('com:port=DEVICE') only");
    if (pipe) { spec.kind = ConnectSpec::Kind::Pipe; return spec; }
    if (have_ipport && spec.reconnect) return bad("'reconnect' applies to 'com:pipe' and 'com:port=DEVICE' only");
    if (have_ipport) { spec.kind = ConnectSpec::Kind::TcpSerial; return spec; }
    spec.kind = ConnectSpec::Kind::Serial;
    if (!have_baud) spec.baud = 115200;
    return spec;
  }

  if (scheme == "net") {
    spec.kind = ConnectSpec::Kind::Net;
    bool have_port = false;
    for (const Option& o : opts) {
      if (o.key.empty()) return bad("empty option in 'net:'");
      if (auto r = need_value(o); !r) return bad(r.error());
      if (o.key == "port") {
        auto n = number<std::uint16_t>(o, 1, 65535);
        if (!n) return bad(n.error());
        spec.port = *n; have_port = true;
      } else if (o.key == "key") spec.key = o.value;
      else if (o.key == "target") spec.target = o.value;
      else if (o.key == "bind") spec.bind = o.value;
      else if (o.key == "bus") {
        // The target's NIC as bcdedit names it (b.d.f); the debugger side has no use for it.
        int parts = 0;
        bool ok = !o.value.empty();
        for (std::size_t i = 0, start = 0; ok && i <= o.value.size(); ++i) {
          if (i == o.value.size() || o.value[i] == '.') {
            ok = i > start && i - start <= 3;
            ++parts;
            start = i + 1;
          } else {
            ok = std::isdigit(static_cast<unsigned char>(o.value[i])) != 0;
          }
        }
        if (!ok || parts != 3) return bad(fmt::format("'bus={}' is not a PCI location b.d.f (e.g. bus=0.25.0)", o.value));
        spec.bus = o.value;
      } else return bad(fmt::format("unknown option '{}' in 'net:' (known: port, key, target, bus, bind)", o.key));
    }
    if (!have_port) return bad("'net:' needs 'port='");
    if (spec.key.empty()) return bad("'net:' needs 'key='");
    return spec;
  }
  return bad(fmt::format("unknown transport '{}'", scheme));
}

std::string to_string(const ConnectSpec& s) {
  switch (s.kind) {
    case ConnectSpec::Kind::Pipe:
      return fmt::format("com:pipe,port={}{}{}", s.path, s.resets >= 0 ? fmt::format(",resets={}", s.resets) : "",
                         s.reconnect ? ",reconnect" : "");
    case ConnectSpec::Kind::Serial:
      return fmt::format("com:port={},baud={}{}{}", s.path, s.baud,
                         s.flow == FlowControl::None ? "" : fmt::format(",flow={}", to_string(s.flow)),
                         s.reconnect ? ",reconnect" : "");
    case ConnectSpec::Kind::ListPorts: return "com:?";
    case ConnectSpec::Kind::TcpSerial: return fmt::format("com:ipport={},port={}", s.port, s.path);
    case ConnectSpec::Kind::Net:
      return fmt::format("net:port={},key={}{}{}{}", s.port, s.key, s.target.empty() ? "" : ",target=" + s.target,
                         s.bus.empty() ? "" : ",bus=" + s.bus, s.bind.empty() ? "" : ",bind=" + s.bind);
    case ConnectSpec::Kind::Sim:
      return fmt::format("sim:cpus={},seed={},build={}{}", s.cpus, s.seed, s.build, s.boot_prompt ? ",prompt=1" : "");
  }
  return {};
}

std::expected<std::string, std::string> connect_string_from_environment() {
  const char* port = std::getenv("_NT_DEBUG_PORT");
  if (!port || !*port) return std::string{};
  std::string p = port;
  std::string lp = lower(p);
  // KD's "com1".."com9" name the PC's UARTs; on Linux they are /dev/ttyS0..
  if (lp.size() == 4 && lp.starts_with("com") && lp[3] >= '1' && lp[3] <= '9')
    p = fmt::format("/dev/ttyS{}", lp[3] - '1');
  else if (lp.starts_with("com:") || lp.starts_with("net:") || lp.starts_with("sim"))
    return p;  // already a full -k string
  std::string baud = "115200";
  if (const char* b = std::getenv("_NT_DEBUG_BAUD_RATE"); b && *b) baud = b;
  std::string s = fmt::format("com:port={},baud={}", p, baud);
  if (auto r = parse_connect_string(s); !r) return std::unexpected("_NT_DEBUG_PORT/_NT_DEBUG_BAUD_RATE: " + r.error());
  return s;
}

}  // namespace openkd::backends
