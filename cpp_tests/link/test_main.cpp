// The core/link test module (one Boost.Test executable; the cases live in the other files).
#define BOOST_TEST_MODULE link
#include <boost/test/unit_test.hpp>
