// kdsim as a KDNET target: backends::KdnetTarget (one UDP socket, ours and the
// debugger's port, as Windows does; a target-role link::kdnet::Endpoint) joined
// to the simulator's stub with KDNET packet ids, one frame per datagram. A
// poll() loop like kdsim's main one.
#pragma once
#include "options.hpp"
#include "simulator/simulator.hpp"

namespace openkd::kdsim {

/// Runs until `signal_fd` is readable (SIGINT/SIGTERM). Returns the exit status.
int run_kdnet(const Options& options, sim::Simulator& sim, int signal_fd);

}  // namespace openkd::kdsim
