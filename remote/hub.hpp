// The session hub: one debugger session shared by every client of every server.
//
// The hub runs its own I/O thread. The debugger's engine thread pulls commands
// with next_command() (clients' lines and, if it wants, its own console's) and
// runs them one at a time in arrival order; everything it prints goes to
// broadcast_output(). All public members are thread-safe, but must not be called
// from inside the hub's callbacks (they run on the hub's I/O thread).
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "remote/admission.hpp"
#include "remote/auth.hpp"
#include "remote/transport_spec.hpp"

namespace openkd::remote {

struct HubOptions {
  /// Shown in "Client can connect with..." lines.
  std::string debugger_name = "kd";
  /// A client whose unsent output stays above this for 2 s (or exceeds 16 times
  /// this at once) is disconnected with a message; it never slows the session.
  std::size_t client_queue_limit = 4u << 20;
  /// Text for the host's own console, one whole line with its '\n': joins,
  /// leaves, "X issued: cmd", rejected passwords. Leave empty for -noio. Called
  /// on the hub's I/O thread, except "issued" lines, which come from
  /// next_command() on the engine thread.
  std::function<void(std::string_view text)> local_output;
  /// A client pressed Ctrl-C. Called on the hub's I/O thread.
  std::function<void()> on_break_request;
  /// Write listed (non-hidden) servers to the per-user registry for -QR.
  bool register_servers = true;
  /// Deadlines before a client is admitted: its hello, the TLS handshake and
  /// its answer to the password challenge. The environment variable
  /// OPENKD_REMOTE_PREAUTH_TIMEOUT_MS, when set, replaces all three (tests use it).
  std::chrono::milliseconds hello_timeout{10'000};
  std::chrono::milliseconds handshake_timeout{15'000};
  std::chrono::milliseconds auth_timeout{30'000};
  /// Wrong passwords checked per source and per server (see GuessBudget).
  GuessLimits guess_limits;
  /// Connections not yet authenticated, per source and in all; beyond, refused at once.
  PreauthLimits preauth_limits;
  /// Failure lines: the first per source per interval as it happens, then one summary.
  std::chrono::milliseconds failure_log_interval{10'000};
};

struct ServerInfo {
  int index = 0;
  /// The -remote argument that reaches it, password masked: tcp:Port=5005,Server=HOST
  std::string remote;
  /// Non-empty when the server is exposed without password or TLS.
  std::string warning;
  /// Non-empty when the password was given as text (password_hint).
  std::string hint;
};

struct HubCommand {
  /// 0 for the host's console (submit_command), else the client's id.
  std::uint64_t origin = 0;
  /// "HOST\user (tcp 127.0.0.1:63141)"; empty for the host.
  std::string issuer;
  std::string line;
};

struct HubError {
  std::string message;
};

class Hub {
public:
  explicit Hub(HubOptions options = {});
  /// shutdown("the debugger exited") if not done yet.
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  /// Parses and starts one server (.server / -server). Errors are one line.
  std::expected<ServerInfo, HubError> start_server(std::string_view transport);
  std::expected<ServerInfo, HubError> start_server(const TransportSpec& spec);
  /// ".servers": "0 - Debugger Server - tcp:Port=5005,Server=HOST" per server.
  std::vector<std::string> list_servers() const;
  /// ".endsrv N": no new clients on server N; attached clients stay.
  std::expected<void, HubError> end_server(int index);
  /// ".clients": "HOST\user (tcp 127.0.0.1:63141), last active Wed Dec 19 06:23:07 2018".
  std::vector<std::string> list_clients() const;
  std::size_t client_count() const;

  /// The server a client came through, as started (password included), for
  /// what that client may do (remote_commands.hpp); nullopt if it is gone.
  struct ClientServer {
    TransportSpec spec;
    bool local_only = false;  ///< a pipe or a listener bound to loopback
  };
  std::optional<ClientServer> server_of_client(std::uint64_t client) const;
  /// Sends one client away (its `q`): it is told `message`, everyone else sees
  /// `notice`, and the session goes on.
  void disconnect_client(std::uint64_t client, std::string message, std::string notice);

  /// Text the engine printed; reaches every client, in call order. Never
  /// blocks; safe from any thread, including the hub's callbacks.
  void broadcast_output(std::string_view text);
  /// Shows every client a command the host runs outside next_command() ("<prompt>line").
  void announce_command(std::string_view line);
  /// Queues a line typed at the host's console (runs in order with clients' lines).
  void submit_command(std::string line);
  /// The next command to run, waiting up to timeout; nullopt on timeout or
  /// after shutdown. Announces the command to everyone as it is handed out, and
  /// tells the previous command's issuer it finished.
  std::optional<HubCommand> next_command(std::chrono::milliseconds timeout);
  /// Makes the current (or next) next_command() wait return at once, e.g.
  /// because the host's console ended. Safe from any thread.
  void wake();
  /// The prompt clients display (e.g. "0: kd> "); also marks the running command finished.
  void set_prompt(std::string prompt);
  /// Ends the session: every client is told why and disconnected, servers close.
  /// Blocks until done (at most a few seconds for slow clients).
  void shutdown(std::string_view reason);
  bool is_shut_down() const;

  /// "Server started.  Client can connect with any of these command lines\n0: kd -remote ..."
  static std::string started_message(const ServerInfo& info, std::string_view debugger = "kd");

  struct Impl;

private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace openkd::remote
