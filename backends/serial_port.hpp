// Serial devices for -k com:port=DEVICE and kdsim --serial: real UARTs and USB
// adapters through libserialport, pseudo-terminals through termios
// (libserialport 0.1.1 cannot open them: docs/architecture.md section 4).
// libserialport is reached through a seam (SerialPortApi) so the error paths
// (a missing port, a busy one, a rate the driver does not take) are tested
// without a UART; serial_libserialport.cpp is the real implementation.
#pragma once
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace openkd::backends {

enum class FlowControl { None, RtsCts, XonXoff };

/// "none", "rtscts", "xonxoff".
const char* to_string(FlowControl flow);

/// 8N1 always: KD's serial transport is 8 data bits, no parity, one stop bit.
struct SerialSettings {
  std::uint32_t baud = 115200;
  FlowControl flow = FlowControl::None;
};

/// One port as libserialport lists it.
struct SerialPortInfo {
  std::string name;         ///< "/dev/ttyUSB0"
  std::string description;  ///< "FT232R USB UART"; the name when there is nothing better
  std::string transport;    ///< "native", "usb", "bluetooth"
  std::optional<std::uint16_t> usb_vid, usb_pid;
  std::string usb_serial;   ///< the USB serial number, empty when none
};

/// A failed libserialport call: its sp_return code and, for SP_ERR_FAIL, the
/// OS error number and message it reported.
struct SerialFailure {
  int code = 0;       ///< SP_ERR_ARG (-1), SP_ERR_FAIL (-2), SP_ERR_MEM (-3), SP_ERR_SUPP (-4)
  int os_error = 0;   ///< errno, for SP_ERR_FAIL
  std::string message;
};

/// An open port, between sp_open and handing its descriptor to Asio.
class SerialHandle {
public:
  virtual ~SerialHandle() = default;
  /// 8 data bits, no parity, one stop bit (sp_set_bits, _parity, _stopbits).
  virtual std::expected<void, SerialFailure> set_8n1() = 0;
  virtual std::expected<void, SerialFailure> set_baud(std::uint32_t baud) = 0;  // sp_set_baudrate
  virtual std::expected<void, SerialFailure> set_flow(FlowControl flow) = 0;    // sp_set_flowcontrol
  /// The rate the driver really set (sp_get_config): drivers round or ignore rates they cannot make.
  virtual std::expected<std::uint32_t, SerialFailure> actual_baud() = 0;
  /// Exclusive use: flock(LOCK_EX | LOCK_NB) against other openkd processes
  /// (and programs that lock), TIOCEXCL against other opens.
  virtual std::expected<void, SerialFailure> lock() = 0;
  /// A non-blocking, close-on-exec duplicate of the port's descriptor in raw
  /// mode (no byte translated, echoed or taken as a signal), which outlives
  /// the handle (the lock goes with it).
  virtual std::expected<int, SerialFailure> take_fd() = 0;
};

/// The libserialport calls openkd makes.
class SerialPortApi {
public:
  virtual ~SerialPortApi() = default;
  virtual std::expected<std::vector<SerialPortInfo>, SerialFailure> list_ports() = 0;
  /// sp_get_port_by_name + sp_open(SP_MODE_READ_WRITE).
  virtual std::expected<std::unique_ptr<SerialHandle>, SerialFailure> open(const std::string& name) = 0;
};

/// The real libserialport.
SerialPortApi& system_serial_api();

/// The ports libserialport knows, sorted by name. The error is one line.
std::expected<std::vector<SerialPortInfo>, std::string> list_serial_ports(SerialPortApi& api = system_serial_api());

/// `kd -k com:?` and `kdsim --list-ports`: one line a port (name, description,
/// USB VID:PID, serial number), or a line saying there are none.
std::string format_serial_ports(const std::vector<SerialPortInfo>& ports);

/// Lists the ports on stdout (or "<tool>: error" on stderr); the exit status for main().
int print_serial_ports(const char* tool);

/// Whether `path` names a pseudo-terminal slave: a character device with a
/// Unix98 pty slave major number (136-143, Linux's
/// Documentation/admin-guide/devices.txt), the path followed through links
/// (socat's link=). False for a missing path.
bool is_pseudo_terminal(const std::string& path);

struct OpenedSerial {
  int fd = -1;           ///< non-blocking, close-on-exec; the caller owns it
  bool pty = false;      ///< opened through termios: nothing paces it but the caller
};

/// Opens a UART or USB adapter through `api`: open, 8N1 at the rate, flow
/// control, the rate read back, locked. The error is one line naming the device.
std::expected<OpenedSerial, std::string> open_uart(SerialPortApi& api, const std::string& path,
                                                   const SerialSettings& settings);

/// Opens a pseudo-terminal with termios (raw, 8N1, flow control, the rate set
/// when termios has a constant for it: a pty has no clock), locked with flock.
std::expected<OpenedSerial, std::string> open_pty(const std::string& path, const SerialSettings& settings);

/// A pty through termios, anything else through libserialport.
std::expected<OpenedSerial, std::string> open_serial_device(const std::string& path, const SerialSettings& settings,
                                                            SerialPortApi& api = system_serial_api());

}  // namespace openkd::backends
