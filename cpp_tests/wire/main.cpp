// Boost.Test entry point for the core/wire suite.
#define BOOST_TEST_MODULE wire
#include <boost/test/unit_test.hpp>
