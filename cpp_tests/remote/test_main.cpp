#define BOOST_TEST_MODULE remote
#include <boost/test/unit_test.hpp>

#include <csignal>

// A client that exits closes its pipes; writing to them must fail, not kill the test run.
struct IgnoreSigpipe {
  IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }
};
BOOST_TEST_GLOBAL_FIXTURE(IgnoreSigpipe);
