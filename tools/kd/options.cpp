#include "tools/kd/options.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace openkd::kd {

std::string usage() {
  return
      "usage: kd [-server TRANSPORT] [-remote TRANSPORT] -k CONNECT [-c \"cmd; cmd\"] [-cf FILE]\n"
      "          [-bonc] [-b] [-d] [-v] [-logo FILE] [-loga FILE]\n"
      "          [-noio] [-noshell] [-secure] [-QR HOST] [-version] [-?] [--new-kdnet-key]\n"
      "\n"
      "  -k CONNECT    the target:\n"
      "                  com:pipe,port=PATH[,resets=0][,reconnect]   a VM's serial port (Unix socket)\n"
      "                  com:port=DEVICE,baud=N[,flow=none|rtscts|xonxoff][,reconnect]\n"
      "                                                              a UART, USB adapter or pseudo-terminal\n"
      "                  com:?                                       list the serial ports\n"
      "                  com:ipport=PORT,port=HOST                   serial over TCP\n"
      "                  net:port=N,key=W.X.Y.Z[,target=HOST][,bind=IP]  KDNET over UDP: wait on port N\n"
      "                                                              (target=: contact the target first)\n"
      "                  sim[:cpus=N,seed=S,build=B,prompt=1]        the simulated kernel inside kd\n"
      "                (default: _NT_DEBUG_PORT and _NT_DEBUG_BAUD_RATE)\n"
      "  -server T     also serve this session to remote clients (tcp:port=N, npipe:pipe=NAME, ...)\n"
      "  -remote T     join a debugging server instead of opening a target\n"
      "  -c \"cmds\"     run these commands first (separated by ';')\n"
      "  -cf FILE      run the commands in FILE first\n"
      "  -b, -bonc     break in as soon as the session begins\n"
      "  -d            break at the first module load\n"
      "  -v            verbose: show link events (resyncs, retries)\n"
      "  -logo FILE    open a log file (-loga appends)\n"
      "  -noio         the server's own console does no I/O (clients and -c only)\n"
      "  -noshell      no .shell\n"
      "  -secure       secure mode: no .shell, no host file writes, no .kdfiles changes\n"
      "  -QR HOST      list the debugging servers running on HOST\n"
      "  -version      print the version and exit\n"
      "  --new-kdnet-key  print a fresh random KDNET key (w.x.y.z, for bcdedit /dbgsettings net) and exit\n"
      "  -?            this text\n"
      "\n"
      "At the prompt: Ctrl-C breaks in (and stops a long command), Ctrl-B quits, .help lists\n"
      "the commands; an empty line repeats t, p, d* and u. While the target runs, q (or\n"
      "Ctrl-B) leaves kd. When piped input ends while the target runs, kd waits 5 s for it to\n"
      "stop, then breaks in and ends.\n";
}

std::expected<Options, std::string> parse_options(const std::vector<std::string>& args) {
  Options o;
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& raw = args[i];
    std::string a = lower(raw);
    auto value = [&](std::string_view what) -> std::expected<std::string, std::string> {
      if (i + 1 >= args.size())
        return std::unexpected(fmt::format("option '{}' needs {} after it", raw, what));
      return args[++i];
    };
#define OPENKD_TAKE(field, what)                 \
  do {                                           \
    auto v = value(what);                        \
    if (!v) return std::unexpected(v.error());   \
    field = *v;                                  \
  } while (0)
    if (a == "-server") {
      std::string t;
      OPENKD_TAKE(t, "a transport (e.g. tcp:port=5005)");
      o.servers.push_back(t);
    } else if (a == "-remote") OPENKD_TAKE(o.remote, "a transport (e.g. tcp:Port=5005,Server=HOST)");
    else if (a == "-k") OPENKD_TAKE(o.connect, "a connection string (e.g. com:pipe,port=/tmp/vm.sock)");
    else if (a == "-c") OPENKD_TAKE(o.initial_commands, "commands in quotes");
    else if (a == "-cf") OPENKD_TAKE(o.command_file, "a file name");
    else if (a == "-y") OPENKD_TAKE(o.symbol_path, "a symbol path");
    else if (a == "-logo") OPENKD_TAKE(o.log_open, "a file name");
    else if (a == "-loga") OPENKD_TAKE(o.log_append, "a file name");
    else if (a == "-qr") OPENKD_TAKE(o.query_remote, "a host name");
    else if (a == "-b" || a == "-bonc") o.break_on_connect = true;
    else if (a == "-d") o.break_on_first_module = true;
    else if (a == "-v") o.verbose = true;
    else if (a == "-n") o.source_line_support = true;
    else if (a == "-noio") o.noio = true;
    else if (a == "-noshell") o.noshell = true;
    else if (a == "-secure") o.secure = true;
    else if (a == "-version" || a == "--version") o.version = true;
    else if (a == "--new-kdnet-key" || a == "-new-kdnet-key") o.new_kdnet_key = true;
    else if (a == "-?" || a == "-h" || a == "--help" || a == "/?") o.help = true;
    else if (a.starts_with("-k") && a.size() > 2) o.connect = raw.substr(2);  // KD accepts -kcom:...
    else
      return std::unexpected(fmt::format("unknown option '{}' (kd -? lists the options)", raw));
#undef OPENKD_TAKE
  }
  if (!o.remote.empty() && (!o.connect.empty() || !o.servers.empty()))
    return std::unexpected("-remote joins a server: it cannot be combined with -k or -server");
  return o;
}

}  // namespace openkd::kd
