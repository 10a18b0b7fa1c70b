// backends/serial_port: the libserialport paths through a fake SerialPortApi
// (no UART here), and the pty path on a real pseudo-terminal.
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <filesystem>
#include <fcntl.h>
#include <map>
#include <stdlib.h>
#include <unistd.h>

#include "backends/serial_port.hpp"
#include "core/io/pty.hpp"

using namespace openkd::backends;

namespace {

constexpr int kSpErrArg = -1, kSpErrFail = -2;

// What a fake port does when asked; every call is recorded.
struct FakePort {
  std::optional<SerialFailure> open_fails, lock_fails, baud_fails, flow_fails;
  std::uint32_t max_baud = 115200;  // like an 8250: a higher rate is ignored and the old one kept
  std::uint32_t baud = 9600;
  FlowControl flow = FlowControl::None;
  bool locked = false, took_fd = false;
};

class FakeHandle final : public SerialHandle {
public:
  explicit FakeHandle(FakePort& p) : p_(p) {}
  std::expected<void, SerialFailure> set_8n1() override { return {}; }
  std::expected<void, SerialFailure> set_baud(std::uint32_t baud) override {
    if (p_.baud_fails) return std::unexpected(*p_.baud_fails);
    if (baud <= p_.max_baud) p_.baud = baud;
    return {};
  }
  std::expected<void, SerialFailure> set_flow(FlowControl flow) override {
    if (p_.flow_fails) return std::unexpected(*p_.flow_fails);
    p_.flow = flow;
    return {};
  }
  std::expected<std::uint32_t, SerialFailure> actual_baud() override { return p_.baud; }
  std::expected<void, SerialFailure> lock() override {
    if (p_.lock_fails) return std::unexpected(*p_.lock_fails);
    p_.locked = true;
    return {};
  }
  std::expected<int, SerialFailure> take_fd() override {
    p_.took_fd = true;
    return ::open("/dev/null", O_RDWR | O_CLOEXEC);
  }

private:
  FakePort& p_;
};

class FakeApi final : public SerialPortApi {
public:
  std::map<std::string, FakePort> ports;
  std::vector<SerialPortInfo> listed;
  std::optional<SerialFailure> list_fails;

  std::expected<std::vector<SerialPortInfo>, SerialFailure> list_ports() override {
    if (list_fails) return std::unexpected(*list_fails);
    return listed;
  }
  std::expected<std::unique_ptr<SerialHandle>, SerialFailure> open(const std::string& name) override {
    auto it = ports.find(name);
    // libserialport 0.1.1: sp_get_port_by_name answers SP_ERR_ARG for a name it cannot find.
    if (it == ports.end()) return std::unexpected(SerialFailure{kSpErrArg, 0, {}});
    if (it->second.open_fails) return std::unexpected(*it->second.open_fails);
    return std::make_unique<FakeHandle>(it->second);
  }
};

std::string open_error(FakeApi& api, const std::string& path, SerialSettings s = {}) {
  auto r = open_uart(api, path, s);
  if (r) {
    ::close(r->fd);
    return "";
  }
  BOOST_TEST(r.error().find('\n') == std::string::npos);
  return r.error();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_port_opens_8n1_at_the_rate_with_its_flow_control_and_locked) {
  FakeApi api;
  api.ports["/dev/ttyUSB0"].max_baud = 3000000;
  auto r = open_uart(api, "/dev/ttyUSB0", SerialSettings{921600, FlowControl::RtsCts});
  BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error()));
  BOOST_TEST(!r->pty);
  BOOST_TEST(r->fd >= 0);
  ::close(r->fd);
  const FakePort& p = api.ports["/dev/ttyUSB0"];
  BOOST_TEST(p.baud == 921600u);
  BOOST_TEST(int(p.flow) == int(FlowControl::RtsCts));
  BOOST_TEST(p.locked);
  BOOST_TEST(p.took_fd);
}

BOOST_AUTO_TEST_CASE(a_link_to_a_port_is_opened_as_the_device_it_leads_to) {
  // /dev/serial/by-id/... names an adapter across replugging; libserialport 0.1.1 wants the device.
  std::string dir = (std::filesystem::temp_directory_path() / "openkd-serial-XXXXXX").string();
  BOOST_TEST_REQUIRE(::mkdtemp(dir.data()) != nullptr);
  const std::string link = dir + "/usb-FTDI_FT232R_A50285BI-if00-port0";
  std::filesystem::create_symlink("/dev/null", link);
  FakeApi api;
  api.ports["/dev/null"];
  BOOST_TEST(open_error(api, link) == "");
  api.ports.clear();
  BOOST_TEST(open_error(api, link) == "no serial port " + link + " (kd -k com:? lists the serial ports)");
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_missing_device_says_so_and_where_to_look) {
  FakeApi api;
  BOOST_TEST(open_error(api, "/dev/ttyUSB7") ==
             "no serial port /dev/ttyUSB7 (kd -k com:? lists the serial ports)");
  // An adapter unplugged between the listing and the open: the node answers ENXIO or ENODEV.
  api.ports["/dev/ttyUSB0"].open_fails = SerialFailure{kSpErrFail, ENXIO, "No such device or address"};
  BOOST_TEST(open_error(api, "/dev/ttyUSB0") ==
             "no serial port /dev/ttyUSB0 (kd -k com:? lists the serial ports)");
}

BOOST_AUTO_TEST_CASE(a_busy_device_says_another_program_has_it) {
  FakeApi api;
  // Another program set TIOCEXCL: open() fails with EBUSY.
  api.ports["/dev/ttyS0"].open_fails = SerialFailure{kSpErrFail, EBUSY, "Device or resource busy"};
  BOOST_TEST(open_error(api, "/dev/ttyS0") == "serial port /dev/ttyS0 is busy: another program has it open");
  // Another openkd holds the flock: nothing about the port is changed.
  FakePort& p = api.ports["/dev/ttyS1"];
  p.lock_fails = SerialFailure{kSpErrFail, EWOULDBLOCK, "Resource temporarily unavailable"};
  BOOST_TEST(open_error(api, "/dev/ttyS1", SerialSettings{57600}) ==
             "serial port /dev/ttyS1 is busy: another program has it open");
  BOOST_TEST(p.baud == 9600u);
  BOOST_TEST(!p.took_fd);
}

BOOST_AUTO_TEST_CASE(an_unsupported_baud_rate_names_the_rate) {
  FakeApi api;
  // The driver keeps its old rate without a word (an 8250 above 115200): the read-back catches it.
  api.ports["/dev/ttyS0"];
  BOOST_TEST(open_error(api, "/dev/ttyS0", SerialSettings{460800}) ==
             "serial port /dev/ttyS0 does not support 460800 baud (its driver set 9600)");
  // The driver refuses outright.
  api.ports["/dev/ttyACM0"].baud_fails = SerialFailure{kSpErrFail, EINVAL, "Invalid argument"};
  BOOST_TEST(open_error(api, "/dev/ttyACM0", SerialSettings{250000}) ==
             "serial port /dev/ttyACM0 does not support 250000 baud (Invalid argument)");
  // A non-standard rate the driver makes is taken.
  api.ports["/dev/ttyUSB1"].max_baud = 4000000;
  BOOST_TEST(open_error(api, "/dev/ttyUSB1", SerialSettings{1000000}) == "");
}

BOOST_AUTO_TEST_CASE(other_failures_are_one_line_naming_the_device) {
  FakeApi api;
  api.ports["/dev/ttyS2"].open_fails = SerialFailure{kSpErrFail, EACCES, "Permission denied"};
  BOOST_TEST(open_error(api, "/dev/ttyS2").starts_with("no permission to open serial port /dev/ttyS2"));
  api.ports["/dev/ttyS3"].flow_fails = SerialFailure{-4, 0, {}};
  BOOST_TEST(open_error(api, "/dev/ttyS3", SerialSettings{115200, FlowControl::XonXoff}) ==
             "serial port /dev/ttyS3 does not support flow=xonxoff (not supported)");
}

BOOST_AUTO_TEST_CASE(the_listing_is_sorted_with_usb_ids_and_serial_numbers) {
  FakeApi api;
  api.listed = {
      SerialPortInfo{"/dev/ttyUSB0", "FT232R USB UART", "usb", 0x0403, 0x6001, "A50285BI"},
      SerialPortInfo{"/dev/ttyS0", "ttyS0", "native", std::nullopt, std::nullopt, ""},
  };
  auto ports = list_serial_ports(api);
  BOOST_TEST_REQUIRE(ports.has_value());
  BOOST_TEST(format_serial_ports(*ports) ==
             "2 serial ports:\n"
             "  /dev/ttyS0    ttyS0  [native]\n"
             "  /dev/ttyUSB0  FT232R USB UART  [usb]  USB 0403:6001  serial A50285BI\n");
  BOOST_TEST(format_serial_ports({}).starts_with("No serial ports found"));
  api.list_fails = SerialFailure{kSpErrFail, EACCES, "Permission denied"};
  auto failed = list_serial_ports(api);
  BOOST_TEST_REQUIRE(!failed.has_value());
  BOOST_TEST(failed.error() == "cannot list the serial ports: Permission denied");
}

BOOST_AUTO_TEST_CASE(a_pty_is_told_from_a_uart_and_opened_through_termios) {
  auto pty = openkd::io::open_pty_pair();
  BOOST_TEST_REQUIRE(pty.has_value(), (pty ? "" : pty.error()));
  BOOST_TEST(is_pseudo_terminal(pty->slave_path));
  BOOST_TEST(!is_pseudo_terminal("/dev/null"));
  BOOST_TEST(!is_pseudo_terminal("/nonexistent/tty"));
  // The pty goes through termios even though the API knows no such port.
  FakeApi api;
  auto r = open_serial_device(pty->slave_path, SerialSettings{115200}, api);
  BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error()));
  BOOST_TEST(r->pty);
  // A second opener is refused while the first holds it.
  auto again = open_serial_device(pty->slave_path, SerialSettings{115200}, api);
  BOOST_TEST_REQUIRE(!again.has_value());
  BOOST_TEST(again.error() == "serial port " + pty->slave_path + " is busy: another program has it open");
  ::close(r->fd);
  // Any rate: a pty has no clock, the rate only paces the writer.
  auto odd = open_serial_device(pty->slave_path, SerialSettings{12345}, api);
  BOOST_TEST_REQUIRE(odd.has_value(), (odd ? "" : odd.error()));
  ::close(odd->fd);
  // Anything else goes to libserialport.
  auto uart = open_serial_device("/dev/ttyUSB9", SerialSettings{}, api);
  BOOST_TEST_REQUIRE(!uart.has_value());
  BOOST_TEST(uart.error().starts_with("no serial port /dev/ttyUSB9"));
}

BOOST_AUTO_TEST_CASE(the_real_libserialport_cannot_open_a_pty_which_is_why_ptys_go_through_termios) {
  // A fact of libserialport 0.1.1 that the routing in open_serial_device rests on
  // (docs/architecture.md section 4); if a newer libserialport opens ptys, this says so.
  auto pty = openkd::io::open_pty_pair();
  BOOST_TEST_REQUIRE(pty.has_value(), (pty ? "" : pty.error()));
  auto r = open_uart(system_serial_api(), pty->slave_path, SerialSettings{});
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error() == "no serial port " + pty->slave_path + " (kd -k com:? lists the serial ports)");
  auto missing = open_serial_device("/dev/openkd-no-such-tty", SerialSettings{});
  BOOST_TEST_REQUIRE(!missing.has_value());
  BOOST_TEST(missing.error() == "no serial port /dev/openkd-no-such-tty (kd -k com:? lists the serial ports)");
  // Listing works on any machine (it may well be empty).
  BOOST_TEST(list_serial_ports().has_value());
}
