// kd's command line, as KD spells it.
#pragma once
#include <expected>
#include <string>
#include <vector>

namespace openkd::kd {

struct Options {
  std::vector<std::string> servers;  // -server TRANSPORT (may repeat)
  std::string remote;                // -remote TRANSPORT
  std::string connect;               // -k CONNECT
  std::string initial_commands;      // -c "cmd; cmd"
  std::string command_file;          // -cf FILE
  std::string symbol_path;           // -y PATH
  bool break_on_connect = false;     // -b / -bonc
  bool break_on_first_module = false;  // -d
  bool verbose = false;              // -v
  bool source_line_support = false;  // -n
  std::string log_open, log_append;  // -logo FILE / -loga FILE
  bool noio = false, noshell = false, secure = false;
  bool version = false, help = false;
  bool new_kdnet_key = false;        // --new-kdnet-key
  std::string query_remote;          // -QR HOST
};

/// Parses argv (without argv[0]). Errors are one line naming the option and what it expects.
std::expected<Options, std::string> parse_options(const std::vector<std::string>& args);

/// The usage text of `kd -?`.
std::string usage();

}  // namespace openkd::kd
