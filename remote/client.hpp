// The remote client behind `kd -remote TRANSPORT`: a terminal into a server's session.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "remote/transport_spec.hpp"

namespace openkd::remote {

struct ClientOptions {
  int input_fd = 0;
  int output_fd = 1;  ///< session output: commands, their output, joins, the end of the session
  int error_fd = 2;   ///< this client's own errors (cannot connect, password rejected, connection lost)
  /// HOST\user by default.
  std::string identity;
  /// Terminal mode: prompts shown, own commands not echoed, Ctrl-B (the line
  /// ends at once) leaves. Default: whether input_fd is a terminal.
  std::optional<bool> terminal;
  /// Ctrl-C (SIGINT) sends a break-in request instead of killing the client.
  bool handle_sigint = true;
  std::chrono::milliseconds connect_timeout{10000};
};

/// Connects, runs the session until it ends or the user leaves, and returns the
/// exit status: 0 when the session ended or the user left (.remote_exit,
/// Ctrl-B, end of input once its commands ran), 1 when it could not connect,
/// was rejected, or lost the connection.
int run_client(const TransportSpec& spec, const ClientOptions& options = {});
/// Parses a -remote string first (a bad one: message on error_fd, status 1).
int run_client(std::string_view transport, const ClientOptions& options = {});

}  // namespace openkd::remote
