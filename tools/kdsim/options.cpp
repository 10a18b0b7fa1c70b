#include "options.hpp"

#include <charconv>

#include "core/link/kdnet_endpoint.hpp"
#include "core/wire/kdnet.hpp"

namespace openkd::kdsim {

const char* const kUsage =
    "usage: kdsim (--listen pipe:PATH | --listen tcp:HOST:PORT | --pty | --serial DEVICE | --kdnet ...) [options]\n"
    "       kdsim --list-ports | --new-kdnet-key\n"
    "\n"
    "A simulated Windows x64 kernel target that speaks KD (KDCOM framing).\n"
    "\n"
    "  --listen pipe:PATH   serve on a Unix socket at PATH (like a VM's serial pipe)\n"
    "  --listen tcp:HOST:PORT  serve on TCP (port 0: any free port, printed)\n"
    "  --pty                serve on a new pseudo-terminal (its path is printed)\n"
    "  --serial DEVICE      serve on a serial port or an existing pseudo-terminal (8N1 at\n"
    "                       --baud, 115200 without it, and paced at that rate); when the\n"
    "                       device goes away kdsim waits for it to come back\n"
    "  --list-ports         list the serial ports libserialport knows, and exit\n"
    "  --kdnet hostip=IP,port=N,key=W.X.Y.Z[,bind=IP]\n"
    "                       be a KDNET target on UDP port N (bcdedit /dbgsettings net's words:\n"
    "                       the debugger's address, the port, the key; bind = our own address).\n"
    "                       Without hostip= it waits for a debugger with target= to contact it;\n"
    "                       port=0 binds a free port (printed on the first line)\n"
    "  --new-kdnet-key      print a fresh random KDNET key and exit\n"
    "  --break-on-boot      wait at the first instruction for a debugger and report a\n"
    "                       breakpoint there, so the whole run is deterministic\n"
    "  --seed S             seed for the kernel's own PRNG (default 0)\n"
    "  --faults SPEC        seeded link faults: drop=P,corrupt=P,dup=P,truncate=P,\n"
    "                       delay=MS,seed=N (P a probability 0..1, any subset)\n"
    "  --baud B             pace the link like a serial line at B baud (10 bits a byte)\n"
    "                       (and, with --serial, set the device to B baud)\n"
    "  --on-detach freeze|run\n"
    "                       what a stopped kernel does when its debugger goes away:\n"
    "                       freeze (default, as Windows) stays stopped until a debugger\n"
    "                       attaches and is told why; run continues it\n"
    "  --boot-prompt        the kernel asks for boot options (DbgPrompt) at boot; the\n"
    "                       debugger's answer sets them (without it no prompt, as Windows)\n"
    "  --build N            Windows build number the kernel reports (default 19041)\n"
    "  --cpus N             number of processors, 1 to 8 (default 1)\n"
    "  --memory MiB         physical memory, 32 to 16384 MiB (default 256)\n"
    "  --kernel-dir DIR     where simkrnl.exe, simdrv.sys and simdrv2.sys are\n"
    "                       (default: the build's simulator/kernel)\n"
    "  --slice N            instructions per CPU per scheduling round (default 10000)\n"
    "  --verbose            print the kernel's output to stderr while no debugger takes it\n"
    "  --bench N            run N instructions with no debugger, print the speed, exit\n"
    "  --help               this text\n"
    "\n"
    "A running kernel keeps running when a debugger disconnects; the next one resynchronises.\n"
    "SIGINT or SIGTERM ends kdsim cleanly.\n";

namespace {
template <class T>
std::expected<T, std::string> number(const std::string& opt, const std::string& text, T lo, T hi) {
  T v{};
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size() || v < lo || v > hi)
    return std::unexpected(opt + " wants a number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                           ", got '" + text + "'");
  return v;
}
}  // namespace

std::expected<Options, std::string> parse_options(const std::vector<std::string>& args) {
  Options o;
  o.sim.machine.kernel_dir = OPENKD_KERNEL_DIR;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::expected<std::string, std::string> {
      if (i + 1 >= args.size()) return std::unexpected(a + " needs a value");
      return args[++i];
    };
#define OPENKD_VALUE(var)              \
  auto var = value();                  \
  if (!var) return std::unexpected(var.error())
#define OPENKD_NUMBER(var, T, lo, hi)                    \
  OPENKD_VALUE(var##_text);                              \
  auto var = number<T>(a, *var##_text, lo, hi);          \
  if (!var) return std::unexpected(var.error())
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--listen") {
      OPENKD_VALUE(spec);
      if (spec->rfind("pipe:", 0) == 0 && spec->size() > 5) {
        o.listen = Options::Listen::Pipe;
        o.pipe_path = spec->substr(5);
      } else if (spec->rfind("tcp:", 0) == 0) {
        std::string rest = spec->substr(4);
        auto colon = rest.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
          return std::unexpected("--listen tcp: wants tcp:HOST:PORT, got '" + *spec + "'");
        o.listen = Options::Listen::Tcp;
        o.tcp_host = rest.substr(0, colon);
        o.tcp_port = rest.substr(colon + 1);
        if (auto p = number<unsigned>("--listen tcp: port", o.tcp_port, 0, 65535); !p) return std::unexpected(p.error());
      } else {
        return std::unexpected("--listen wants pipe:PATH or tcp:HOST:PORT, got '" + *spec + "'");
      }
    } else if (a == "--new-kdnet-key") {
      o.new_kdnet_key = true;
    } else if (a == "--kdnet") {
      OPENKD_VALUE(spec);
      o.listen = Options::Listen::Kdnet;
      auto k = backends::parse_kdnet_target(*spec, "--kdnet");
      if (!k) return std::unexpected(k.error());
      o.kdnet = *k;
      if (!o.kdnet.port) return std::unexpected("--kdnet needs port=N");
      if (o.kdnet.key.empty()) return std::unexpected("--kdnet needs key=W.X.Y.Z (kdsim --new-kdnet-key makes one)");
    } else if (a == "--pty") {
      o.listen = Options::Listen::Pty;
    } else if (a == "--serial") {
      OPENKD_VALUE(device);
      if (device->empty()) return std::unexpected("--serial wants a device path");
      o.listen = Options::Listen::Serial;
      o.serial_device = *device;
    } else if (a == "--list-ports") {
      o.list_ports = true;
    } else if (a == "--break-on-boot") {
      o.sim.break_on_boot = true;
    } else if (a == "--on-detach") {
      OPENKD_VALUE(policy);
      if (*policy == "freeze") o.sim.on_detach = sim::OnDetach::Freeze;
      else if (*policy == "run") o.sim.on_detach = sim::OnDetach::Run;
      else return std::unexpected("--on-detach wants freeze or run, got '" + *policy + "'");
    } else if (a == "--boot-prompt") {
      o.sim.machine.boot_prompt = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--seed") {
      OPENKD_NUMBER(n, std::uint64_t, 0, UINT64_MAX);
      o.sim.machine.seed = *n;
    } else if (a == "--faults") {
      OPENKD_VALUE(spec);
      auto f = sim::parse_faults(*spec);
      if (!f) return std::unexpected(f.error());
      o.sim.faults = *f;
    } else if (a == "--baud") {
      OPENKD_NUMBER(n, std::uint32_t, 50, 100000000);
      o.sim.baud = *n;
    } else if (a == "--build") {
      OPENKD_NUMBER(n, std::uint32_t, 1, 65535);
      o.sim.machine.build = *n;
    } else if (a == "--cpus") {
      OPENKD_NUMBER(n, unsigned, 1, 8);
      o.sim.machine.cpus = *n;
    } else if (a == "--memory") {
      OPENKD_NUMBER(n, std::uint64_t, 32, 16384);
      o.sim.machine.memory_mib = *n;
    } else if (a == "--kernel-dir") {
      OPENKD_VALUE(dir);
      o.sim.machine.kernel_dir = *dir;
    } else if (a == "--slice") {
      OPENKD_NUMBER(n, std::uint64_t, 100, 100000000);
      o.sim.machine.slice = *n;
    } else if (a == "--bench") {
      OPENKD_NUMBER(n, std::uint64_t, 1, UINT64_MAX);
      o.bench = *n;
    } else {
      return std::unexpected("unknown option '" + a + "' (see --help)");
    }
#undef OPENKD_VALUE
#undef OPENKD_NUMBER
  }
  if (!o.help && !o.bench && !o.new_kdnet_key && !o.list_ports && o.listen == Options::Listen::None)
    return std::unexpected("say where to listen: --listen pipe:PATH, --listen tcp:HOST:PORT, --pty, --serial DEVICE or --kdnet ...");
  // A UART moves baud/10 bytes a second whatever kdsim writes: pace to it, so
  // a burst of output never blocks the emulation in write() (--baud or 115200).
  if (o.listen == Options::Listen::Serial && o.sim.baud == 0) o.sim.baud = 115200;
  if (o.listen == Options::Listen::Kdnet && o.sim.baud != 0)
    return std::unexpected("--baud paces a serial line; KDNET has no baud rate");
  if (o.listen == Options::Listen::Kdnet) {
    o.sim.link = link::LinkConfig::target(link::IdScheme::Kdnet);
    o.sim.link.use_datagram_timing();
  }
  return o;
}

}  // namespace openkd::kdsim
