// kdsim's command line.
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "backends/kdnet_target.hpp"
#include "simulator/simulator.hpp"

namespace openkd::kdsim {

struct Options {
  enum class Listen { None, Pipe, Tcp, Pty, Serial, Kdnet } listen = Listen::None;
  std::string pipe_path;            // pipe:PATH
  std::string tcp_host, tcp_port;   // tcp:HOST:PORT
  std::string serial_device;        // --serial DEVICE (opened at --baud, 115200 without it)
  bool list_ports = false;          // --list-ports
  sim::SimulatorConfig sim;
  bool verbose = false;             // echo the kernel's console (no debugger attached) to stderr
  std::uint64_t bench = 0;          // run this many instructions without a debugger, print the speed, exit
  bool help = false;
  bool new_kdnet_key = false;       // --new-kdnet-key: print a fresh key and exit
  // --kdnet hostip=IP,port=N,key=W.X.Y.Z[,bind=IP] (bcdedit /dbgsettings net's words;
  // port and key required, bind defaults to all addresses)
  backends::KdnetTargetSpec kdnet;
};

std::expected<Options, std::string> parse_options(const std::vector<std::string>& args);
extern const char* const kUsage;

}  // namespace openkd::kdsim
