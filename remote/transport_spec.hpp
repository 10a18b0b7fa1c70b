// Transport strings of -server/-remote (docs/remoting.md section 2): parsing and the listing form.
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace openkd::remote {

enum class Role { server, client };
enum class TransportKind { tcp, npipe, ssl, spipe, com };
/// proto=: an exact TLS version, or (absent) "TLS 1.2 or newer".
enum class TlsVersion { any, tls1_2, tls1_3 };

std::string_view kind_name(TransportKind kind);

/// One parsed transport string. Which fields matter depends on kind and role.
struct TransportSpec {
  TransportKind kind = TransportKind::tcp;
  Role role = Role::server;
  /// Client: the host to dial (server=). Server: the address to listen on
  /// (openkd's bind= extension; empty = every interface, as KD does).
  std::string server;
  /// port=lo or port=lo:hi (tcp, ssl). 0 on a server asks the OS for a free port.
  std::uint16_t port_lo = 0;
  std::uint16_t port_hi = 0;
  bool port_range = false;
  /// clicon=: reverse connection. Server: the client host to dial; client: the
  /// server host that will dial in.
  std::string clicon;
  bool ipv6 = false;
  /// npipe/spipe: the name (a Unix socket under the runtime dir, or a path when it holds '/').
  std::string pipe;
  TlsVersion proto = TlsVersion::any;
  /// certuser=/machuser=: server: PEM file with certificate and key; client: a PEM
  /// trust anchor or "sha256:HEX" to pin the server certificate.
  std::string cert;
  std::string cert_key = "CertUser";  ///< which key named it, for listings
  /// com: device path, baud rate, channel 0..254.
  std::string device;
  std::uint32_t baud = 115200;
  std::uint8_t channel = 0;
  bool hidden = false;
  /// password=TEXT, password=@FILE (its first line) or password=env:NAME.
  std::optional<std::string> password;
  /// The password was typed as text (visible in `ps` when on a command line).
  bool password_in_clear = false;
  /// Server: clients of this server may end the whole session with qq.
  bool client_qq = false;

  bool is_tls() const { return kind == TransportKind::ssl || kind == TransportKind::spipe; }
  bool is_pipe() const { return kind == TransportKind::npipe || kind == TransportKind::spipe; }
  bool is_tcp() const { return kind == TransportKind::tcp || kind == TransportKind::ssl; }
  bool reverse() const { return !clicon.empty(); }
};

struct SpecError {
  std::string message;
};

/// Parses "kind:key=value,flag,...". Keys are case-insensitive, values are kept
/// as typed (passwords are case-sensitive). Errors are one line naming the bad
/// part and the expected form.
std::expected<TransportSpec, SpecError> parse_transport(std::string_view text, Role role);

/// The secret a password= value names: "@FILE" is the file's first line,
/// "env:NAME" the variable's value, anything else the text itself.
std::expected<std::string, std::string> resolve_password(std::string_view value);

/// One line for whoever typed a password as text on a command line.
inline constexpr std::string_view password_hint =
    "openkd: hint: a password given as text is visible to other local users (ps); "
    "password=@FILE or password=env:NAME keeps it out";

/// The string a client gives to -remote to reach a server listening as `bound`
/// (port and pipe as actually bound). Passwords shown as '*' when masked.
std::string remote_argument(const TransportSpec& bound, std::string_view hostname,
                            bool mask_password = true);

}  // namespace openkd::remote
