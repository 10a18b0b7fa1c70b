// The remoting commands as one command family (core/commands/command_family.hpp):
// .server, .servers, .endsrv, .clients, and what q and qq mean for a remote
// client. kd registers it in its engine; kdremote_testhost runs the same family.
#pragma once
#include <expected>
#include <string>
#include <string_view>

#include "core/commands/command_family.hpp"
#include "remote/hub.hpp"

namespace openkd::remote {

struct RemoteCommandOptions {
  /// -secure: nobody (console or client) may start or end servers.
  bool secure = false;
  /// Shown in "Client can connect with ..." lines.
  std::string debugger = "kd";
};

/// The family, bound to hub (which must outlive it).
commands::CommandFamily remote_commands(Hub& hub, RemoteCommandOptions options);

/// Starts a server (-server on the command line, or .server) and prints what
/// KD prints: the hint, the warning, "Server started ..." or why it did not.
void start_server_reporting(Hub& hub, const TransportSpec& spec, commands::Output& out, std::string_view debugger);
void start_server_reporting(Hub& hub, std::string_view transport, commands::Output& out, std::string_view debugger);

/// What a server started by a remote client must be: no weaker than the one
/// the client came through. A password there is inherited when none is given;
/// a TLS server's client may start TLS servers only; a client of a local-only
/// server without a password may expose the session only locally or behind a
/// password or TLS. Returns the spec to start, or the one-line refusal.
std::expected<TransportSpec, std::string> constrain_client_server(const Hub::ClientServer& origin,
                                                                  TransportSpec requested);

}  // namespace openkd::remote
