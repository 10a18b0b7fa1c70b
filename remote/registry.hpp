// The per-user registry of running servers behind `kd -QR`: one small file per
// listed server, named PID-INDEX, holding the pid and the -remote string.
// Hidden and reverse (clicon) servers are not registered.
#pragma once
#include <expected>
#include <filesystem>
#include <string>
#include <vector>

namespace openkd::remote {

struct RegisteredServer {
  long pid = 0;
  std::string remote;  ///< e.g. tcp:Port=5005,Server=HOST
};

std::filesystem::path registry_dir();
/// Writes the entry; returns its path (remove it with unregister_server).
std::expected<std::filesystem::path, std::string> register_server(long pid, int index,
                                                                   const std::string& remote);
void unregister_server(const std::filesystem::path& entry);
/// Live entries, oldest pid first; entries of dead processes are deleted.
std::vector<RegisteredServer> list_registered_servers();
/// KD's -QR answer: "Servers on \\HOST:" then "Debugger Server - <remote>" lines.
/// Only this machine's registry can be read; another host gets a one-line error.
std::string query_servers_text(std::string_view host);

}  // namespace openkd::remote
