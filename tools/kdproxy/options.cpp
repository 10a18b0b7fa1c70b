#include "options.hpp"

namespace openkd::kdproxy {

const char* const kUsage =
    "usage: kdproxy --listen CONNECTION --connect CONNECTION [--log FILE|-] [--pcap FILE]\n"
    "               [--faults SPEC] [--faults-to-target SPEC] [--faults-to-debugger SPEC]\n"
    "       kdproxy decode CAPTURE [--key W.X.Y.Z] [--log FILE|-]\n"
    "\n"
    "Relays KD traffic between a debugger (--listen) and a target (--connect).\n"
    "CONNECTION is a -k string: com:pipe,port=PATH (Unix socket), com:ipport=PORT,port=HOST\n"
    "(TCP), com:port=DEVICE[,baud=N] (serial line or pseudo-terminal); --listen also takes\n"
    "`pty` (a new pseudo-terminal whose path is printed). KDNET relays to KDNET only:\n"
    "--listen kdnet:hostip=IP,port=N,key=K[,bind=IP] plays the target toward the debugger\n"
    "(kdsim --kdnet's words) and --connect net:port=N,key=K[,bind=IP] the debugger toward\n"
    "the target (kd's -k string); each side has its key, so packets are re-encrypted.\n"
    "The proxy listens on the --listen pipe or TCP port, or opens the device; for each\n"
    "debugger it dials the target (retrying every second), and when either side closes\n"
    "it closes the other and waits for the next debugger.\n"
    "  --log FILE|-             both directions decoded, one line a packet or link event\n"
    "  --pcap FILE              classic pcap, KDCOM inside synthetic Ethernet/IPv4/TCP\n"
    "                           (debugger 10.0.0.1, target 10.0.0.2:50000; tools/kdproxy/README.md)\n"
    "  --faults SPEC            seeded link faults both ways, kdsim's syntax:\n"
    "                           drop=P,corrupt=P,dup=P,truncate=P,delay=MS,seed=N\n"
    "  --faults-to-target SPEC  faults on what the debugger sends only (overrides --faults)\n"
    "  --faults-to-debugger SPEC faults on what the target sends only (overrides --faults)\n"
    "decode reads pcap or pcapng (gzip-compressed too) of KDNET (UDP, --key needed to\n"
    "decrypt) or of kdproxy's own KDCOM captures and prints the same lines and counts.\n";

namespace {

std::expected<backends::ConnectSpec, std::string> endpoint(const std::string& flag, const std::string& text) {
  auto spec = backends::parse_connect_string(text);
  if (!spec) return std::unexpected(flag + ": " + spec.error());
  using K = backends::ConnectSpec::Kind;
  switch (spec->kind) {
    case K::Pipe:
    case K::TcpSerial:
    case K::Serial: return *spec;
    case K::Net:
      if (flag == "--connect") return *spec;
      return std::unexpected(flag + ": the debugger's side of KDNET is kdnet:hostip=IP,port=N,key=K[,bind=IP]");
    default: return std::unexpected(flag + ": expected a pipe, TCP or serial connection, got '" + text + "'");
  }
}

std::expected<link::FaultConfig, std::string> faults(const std::string& flag, const std::string& spec) {
  auto f = link::parse_faults(spec);
  if (!f) {
    std::string e = f.error();
    if (e.rfind("--faults: ", 0) == 0) e = e.substr(10);
    return std::unexpected(flag + ": " + e);
  }
  return *f;
}

}  // namespace

std::expected<Options, std::string> parse_options(const std::vector<std::string>& args) {
  Options o;
  bool have_listen = false, have_connect = false;
  std::optional<link::FaultConfig> both, to_target, to_debugger;
  std::size_t i = 0;
  if (!args.empty() && args[0] == "decode") {
    o.mode = Options::Mode::Decode;
    i = 1;
  }
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::expected<std::string, std::string> {
      if (i + 1 >= args.size()) return std::unexpected(a + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
      return o;
    }
    bool relay_only = a == "--listen" || a == "--connect" || a == "--pcap" || a.rfind("--faults", 0) == 0;
    if (relay_only && o.mode == Options::Mode::Decode) return std::unexpected(a + " is not an option of decode");
    if (a == "--key" && o.mode == Options::Mode::Relay) return std::unexpected("--key is an option of decode");
    if (a == "--listen" || a == "--connect" || a == "--log" || a == "--pcap" || a == "--key" ||
        a == "--faults" || a == "--faults-to-target" || a == "--faults-to-debugger") {
      auto v = value();
      if (!v) return std::unexpected(v.error());
      if (a == "--listen") {
        have_listen = true;
        if (*v == "pty") {
          o.listen_pty = true;
        } else if (v->starts_with("kdnet:")) {
          auto k = backends::parse_kdnet_target(std::string_view(*v).substr(6), "--listen kdnet:");
          if (!k) return std::unexpected(k.error());
          if (!k->port || k->key.empty()) return std::unexpected("--listen kdnet: needs port= and key=");
          o.listen_kdnet = *k;
        } else {
          auto s = endpoint(a, *v);
          if (!s) return std::unexpected(s.error());
          o.listen = *s;
        }
      } else if (a == "--connect") {
        have_connect = true;
        auto s = endpoint(a, *v);
        if (!s) return std::unexpected(s.error());
        o.connect = *s;
      } else if (a == "--log") {
        o.log = *v;
      } else if (a == "--pcap") {
        o.pcap = *v;
      } else if (a == "--key") {
        o.key = *v;
      } else {
        auto f = faults(a, *v);
        if (!f) return std::unexpected(f.error());
        (a == "--faults" ? both : a == "--faults-to-target" ? to_target : to_debugger) = *f;
      }
    } else if (o.mode == Options::Mode::Decode && o.capture.empty() && !a.starts_with("-")) {
      o.capture = a;
    } else {
      return std::unexpected("unknown argument '" + a + "' (kdproxy --help lists the options)");
    }
  }
  if (o.mode == Options::Mode::Decode) {
    if (o.capture.empty()) return std::unexpected("decode needs a capture file");
    return o;
  }
  if (!have_listen) return std::unexpected("--listen CONNECTION is required (where the debugger connects)");
  if (!have_connect) return std::unexpected("--connect CONNECTION is required (the target)");
  if (o.listen_kdnet.has_value() != (o.connect.kind == backends::ConnectSpec::Kind::Net))
    return std::unexpected("KDNET relays to KDNET only (--listen kdnet:... with --connect net:...): "
                           "KDCOM and KDNET packets differ in framing and ids");
  if (both) o.faults_to_target = o.faults_to_debugger = *both;
  if (to_target) o.faults_to_target = *to_target;
  if (to_debugger) o.faults_to_debugger = *to_debugger;
  return o;
}

}  // namespace openkd::kdproxy
