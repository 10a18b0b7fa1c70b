// openkd.RemoteServer and openkd.RemoteClient: kd's remoting (remote/) for
// tests. The server is a remote::Hub on a Debugger: clients' commands run in
// the Debugger's engine, in order, and everyone sees the output. The client is
// remote::run_client on its own thread, talking through pipes.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/io/pty.hpp"
#include "python/src/py_debugger.hpp"

namespace openkd::remote {
class Hub;
}

namespace openkd::py {

class RemoteServerHost {
public:
  /// `transport`: a -server string ("tcp:port=0", "npipe:pipe=NAME", ...). Throws KdError.
  RemoteServerHost(std::shared_ptr<PyDebugger> debugger, const std::string& transport);
  ~RemoteServerHost();
  /// The -remote string a client uses.
  const std::string& client_string() const { return client_string_; }
  std::vector<std::string> clients() const;
  /// Lines for the host's console (joins, leaves, "X issued: cmd"), oldest first; bounded.
  std::vector<std::string> take_log();
  void close();

private:
  void loop();
  std::shared_ptr<PyDebugger> debugger_;
  std::unique_ptr<remote::Hub> hub_;
  std::string client_string_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> in_command_{false};  // the loop runs a client's command
  std::thread thread_;
  std::mutex log_mutex_;
  std::deque<std::string> log_;
  bool closed_ = false;
};

class RemoteClientHost {
public:
  /// `transport`: a -remote string ("tcp:port=N,server=HOST"). Waits until
  /// welcomed or refused (KdError with the client's message).
  RemoteClientHost(const std::string& transport, const std::string& identity, double timeout);
  ~RemoteClientHost();
  /// Sends a command line; returns the session's output up to its end.
  std::string execute(const std::string& line, double timeout);
  /// Everything the session showed that no execute() took.
  std::string take_output();
  bool alive() const { return !finished_; }
  void close();

private:
  void pump_output();
  bool write_line(const std::string& line);
  io::Fd to_client_, from_client_, error_read_;
  std::thread thread_, reader_;
  std::atomic<bool> finished_{false};
  std::atomic<int> status_{-1};
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::string output_, errors_;
  std::uint64_t marker_ = 0;
  bool closed_ = false;
};

}  // namespace openkd::py
