// The link fault injector moved to core/link (kdproxy uses it without the
// simulator); the simulator keeps its names for it.
#pragma once
#include "core/link/fault_injector.hpp"

namespace openkd::sim {
using link::FaultConfig;
using link::FaultCounters;
using link::FaultInjector;
using link::parse_faults;
}  // namespace openkd::sim
