// kdproxy's command line: the relay (--listen/--connect) and `decode`.
#pragma once
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "backends/connect_string.hpp"
#include "backends/kdnet_target.hpp"
#include "core/link/fault_injector.hpp"

namespace openkd::kdproxy {

struct Options {
  enum class Mode { Relay, Decode } mode = Mode::Relay;
  bool help = false;
  // Relay.
  bool listen_pty = false;              // --listen pty: a new pseudo-terminal (its path is printed)
  std::optional<backends::KdnetTargetSpec> listen_kdnet;  // --listen kdnet:hostip=IP,port=N,key=K[,bind=IP]
  backends::ConnectSpec listen;         // --listen CONNECTION (Pipe, TcpSerial, Serial)
  backends::ConnectSpec connect;        // --connect CONNECTION (Pipe, TcpSerial, Serial, Net)
  std::string log;                      // --log FILE, "-" for stdout, "" for none
  std::string pcap;                     // --pcap FILE
  link::FaultConfig faults_to_target, faults_to_debugger;
  // Decode.
  std::string capture;                  // decode CAPTURE
  std::string key;                      // --key W.X.Y.Z
};

std::expected<Options, std::string> parse_options(const std::vector<std::string>& args);
extern const char* const kUsage;

}  // namespace openkd::kdproxy
