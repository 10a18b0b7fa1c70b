// The relay: a thin Boost.Asio runner around the I/O-free pieces (the trace
// decoder, the fault injectors, the pcap writer). One debugger at a time; for
// each it dials the target, pumps both directions through bounded buffers, and
// when either side closes it closes the other and waits for the next debugger.
#pragma once
#include <boost/asio.hpp>

#include "options.hpp"

namespace openkd::kdproxy {

/// Runs until the io_context stops (SIGINT/SIGTERM); the error is one line
/// (the listening socket cannot be made, the log or pcap cannot be created).
boost::asio::awaitable<std::expected<void, std::string>> run_relay(const Options& o);

}  // namespace openkd::kdproxy
