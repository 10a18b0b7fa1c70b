#include "backends/serial_port.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

namespace openkd::backends {
namespace {

// libserialport's sp_return codes (libserialport.h), so this file needs no libserialport header.
constexpr int kSpErrArg = -1, kSpErrFail = -2, kSpErrSupp = -4;

std::string missing(const std::string& path) {
  return fmt::format("no serial port {} (kd -k com:? lists the serial ports)", path);
}
std::string busy(const std::string& path) {
  return fmt::format("serial port {} is busy: another program has it open", path);
}
std::string reason(const SerialFailure& f) {
  if (!f.message.empty()) return f.message;
  switch (f.code) {
    case kSpErrArg: return "invalid argument";
    case kSpErrFail: return f.os_error ? std::strerror(f.os_error) : "the system call failed";
    case -3: return "out of memory";
    case kSpErrSupp: return "not supported";
  }
  return fmt::format("error {}", f.code);
}

std::string open_error(const std::string& path, const SerialFailure& f) {
  // libserialport 0.1.1's sp_get_port_by_name answers SP_ERR_ARG for a name the
  // system does not know as a serial port (on Linux its sysfs lookup finds nothing).
  if (f.code == kSpErrArg) return missing(path);
  switch (f.os_error) {
    case ENOENT:
    case ENODEV:
    case ENXIO:  // the node exists but no device answers (an unplugged adapter, a ttyS with no UART)
      return missing(path);
    case EBUSY:  // TIOCEXCL set by another program
    case EWOULDBLOCK:  // flock held by another program
      return busy(path);
    case EACCES:
    case EPERM:
      return fmt::format("no permission to open serial port {} ({}; the group dialout usually may)", path,
                         reason(f));
  }
  return fmt::format("cannot open serial port {}: {}", path, reason(f));
}

// 8N1 tolerates about half a bit of drift over the 9.5 bits up to the stop bit's
// sample point, ~5% between the two ends; each end may use half of it.
bool close_enough(std::uint32_t want, std::uint32_t got) {
  const double ratio = static_cast<double>(got) / static_cast<double>(want);
  return ratio > 0.975 && ratio < 1.025;
}

speed_t termios_speed(std::uint32_t baud) {
  switch (baud) {
    case 50: return B50; case 75: return B75; case 110: return B110; case 134: return B134;
    case 150: return B150; case 200: return B200; case 300: return B300; case 600: return B600;
    case 1200: return B1200; case 1800: return B1800; case 2400: return B2400; case 4800: return B4800;
    case 9600: return B9600; case 19200: return B19200; case 38400: return B38400; case 57600: return B57600;
    case 115200: return B115200; case 230400: return B230400; case 460800: return B460800;
    case 500000: return B500000; case 576000: return B576000; case 921600: return B921600;
    case 1000000: return B1000000; case 1152000: return B1152000; case 1500000: return B1500000;
    case 2000000: return B2000000; case 2500000: return B2500000; case 3000000: return B3000000;
    case 3500000: return B3500000; case 4000000: return B4000000;
    default: return 0;
  }
}

}  // namespace

const char* to_string(FlowControl flow) {
  switch (flow) {
    case FlowControl::None: return "none";
    case FlowControl::RtsCts: return "rtscts";
    case FlowControl::XonXoff: return "xonxoff";
  }
  return "none";
}

std::expected<std::vector<SerialPortInfo>, std::string> list_serial_ports(SerialPortApi& api) {
  auto ports = api.list_ports();
  if (!ports) return std::unexpected(fmt::format("cannot list the serial ports: {}", reason(ports.error())));
  std::sort(ports->begin(), ports->end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return std::move(*ports);
}

std::string format_serial_ports(const std::vector<SerialPortInfo>& ports) {
  if (ports.empty())
    return "No serial ports found (a pseudo-terminal is still opened by its path: com:port=/dev/pts/N)\n";
  std::size_t width = 0;
  for (const auto& p : ports) width = std::max(width, p.name.size());
  std::string out = fmt::format("{} serial port{}:\n", ports.size(), ports.size() == 1 ? "" : "s");
  for (const auto& p : ports) {
    std::string line = fmt::format("  {:<{}}  {}", p.name, width, p.description.empty() ? "-" : p.description);
    if (!p.transport.empty()) line += fmt::format("  [{}]", p.transport);
    if (p.usb_vid && p.usb_pid) line += fmt::format("  USB {:04x}:{:04x}", *p.usb_vid, *p.usb_pid);
    if (!p.usb_serial.empty()) line += fmt::format("  serial {}", p.usb_serial);
    out += line + "\n";
  }
  return out;
}

int print_serial_ports(const char* tool) {
  auto ports = list_serial_ports();
  if (!ports) {
    std::fprintf(stderr, "%s: %s\n", tool, ports.error().c_str());
    return 1;
  }
  std::fputs(format_serial_ports(*ports).c_str(), stdout);
  return 0;
}

bool is_pseudo_terminal(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) return false;
  // Linux: UNIX98_PTY_SLAVE_MAJOR is 136, with UNIX98_PTY_MAJOR_COUNT (8) majors.
  const unsigned m = major(st.st_rdev);
  return m >= 136 && m <= 143;
}

std::expected<OpenedSerial, std::string> open_uart(SerialPortApi& api, const std::string& path,
                                                   const SerialSettings& settings) {
  // libserialport 0.1.1 looks the name up in sysfs by its last component, so a
  // link (/dev/serial/by-id/..., the name that survives replugging an adapter)
  // is "no such port" to it: it is given the device the link leads to.
  char resolved[PATH_MAX];
  const std::string name = ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
  auto handle = api.open(name);
  if (!handle) return std::unexpected(open_error(path, handle.error()));
  SerialHandle& h = **handle;
  // Locked before anything is changed: a busy port's settings belong to its user.
  if (auto r = h.lock(); !r) {
    if (r.error().os_error == EWOULDBLOCK || r.error().os_error == EBUSY) return std::unexpected(busy(path));
    return std::unexpected(fmt::format("cannot lock serial port {}: {}", path, reason(r.error())));
  }
  if (auto r = h.set_8n1(); !r)
    return std::unexpected(fmt::format("serial port {} cannot do 8 data bits, no parity, 1 stop bit: {}", path,
                                       reason(r.error())));
  if (auto r = h.set_baud(settings.baud); !r) {
    if (r.error().code == kSpErrArg || r.error().os_error == EINVAL || r.error().code == kSpErrSupp)
      return std::unexpected(fmt::format("serial port {} does not support {} baud ({})", path, settings.baud,
                                         reason(r.error())));
    return std::unexpected(fmt::format("cannot set {} baud on serial port {}: {}", settings.baud, path,
                                       reason(r.error())));
  }
  // A driver that cannot make a rate often keeps the old one and says nothing (8250: above 115200).
  auto actual = h.actual_baud();
  if (!actual)
    return std::unexpected(fmt::format("cannot read back the baud rate of serial port {}: {}", path,
                                       reason(actual.error())));
  if (!close_enough(settings.baud, *actual))
    return std::unexpected(fmt::format("serial port {} does not support {} baud (its driver set {})", path,
                                       settings.baud, *actual));
  if (auto r = h.set_flow(settings.flow); !r)
    return std::unexpected(fmt::format("serial port {} does not support flow={} ({})", path,
                                       to_string(settings.flow), reason(r.error())));
  auto fd = h.take_fd();
  if (!fd) return std::unexpected(fmt::format("cannot use serial port {}: {}", path, reason(fd.error())));
  return OpenedSerial{*fd, false};
}

std::expected<OpenedSerial, std::string> open_pty(const std::string& path, const SerialSettings& settings) {
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::unexpected(open_error(path, SerialFailure{kSpErrFail, errno, std::strerror(errno)}));
  auto fail = [fd](std::string text) {
    ::close(fd);
    return std::unexpected(std::move(text));
  };
  // flock only: TIOCEXCL would outlive this user on a pty whose other users
  // (kdsim --pty holds the slave open) keep the tty from its last close.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return fail(busy(path));
    return fail(fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
  }
  termios tio{};
  if (::tcgetattr(fd, &tio) != 0)
    return fail(fmt::format("{} is not a serial port or terminal: {}", path, std::strerror(errno)));
  ::cfmakeraw(&tio);  // KD packets are binary: nothing translated, echoed or taken as a signal
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
  tio.c_iflag &= ~(IXON | IXOFF | IXANY);
  if (settings.flow == FlowControl::RtsCts) tio.c_cflag |= CRTSCTS;
  if (settings.flow == FlowControl::XonXoff) tio.c_iflag |= IXON | IXOFF;
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  // A pty has no clock: the rate is recorded when termios has a constant for
  // it and otherwise only paces the writer (backends/paced_stream.hpp).
  if (speed_t speed = termios_speed(settings.baud)) {
    ::cfsetispeed(&tio, speed);
    ::cfsetospeed(&tio, speed);
  }
  if (::tcsetattr(fd, TCSANOW, &tio) != 0)
    return fail(fmt::format("cannot configure {}: {}", path, std::strerror(errno)));
  return OpenedSerial{fd, true};
}

std::expected<OpenedSerial, std::string> open_serial_device(const std::string& path, const SerialSettings& settings,
                                                            SerialPortApi& api) {
  if (is_pseudo_terminal(path)) return open_pty(path, settings);
  return open_uart(api, path, settings);
}

}  // namespace openkd::backends
