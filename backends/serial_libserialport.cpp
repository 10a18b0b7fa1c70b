// The real SerialPortApi: libserialport 0.1.1 (Debian 12's libserialport0).
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <libserialport.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "backends/serial_port.hpp"

namespace openkd::backends {
namespace {

// What libserialport reported for the call that just failed; the OS error and
// message exist only after SP_ERR_FAIL (libserialport.h, "Errors").
SerialFailure failure(sp_return code) {
  SerialFailure f{static_cast<int>(code), 0, {}};
  if (code == SP_ERR_FAIL) {
    f.os_error = sp_last_error_code();
    if (char* m = sp_last_error_message()) {
      f.message = m;
      sp_free_error_message(m);
    }
  }
  return f;
}

SerialFailure os_failure() { return SerialFailure{SP_ERR_FAIL, errno, std::strerror(errno)}; }

std::expected<void, SerialFailure> check(sp_return r) {
  if (r != SP_OK) return std::unexpected(failure(r));
  return {};
}

class LibSerialHandle final : public SerialHandle {
public:
  explicit LibSerialHandle(sp_port* port) : port_(port) {}
  ~LibSerialHandle() override {
    sp_close(port_);
    sp_free_port(port_);
  }

  std::expected<void, SerialFailure> set_8n1() override {
    if (auto r = check(sp_set_bits(port_, 8)); !r) return r;
    if (auto r = check(sp_set_parity(port_, SP_PARITY_NONE)); !r) return r;
    return check(sp_set_stopbits(port_, 1));
  }
  std::expected<void, SerialFailure> set_baud(std::uint32_t baud) override {
    if (baud > static_cast<std::uint32_t>(INT32_MAX)) return std::unexpected(SerialFailure{SP_ERR_ARG, 0, {}});
    return check(sp_set_baudrate(port_, static_cast<int>(baud)));
  }
  std::expected<void, SerialFailure> set_flow(FlowControl flow) override {
    sp_flowcontrol f = flow == FlowControl::RtsCts    ? SP_FLOWCONTROL_RTSCTS
                       : flow == FlowControl::XonXoff ? SP_FLOWCONTROL_XONXOFF
                                                      : SP_FLOWCONTROL_NONE;
    return check(sp_set_flowcontrol(port_, f));
  }
  std::expected<std::uint32_t, SerialFailure> actual_baud() override {
    sp_port_config* config = nullptr;
    if (auto r = sp_new_config(&config); r != SP_OK) return std::unexpected(failure(r));
    int baud = 0;
    sp_return r = sp_get_config(port_, config);
    if (r == SP_OK) r = sp_get_config_baudrate(config, &baud);
    sp_free_config(config);
    if (r != SP_OK) return std::unexpected(failure(r));
    return static_cast<std::uint32_t>(baud < 0 ? 0 : baud);
  }
  std::expected<void, SerialFailure> lock() override {
    int fd = descriptor();
    if (fd < 0) return std::unexpected(SerialFailure{SP_ERR_ARG, 0, "no descriptor"});
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return std::unexpected(os_failure());
    // Further opens fail with EBUSY (except root's), as they do for KD's COM port.
    if (::ioctl(fd, TIOCEXCL) != 0) return std::unexpected(os_failure());
    return {};
  }
  std::expected<int, SerialFailure> take_fd() override {
    int fd = descriptor();
    if (fd < 0) return std::unexpected(SerialFailure{SP_ERR_ARG, 0, "no descriptor"});
    // sp_open leaves most of the line discipline raw; make sure of every flag a
    // binary protocol needs, keeping the rate and the flow control it set.
    termios tio{};
    if (::tcgetattr(fd, &tio) != 0) return std::unexpected(os_failure());
    const tcflag_t keep_i = tio.c_iflag & (IXON | IXOFF);
    const tcflag_t keep_c = tio.c_cflag & CRTSCTS;
    const speed_t in = ::cfgetispeed(&tio), out = ::cfgetospeed(&tio);
    ::cfmakeraw(&tio);
    tio.c_iflag |= keep_i;
    tio.c_cflag |= keep_c | CLOCAL | CREAD;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    ::cfsetispeed(&tio, in);
    ::cfsetospeed(&tio, out);
    // A rate with no Bnnn constant is BOTHER with the number in termios2's
    // c_ospeed, which glibc's tcsetattr (TCSETS) cannot carry: then the flags
    // stay as sp_open and sp_set_* left them (raw already in libserialport 0.1.1).
    constexpr speed_t kBother = 0010000;  // BOTHER in <asm/termbits.h>, which clashes with <termios.h>
    if (in != kBother && out != kBother && ::tcsetattr(fd, TCSANOW, &tio) != 0)
      return std::unexpected(os_failure());
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return std::unexpected(os_failure());
    ::fcntl(dup, F_SETFL, ::fcntl(dup, F_GETFL) | O_NONBLOCK);
    return dup;
  }

private:
  int descriptor() const {
    int fd = -1;
    if (sp_get_port_handle(port_, &fd) != SP_OK) return -1;
    return fd;
  }
  sp_port* port_;
};

class LibSerialPortApi final : public SerialPortApi {
public:
  std::expected<std::vector<SerialPortInfo>, SerialFailure> list_ports() override {
    sp_port** list = nullptr;
    if (auto r = sp_list_ports(&list); r != SP_OK) return std::unexpected(failure(r));
    std::vector<SerialPortInfo> out;
    for (sp_port** p = list; *p; ++p) {
      SerialPortInfo info;
      info.name = sp_get_port_name(*p);
      if (const char* d = sp_get_port_description(*p)) info.description = d;
      switch (sp_get_port_transport(*p)) {
        case SP_TRANSPORT_NATIVE: info.transport = "native"; break;
        case SP_TRANSPORT_USB: info.transport = "usb"; break;
        case SP_TRANSPORT_BLUETOOTH: info.transport = "bluetooth"; break;
      }
      int vid = 0, pid = 0;
      if (sp_get_port_transport(*p) == SP_TRANSPORT_USB && sp_get_port_usb_vid_pid(*p, &vid, &pid) == SP_OK) {
        info.usb_vid = static_cast<std::uint16_t>(vid);
        info.usb_pid = static_cast<std::uint16_t>(pid);
        if (const char* s = sp_get_port_usb_serial(*p)) info.usb_serial = s;
      }
      out.push_back(std::move(info));
    }
    sp_free_port_list(list);
    return out;
  }

  std::expected<std::unique_ptr<SerialHandle>, SerialFailure> open(const std::string& name) override {
    sp_port* port = nullptr;
    if (auto r = sp_get_port_by_name(name.c_str(), &port); r != SP_OK) return std::unexpected(failure(r));
    if (auto r = sp_open(port, SP_MODE_READ_WRITE); r != SP_OK) {
      SerialFailure f = failure(r);
      sp_free_port(port);
      return std::unexpected(f);
    }
    return std::make_unique<LibSerialHandle>(port);
  }
};

}  // namespace

SerialPortApi& system_serial_api() {
  static LibSerialPortApi api;
  return api;
}

}  // namespace openkd::backends
