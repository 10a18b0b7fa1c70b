// link::LinePacer: a serial line's pace on a clock the test owns.
#include <boost/test/unit_test.hpp>

#include "core/link/line_pacer.hpp"

using namespace openkd::link;
using namespace std::chrono_literals;

namespace {
const TimePoint t0 = TimePoint{} + 1h;
}

BOOST_AUTO_TEST_CASE(a_byte_takes_ten_bit_times) {
  LinePacer p(115200);
  // 10 bits at 115200 baud: 86.806 us, rounded up to the nanosecond.
  BOOST_TEST(std::chrono::duration_cast<std::chrono::nanoseconds>(p.wire_time(1)).count() == 86806);
  // 11,520 bytes are one second of line, with no drift from rounding.
  BOOST_TEST(std::chrono::duration_cast<std::chrono::nanoseconds>(p.wire_time(11520)).count() == 1'000'000'000);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::microseconds>(LinePacer(9600).wire_time(96)).count() == 100'000);
}

BOOST_AUTO_TEST_CASE(without_a_burst_the_next_bytes_wait_for_the_line) {
  LinePacer p(115200);
  BOOST_TEST((p.ready_at(100, t0) == t0));  // an idle line takes bytes at once
  const TimePoint done = p.send(1152, t0);
  BOOST_TEST((done == t0 + 100ms));
  BOOST_TEST((p.ready_at(1, t0) == done));
  BOOST_TEST((p.ready_at(1, t0 + 200ms) == t0 + 200ms));
  // Bytes handed over while the line is busy queue behind the others.
  BOOST_TEST((p.send(1152, t0 + 50ms) == t0 + 200ms));
  // After a quiet spell the line starts from the caller's time.
  BOOST_TEST((p.send(1152, t0 + 1s) == t0 + 1100ms));
}

BOOST_AUTO_TEST_CASE(a_burst_lets_the_writer_stay_a_fifo_ahead) {
  LinePacer p(115200, 16);
  p.send(16, t0);  // fills the FIFO
  // One more byte may go once one byte time has passed, 16 more once the FIFO is empty.
  BOOST_TEST((p.ready_at(1, t0) == t0 + p.wire_time(1)));
  BOOST_TEST((p.ready_at(16, t0) == t0 + p.wire_time(16)));
  // More than the FIFO holds waits for a quiet line.
  BOOST_TEST((p.ready_at(64, t0) == p.line_free()));
}

BOOST_AUTO_TEST_CASE(a_paced_writer_averages_the_line_rate) {
  // A writer that always waits for ready_at moves baud/10 bytes a second.
  LinePacer p(57600, 16);
  TimePoint now = t0;
  std::size_t sent = 0;
  while (sent < 57600) {
    now = p.ready_at(16, now);
    p.send(16, now);
    sent += 16;
  }
  const double seconds = std::chrono::duration<double>(p.line_free() - t0).count();
  BOOST_TEST(seconds == 10.0, boost::test_tools::tolerance(1e-6));
}
