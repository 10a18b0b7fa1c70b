// Pre-authentication caps and the aggregated failure log (remote/admission.hpp).
#include <boost/test/unit_test.hpp>

#include "remote/admission.hpp"

using namespace openkd::remote;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(admission)

BOOST_AUTO_TEST_CASE(source_is_the_address) {
  BOOST_TEST(source_of("tcp 127.0.0.1:63141") == "127.0.0.1");
  BOOST_TEST(source_of("ssl [::1]:5005") == "[::1]");
  BOOST_TEST(source_of("npipe pid 42") == "local");
  BOOST_TEST(source_of("com /dev/ttyS0 channel 1") == "local");
  BOOST_TEST(source_of("") == "local");
}

BOOST_AUTO_TEST_CASE(caps_per_source_and_in_all) {
  PreauthSlots slots(PreauthLimits{2, 3});
  auto a1 = slots.take("10.0.0.1");
  auto a2 = slots.take("10.0.0.1");
  BOOST_TEST_REQUIRE((a1.has_value() && a2.has_value()));
  auto a3 = slots.take("10.0.0.1");
  BOOST_TEST_REQUIRE(!a3.has_value());
  BOOST_TEST(a3.error() == "too many connections from 10.0.0.1 waiting to authenticate (limit 2); try again later");
  auto b1 = slots.take("10.0.0.2");
  BOOST_TEST(b1.has_value());
  BOOST_TEST(!slots.take("10.0.0.3").has_value());  // total 3 reached
  a1->release();
  a1->release();  // idempotent
  BOOST_TEST(slots.total() == 2u);
  {
    auto again = slots.take("10.0.0.1");
    BOOST_TEST(again.has_value());
    PreauthSlots::Slot moved = std::move(*again);
    BOOST_TEST(slots.total() == 3u);
  }  // the moved-to slot gives it back once
  BOOST_TEST(slots.total() == 2u);
}

BOOST_AUTO_TEST_CASE(slot_outlives_the_slots_object) {
  std::optional<PreauthSlots::Slot> kept;
  {
    PreauthSlots slots;
    kept = std::move(*slots.take("10.0.0.1"));
  }
  kept.reset();  // the counters are shared: no dangling write
}

BOOST_AUTO_TEST_CASE(failure_log_first_line_then_one_summary) {
  FailureLog log(10s);
  auto t0 = FailureLog::Clock::now();
  auto first = log.record("10.0.0.1", "wrong passwords", "openkd: rejected X: wrong password", t0);
  BOOST_TEST(first.value_or("") == "openkd: rejected X: wrong password");
  for (int i = 0; i < 199; ++i) BOOST_TEST(!log.record("10.0.0.1", "wrong passwords", "line", t0 + 1s).has_value());
  BOOST_TEST(!log.record("10.0.0.1", "refused (guess budget spent)", "line", t0 + 2s).has_value());
  BOOST_TEST(log.record("10.0.0.2", "wrong passwords", "other source", t0 + 2s).has_value());
  BOOST_TEST(log.flush(t0 + 5s).empty());
  auto lines = log.flush(t0 + 10s);
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0] == "openkd: from 10.0.0.1 in the last 10 s, also: 1 refused (guess budget spent), 199 wrong passwords");
  BOOST_TEST(log.flush(t0 + 13s).empty());  // 10.0.0.2 had nothing held back
  BOOST_TEST(log.record("10.0.0.1", "wrong passwords", "new interval", t0 + 11s).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
