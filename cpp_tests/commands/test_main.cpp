#define BOOST_TEST_MODULE commands
#include <boost/test/unit_test.hpp>
