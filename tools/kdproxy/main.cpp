// kdproxy: a transparent KD relay between a debugger and a target, with a
// decoded log, a pcap and seeded faults; and `kdproxy decode CAPTURE`.
// See tools/kdproxy/README.md.
#include <boost/asio.hpp>
#include <csignal>
#include <cstdio>

#include "capture.hpp"
#include "options.hpp"
#include "relay.hpp"

int main(int argc, char** argv) {
  using namespace openkd::kdproxy;
  std::signal(SIGPIPE, SIG_IGN);
  auto opts = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  if (!opts) {
    std::fprintf(stderr, "kdproxy: %s\n", opts.error().c_str());
    return 2;
  }
  if (opts->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (opts->mode == Options::Mode::Decode) {
    auto r = decode_capture(opts->capture, opts->key, opts->log);
    if (!r) {
      std::fprintf(stderr, "kdproxy: %s\n", r.error().c_str());
      return 1;
    }
    return 0;
  }
  boost::asio::io_context io;
  int rc = 0;
  boost::asio::co_spawn(io, run_relay(*opts), [&](std::exception_ptr e, std::expected<void, std::string> r) {
    if (e) {
      std::fprintf(stderr, "kdproxy: internal error\n");
      rc = 1;
    } else if (!r) {
      std::fprintf(stderr, "kdproxy: %s\n", r.error().c_str());
      rc = 1;
    }
    io.stop();
  });
  io.run();
  return rc;
}
