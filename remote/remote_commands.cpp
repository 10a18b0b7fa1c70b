#include "remote/remote_commands.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <charconv>

namespace openkd::remote {

using commands::CommandOrigin;
using commands::FamilyResult;
using ConsoleOut = commands::Output;

namespace {

bool local_only(const TransportSpec& s) {
  if (s.is_pipe()) return true;  // Unix sockets, 0600, this machine only
  if (!s.is_tcp() || s.reverse() || s.server.empty()) return false;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(s.server, ec);
  return !ec && addr.is_loopback();
}

std::string secure_refusal(std::string_view command) {
  return fmt::format("{} is disabled: the session is in secure mode (-secure); servers are started only "
                     "with -server on kd's command line\n", command);
}

}  // namespace

std::expected<TransportSpec, std::string> constrain_client_server(const Hub::ClientServer& origin,
                                                                  TransportSpec requested) {
  const TransportSpec& from = origin.spec;
  if (from.is_tls() && !requested.is_tls())
    return std::unexpected(fmt::format("a client that came through {} may start only ssl: or spipe: servers",
                                       kind_name(from.kind)));
  if (from.password && !requested.password) requested.password = from.password;  // inherited
  if (!from.password && !from.is_tls() && origin.local_only && !local_only(requested) && !requested.password &&
      !requested.is_tls())
    return std::unexpected(
        "a client of a local-only server may start a server reachable from the network only with "
        "password= or TLS (or use npipe:, or bind=127.0.0.1)");
  return requested;
}

void start_server_reporting(Hub& hub, const TransportSpec& spec, ConsoleOut& out, std::string_view debugger) {
  auto info = hub.start_server(spec);
  if (!info) {
    out.write(fmt::format("Server could not start: {}\n", info.error().message));
    return;
  }
  if (!info->hint.empty()) out.write(info->hint + "\n");
  if (!info->warning.empty()) out.write(info->warning + "\n");
  out.write(Hub::started_message(*info, debugger) + "\n");
}

void start_server_reporting(Hub& hub, std::string_view transport, ConsoleOut& out, std::string_view debugger) {
  auto spec = parse_transport(transport, Role::server);
  if (!spec) {
    out.write(fmt::format("Server could not start: {}\n", spec.error().message));
    return;
  }
  start_server_reporting(hub, *spec, out, debugger);
}

commands::CommandFamily remote_commands(Hub& hub, RemoteCommandOptions options) {
  commands::CommandFamily family;
  auto& c = family.commands;
  c.push_back({".server", ".server TRANSPORT             start a debugging server (tcp:port=N, npipe:pipe=NAME, ...)",
               [&hub, options](std::string_view args, const CommandOrigin& origin, ConsoleOut& out) {
                 if (options.secure) {
                   out.write(secure_refusal(".server"));
                   return FamilyResult::done;
                 }
                 if (args.empty()) {
                   out.write("Usage: .server tcp:port=N | npipe:pipe=NAME | ssl:... | spipe:... | com:...\n");
                   return FamilyResult::done;
                 }
                 auto spec = parse_transport(args, Role::server);
                 if (!spec) {
                   out.write(fmt::format("Server could not start: {}\n", spec.error().message));
                   return FamilyResult::done;
                 }
                 if (!origin.is_host()) {
                   auto from = hub.server_of_client(origin.client);
                   if (!from) {
                     out.write("Server could not start: the client that asked has left\n");
                     return FamilyResult::done;
                   }
                   bool inherits = from->spec.password && !spec->password;
                   auto allowed = constrain_client_server(*from, std::move(*spec));
                   if (!allowed) {
                     out.write(fmt::format("Server could not start: {}\n", allowed.error()));
                     return FamilyResult::done;
                   }
                   if (inherits) out.write("(the new server takes the password of the server this client came through)\n");
                   spec = std::move(*allowed);
                 }
                 start_server_reporting(hub, *spec, out, options.debugger);
                 return FamilyResult::done;
               }});
  c.push_back({".servers", ".servers                      list this debugger's servers",
               [&hub](std::string_view, const CommandOrigin&, ConsoleOut& out) {
                 auto list = hub.list_servers();
                 for (const auto& l : list) out.write(l + "\n");
                 return FamilyResult::done;
               }});
  c.push_back({".endsrv", ".endsrv N                     server N takes no new clients",
               [&hub, options](std::string_view args, const CommandOrigin&, ConsoleOut& out) {
                 if (options.secure) {
                   out.write(secure_refusal(".endsrv"));
                   return FamilyResult::done;
                 }
                 int n = -1;
                 auto [end, ec] = std::from_chars(args.data(), args.data() + args.size(), n);
                 if (args.empty() || ec != std::errc() || end != args.data() + args.size()) {
                   out.write("Usage: .endsrv N (the server number .servers shows)\n");
                 } else if (auto r = hub.end_server(n); !r) {
                   out.write(r.error().message + "\n");
                 } else {
                   out.write(fmt::format("Server {} disabled: no new clients; attached clients stay.\n", n));
                 }
                 return FamilyResult::done;
               }});
  c.push_back({".clients", ".clients                      list the connected clients",
               [&hub](std::string_view, const CommandOrigin&, ConsoleOut& out) {
                 auto list = hub.list_clients();
                 for (const auto& l : list) out.write(l + "\n");
                 return FamilyResult::done;
               }});
  // KD: q from a client leaves that client only; the session goes on.
  c.push_back({"q", "", [&hub](std::string_view, const CommandOrigin& origin, ConsoleOut&) {
                 if (origin.is_host()) return FamilyResult::pass;
                 hub.disconnect_client(origin.client, "you left the session (q); it goes on without you",
                                       fmt::format("{} left the session (q)", origin.name));
                 return FamilyResult::done;
               }});
  // qq ends the session for everyone: from the host's console, or from a
  // client of a server started with clientqq.
  c.push_back({"qq", "", [&hub](std::string_view, const CommandOrigin& origin, ConsoleOut& out) {
                 if (origin.is_host()) return FamilyResult::pass;
                 auto from = hub.server_of_client(origin.client);
                 if (from && from->spec.client_qq) return FamilyResult::pass;
                 out.write("qq from a client is refused: this server was not started with clientqq "
                           "(q leaves this client only)\n");
                 return FamilyResult::done;
               }});
  return family;
}

}  // namespace openkd::remote
