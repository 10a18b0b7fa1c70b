// Internals of the session hub, shared by hub.cpp (public API, command queue)
// and hub_server.cpp (listeners and per-client sessions). I/O-thread state is
// marked; everything else is guarded by the named mutex.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "remote/auth.hpp"
#include "remote/com_line.hpp"
#include "remote/framed_stream.hpp"
#include "remote/hub.hpp"
#include "remote/transport.hpp"

namespace openkd::remote {

struct ServerEntry;

struct ClientSession : std::enable_shared_from_this<ClientSession> {
  ClientSession(std::uint64_t id, std::string name, std::unique_ptr<FramedStream> f, asio::any_io_executor ex)
      : id(id), name(std::move(name)), framed(std::move(f)), signal(ex) {}
  std::uint64_t id;
  std::string name;
  std::shared_ptr<ServerEntry> server;  ///< the server it came through
  std::unique_ptr<FramedStream> framed;
  std::deque<Bytes> queue;    ///< encoded frames not yet written
  std::size_t queued = 0;     ///< bytes in queue
  bool closing = false;       ///< writer stops once the queue is written
  bool dropped = false;       ///< writer stops now (the client is gone)
  asio::steady_timer signal;  ///< wakes the writer
  /// When the queue last went over the limit (cleared when it drains below).
  std::optional<std::chrono::steady_clock::time_point> behind_since;
};

struct ServerEntry {
  int index = 0;
  TransportSpec bound;
  std::string remote;  ///< listing form, password masked
  bool disabled = false;
  bool local_only = false;  ///< pipe or loopback: unreachable from the network
  std::unique_ptr<SocketListener> listener;
  std::shared_ptr<ComLine> com;
  std::shared_ptr<asio::ssl::context> tls;
  std::filesystem::path registration;
  std::unique_ptr<asio::steady_timer> redial;  ///< clicon: the pause between dial attempts
};

struct ServerListing {
  int index;
  std::string remote;
  bool disabled;
};

struct ClientListing {
  std::string name;
  std::chrono::system_clock::time_point last_active;
};

struct Hub::Impl {
  explicit Impl(HubOptions o);

  HubOptions options;
  asio::io_context io;  // declared first: destroyed last, after everything bound to it
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;

  // I/O-thread state.
  std::vector<std::shared_ptr<ServerEntry>> servers;
  std::map<std::uint64_t, std::shared_ptr<ClientSession>> sessions;
  GuessBudget budget;
  PreauthSlots preauth;
  FailureLog failures;
  std::uint64_t next_client_id = 1;
  std::string prompt;
  bool stopping = false;

  // Listings, read by any thread; guarded by info_mutex.
  mutable std::mutex info_mutex;
  std::vector<ServerListing> server_listings;
  std::map<std::uint64_t, ClientListing> client_listings;
  std::string prompt_for_engine;

  // The command queue; guarded by command_mutex.
  std::mutex command_mutex;
  std::condition_variable command_ready;
  std::deque<HubCommand> commands;
  std::uint64_t running_origin = 0;  ///< client whose command runs now (0: none/host)
  bool wake_pending = false;         ///< wake(): the next wait returns at once

  std::atomic<bool> shut_down{false};
  std::mutex shutdown_mutex;

  // I/O thread (hub_server.cpp).
  std::expected<ServerInfo, HubError> open_server(const TransportSpec& spec);
  asio::awaitable<void> accept_loop(std::shared_ptr<ServerEntry> entry);
  asio::awaitable<void> com_accept_loop(std::shared_ptr<ServerEntry> entry);
  asio::awaitable<void> reverse_loop(std::shared_ptr<ServerEntry> entry);
  /// Takes a pre-authentication slot for a new connection, or refuses it at once
  /// (a one-line Rejected frame when the transport is plain, then close).
  std::optional<PreauthSlots::Slot> admit_or_refuse(io::Connection& raw, const ServerEntry& entry);
  asio::awaitable<void> handle_socket(io::Connection raw, std::shared_ptr<ServerEntry> entry, PreauthSlots::Slot slot);
  asio::awaitable<void> handle_connection(std::unique_ptr<io::ByteStream> stream, std::shared_ptr<ServerEntry> entry,
                                          PreauthSlots::Slot slot);
  /// A failed or refused connection, for the aggregated log (FailureLog).
  void log_failure(const std::string& source, const std::string& kind, std::string line);
  /// The one-line reason for an attempt over the guess budget (logged too).
  std::string refuse_over_budget(const GuessBudget::Spend& spend, const std::string& source, const std::string& name);
  asio::awaitable<void> session_reader(std::shared_ptr<ClientSession> s);
  asio::awaitable<void> session_writer(std::shared_ptr<ClientSession> s);
  asio::awaitable<void> keepalive_loop();
  asio::awaitable<void> shutdown_sequence(std::string reason);
  void end_server_now(ServerEntry& e);
  void enqueue(ClientSession& s, Bytes frame);
  /// Drops a client that stays too far behind (see enqueue); true if dropped.
  bool drop_if_too_slow(ClientSession& s);
  void send_to_all(const Message& m);
  void log_local(std::string_view line);
  void update_server_listing(const ServerEntry& e);
  void spawn(asio::awaitable<void> a);
};

}  // namespace openkd::remote
