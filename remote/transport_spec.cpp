#include "remote/transport_spec.hpp"

#include <boost/asio/ip/address.hpp>
#include <cstdlib>
#include <fstream>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <fmt/format.h>

namespace openkd::remote {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct KindInfo {
  TransportKind kind;
  std::string_view name;
  std::string_view server_keys;  // space separated, lower case
  std::string_view client_keys;
  std::string_view server_form;
  std::string_view client_form;
};

// Keys each kind accepts per role, and the expected form quoted in errors
// (docs/remoting.md section 2). bind= is openkd's: listen on one address instead of all.
constexpr std::array<KindInfo, 5> kinds{{
    {TransportKind::tcp, "tcp", "port clicon hidden password ipversion bind clientqq",
     "server clicon port password ipversion",
     "tcp:port=Socket[,hidden][,password=Password][,ipversion=6] or tcp:port=Socket,clicon=Client",
     "tcp:server=Server,port=Socket[,password=Password][,ipversion=6] or tcp:clicon=Server,port=Socket"},
    {TransportKind::npipe, "npipe", "pipe hidden password clientqq", "server pipe password",
     "npipe:pipe=PipeName[,hidden][,password=Password]",
     "npipe:server=Server,pipe=PipeName[,password=Password]"},
    {TransportKind::ssl, "ssl",
     "proto certuser machuser port clicon hidden password ipversion bind clientqq",
     "proto certuser machuser server clicon port password ipversion",
     "ssl:proto=Protocol,{certuser=Cert|machuser=Cert},port=Socket[,hidden][,password=Password]",
     "ssl:proto=Protocol,{certuser=Cert|machuser=Cert},server=Server,port=Socket[,password=Password]"},
    {TransportKind::spipe, "spipe", "proto certuser machuser pipe hidden password clientqq",
     "proto certuser machuser server pipe password",
     "spipe:proto=Protocol,{certuser=Cert|machuser=Cert},pipe=PipeName[,hidden][,password=Password]",
     "spipe:proto=Protocol,{certuser=Cert|machuser=Cert},server=Server,pipe=PipeName[,password=Password]"},
    {TransportKind::com, "com", "port baud channel hidden password clientqq", "port baud channel password",
     "com:port=COMPort,baud=BaudRate,channel=COMChannel[,hidden][,password=Password]",
     "com:port=COMPort,baud=BaudRate,channel=COMChannel[,password=Password]"},
}};

bool has_key(std::string_view keys, std::string_view key) {
  while (!keys.empty()) {
    auto sp = keys.find(' ');
    if (keys.substr(0, sp) == key) return true;
    if (sp == std::string_view::npos) break;
    keys.remove_prefix(sp + 1);
  }
  return false;
}

std::optional<std::uint32_t> parse_number(std::string_view s) {
  std::uint32_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string_view kind_name(TransportKind kind) {
  for (const auto& k : kinds)
    if (k.kind == kind) return k.name;
  return "?";
}

std::expected<TransportSpec, SpecError> parse_transport(std::string_view text_in, Role role) {
  std::string_view text = trim(text_in);
  // Checked before anything echoes the text: a control character would split
  // the one-line error and names no real host, pipe or password.
  if (auto c = std::ranges::find_if(text, [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; }); c != text.end())
    return std::unexpected(SpecError{fmt::format("bad transport string: control character 0x{:02x} at offset {}",
                                                 static_cast<unsigned char>(*c), c - text.begin())});
  auto fail = [&](std::string msg) {
    return std::unexpected(SpecError{fmt::format("bad transport '{}': {}", text, msg)});
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return fail("expected KIND:OPTIONS, e.g. tcp:port=5005 (kinds: tcp, npipe, ssl, spipe, com)");
  std::string kind_text = lower(trim(text.substr(0, colon)));
  const KindInfo* info = nullptr;
  for (const auto& k : kinds)
    if (k.name == kind_text) info = &k;
  if (!info)
    return fail(fmt::format("unknown transport '{}'; expected one of tcp, npipe, ssl, spipe, com",
                            kind_text));
  std::string_view form = role == Role::server ? info->server_form : info->client_form;
  std::string_view allowed = role == Role::server ? info->server_keys : info->client_keys;

  TransportSpec spec;
  spec.kind = info->kind;
  spec.role = role;
  std::string seen = " ";
  bool have_port = false, have_cert = false, have_server = false, have_pipe = false;

  std::string_view rest = text.substr(colon + 1);
  while (true) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) {
      if (comma == std::string_view::npos && rest.empty() && seen.size() > 1) break;
      return fail(fmt::format("empty option; expected {}", form));
    }
    auto eq = item.find('=');
    std::string key = lower(trim(item.substr(0, eq)));
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
    bool has_value = eq != std::string_view::npos;
    if (!has_key(allowed, key))
      return fail(fmt::format("option '{}' is not valid for {} {}; expected {}", key, info->name,
                              role == Role::server ? "-server" : "-remote", form));
    std::string canon = key == "machuser" ? "certuser" : key;
    if (seen.find(" " + canon + " ") != std::string::npos)
      return fail(fmt::format("option '{}' given twice", key));
    seen += canon + " ";
    if (key == "hidden") {
      if (has_value) return fail("'hidden' takes no value");
      spec.hidden = true;
    } else if (key == "clientqq") {
      if (has_value) return fail("'clientqq' takes no value");
      spec.client_qq = true;
    } else if (!has_value || value.empty()) {
      return fail(fmt::format("option '{}' needs a value ({}=...); expected {}", key, key, form));
    } else if (key == "port" && spec.kind == TransportKind::com) {
      spec.device = std::string(value);
      have_port = true;
    } else if (key == "port") {
      auto sep = value.find(':');
      auto lo = parse_number(value.substr(0, sep));
      auto hi = sep == std::string_view::npos ? lo : parse_number(value.substr(sep + 1));
      if (!lo || !hi || *lo > 65535 || *hi > 65535 || *hi < *lo)
        return fail(fmt::format("bad port '{}'; expected port=N or port=LOW:HIGH (0..65535)", value));
      if (role == Role::client && *lo == 0)
        return fail("port=0 is only valid on a server (it asks for any free port)");
      spec.port_lo = static_cast<std::uint16_t>(*lo);
      spec.port_hi = static_cast<std::uint16_t>(*hi);
      spec.port_range = sep != std::string_view::npos;
      have_port = true;
    } else if (key == "server") {
      spec.server = std::string(value);
      have_server = true;
    } else if (key == "bind") {
      spec.server = std::string(value);
    } else if (key == "clicon") {
      spec.clicon = std::string(value);
    } else if (key == "ipversion") {
      if (value == "6") spec.ipv6 = true;
      else if (value != "4") return fail(fmt::format("bad ipversion '{}'; expected ipversion=4 or ipversion=6", value));
    } else if (key == "pipe") {
      spec.pipe = std::string(value);
      have_pipe = true;
    } else if (key == "proto") {
      std::string p = lower(value);
      if (p == "tls1.2" || p == "tls12") spec.proto = TlsVersion::tls1_2;
      else if (p == "tls1.3" || p == "tls13") spec.proto = TlsVersion::tls1_3;
      else if (p == "ssl2" || p == "ssl3" || p == "tls1" || p == "tls1.0" || p == "tls1.1" || p == "pct1")
        return fail(fmt::format("proto '{}' is insecure and not supported; expected proto=tls1.2 or proto=tls1.3", value));
      else return fail(fmt::format("bad proto '{}'; expected proto=tls1.2 or proto=tls1.3", value));
    } else if (key == "certuser" || key == "machuser") {
      spec.cert = std::string(value);
      spec.cert_key = key == "certuser" ? "CertUser" : "MachUser";
      have_cert = true;
    } else if (key == "baud") {
      auto b = parse_number(value);
      if (!b || *b == 0) return fail(fmt::format("bad baud '{}'; expected baud=RATE, e.g. baud=115200", value));
      spec.baud = *b;
    } else if (key == "channel") {
      auto c = parse_number(value);
      if (!c || *c > 254) return fail(fmt::format("bad channel '{}'; expected channel=0..254", value));
      spec.channel = static_cast<std::uint8_t>(*c);
    } else if (key == "password") {
      auto secret = resolve_password(value);
      if (!secret) return fail(secret.error());
      spec.password = std::move(*secret);
      spec.password_in_clear = value.front() != '@' && value.substr(0, 4) != "env:";
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
    if (trim(rest).empty()) break;  // a trailing comma is harmless
  }

  auto missing = [&](std::string_view what) {
    return fail(fmt::format("missing {}; expected {}", what, form));
  };
  if ((spec.is_tcp() || spec.kind == TransportKind::com) && !have_port) return missing("port=");
  if (spec.is_pipe() && !have_pipe) return missing("pipe=");
  if (spec.is_tls() && role == Role::server && !have_cert)
    return missing("certuser= or machuser= (a PEM file with the certificate and its key)");
  if (spec.is_tcp() && role == Role::client && !have_server && spec.clicon.empty())
    return missing("server= or clicon=");
  if (spec.is_tcp() && role == Role::client && have_server && !spec.clicon.empty())
    return fail("give server= or clicon=, not both");
  if (spec.reverse() && spec.hidden)
    return fail("'hidden' does not apply to clicon= (a reverse server is never listed)");
  if (spec.reverse() && spec.port_range)
    return fail("clicon= needs one port, not a range");
  if (spec.reverse() && role == Role::server && spec.port_lo == 0)
    return fail("clicon= needs the client's port, not port=0");
  if (spec.is_pipe() && spec.pipe.find('\0') != std::string::npos) return fail("bad pipe name");
  return spec;
}

namespace {
// The name a client dials: the host name when listening on every interface,
// else the address actually bound (bind=127.0.0.1 is not reachable as the host name).
std::string tcp_server_name(const TransportSpec& s, std::string_view hostname) {
  if (s.role != Role::server || s.server.empty()) return std::string(hostname);
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(s.server, ec);
  if (!ec && addr.is_unspecified()) return std::string(hostname);
  return s.server;
}
}  // namespace

std::expected<std::string, std::string> resolve_password(std::string_view value) {
  if (value.substr(0, 4) == "env:") {
    std::string name(value.substr(4));
    const char* v = name.empty() ? nullptr : std::getenv(name.c_str());
    if (!v) return std::unexpected(fmt::format("password=env:{}: the environment variable is not set", name));
    if (!*v) return std::unexpected(fmt::format("password=env:{}: the environment variable is empty", name));
    return std::string(v);
  }
  if (value.front() == '@') {
    std::string path(value.substr(1));
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line))
      return std::unexpected(fmt::format("password=@{}: cannot read the file", path));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return std::unexpected(fmt::format("password=@{}: the first line is empty", path));
    return line;
  }
  return std::string(value);
}

std::string remote_argument(const TransportSpec& s, std::string_view hostname, bool mask_password) {
  std::string out(kind_name(s.kind));
  out += ':';
  if (s.is_tls()) {
    if (s.proto == TlsVersion::tls1_2) out += "Proto=tls1.2,";
    if (s.proto == TlsVersion::tls1_3) out += "Proto=tls1.3,";
    if (!s.cert.empty()) out += fmt::format("{}={},", s.cert_key, s.cert);
  }
  switch (s.kind) {
    case TransportKind::tcp:
    case TransportKind::ssl:
      out += s.port_range && s.port_hi != s.port_lo ? fmt::format("Port={}:{}", s.port_lo, s.port_hi)
                                                    : fmt::format("Port={}", s.port_lo);
      if (s.reverse()) out += fmt::format(",CliCon={}", s.clicon);
      else out += fmt::format(",Server={}", tcp_server_name(s, hostname));
      if (s.ipv6) out += ",IpVersion=6";
      break;
    case TransportKind::npipe:
    case TransportKind::spipe:
      out += fmt::format("Pipe={},Server={}", s.pipe, hostname);
      break;
    case TransportKind::com:
      out += fmt::format("Port={},Baud={},Channel={}", s.device, s.baud, s.channel);
      break;
  }
  if (s.password) out += fmt::format(",Password={}", mask_password ? "*" : *s.password);
  return out;
}

}  // namespace openkd::remote
