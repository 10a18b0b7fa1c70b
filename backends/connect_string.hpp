// The -k connection string: one way to say a connection, shared by kd, the
// Python API and test configs (docs/architecture.md section 2, "One way to say a connection").
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "backends/serial_port.hpp"

namespace openkd::backends {

struct ConnectSpec {
  enum class Kind {
    Pipe,       // com:pipe,port=PATH[,resets=N][,reconnect]  (Unix socket, a VM's serial port)
    Serial,     // com:port=DEVICE,baud=N[,flow=F][,reconnect]   (a UART, a USB adapter or a pseudo-terminal)
    TcpSerial,  // com:ipport=PORT,port=HOST                     (serial over TCP)
    Net,        // net:port=N,key=K[,target=HOST][,bus=B.D.F][,bind=IP] (KDNET over UDP)
    Sim,        // sim[:cpus=N,seed=S,build=B,prompt=0|1]        (the simulator inside kd)
    ListPorts,  // com:?                                         (list the serial ports, open nothing)
  };
  Kind kind = Kind::Sim;
  std::string path;          // Pipe: socket path; Serial: device; TcpSerial/Net target: host
  std::uint16_t port = 0;    // TcpSerial: TCP port; Net: UDP port
  std::uint32_t baud = 115200;
  int resets = -1;           // -1: default (keep resetting while waiting); 0: keep resetting
  bool reconnect = false;    // Pipe, Serial: reopen a pipe that drops, wait for a device to come back
  FlowControl flow = FlowControl::None;  // Serial
  std::string key;           // Net
  std::string target;        // Net: host to contact first (debugger initiates)
  std::string bus;           // Net: the target NIC's PCI location (b.d.f); accepted, not used by the debugger
  std::string bind;          // Net: the local IPv4 address to listen on (default: all)
  std::uint32_t cpus = 1;    // Sim
  std::uint64_t seed = 1;    // Sim
  std::uint32_t build = 19041;  // Sim
  bool boot_prompt = false;  // Sim: the kernel asks for boot options (kdsim --boot-prompt)
  bool operator==(const ConnectSpec&) const = default;
};

/// Parses a -k string. The error is one line naming the bad part and the expected form.
std::expected<ConnectSpec, std::string> parse_connect_string(std::string_view text);

/// The spec written back as a -k string (canonical key order, lower-case keys).
std::string to_string(const ConnectSpec& spec);

/// _NT_DEBUG_PORT / _NT_DEBUG_BAUD_RATE, as KD reads them: "com1" style names map to
/// /dev/ttyS0; a path is taken as is. Empty when _NT_DEBUG_PORT is unset.
std::expected<std::string, std::string> connect_string_from_environment();

}  // namespace openkd::backends
