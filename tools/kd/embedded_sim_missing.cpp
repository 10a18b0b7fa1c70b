// Built when the simulator library is not part of this build (OPENKD_ONLY).
#include "tools/kd/embedded_sim.hpp"

namespace openkd::kd {

std::expected<std::unique_ptr<EmbeddedSimulator>, std::string> EmbeddedSimulator::start(const backends::ConnectSpec&) {
  return std::unexpected(std::string("this kd was built without the simulator (configure without OPENKD_ONLY)"));
}

}  // namespace openkd::kd
