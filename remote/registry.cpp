#include "remote/registry.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "remote/host_info.hpp"

namespace openkd::remote {
namespace fs = std::filesystem;

fs::path registry_dir() {
  fs::path dir = runtime_dir() / "servers";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir;
}

std::expected<fs::path, std::string> register_server(long pid, int index, const std::string& remote) {
  fs::path path = registry_dir() / fmt::format("{}-{}", pid, index);
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return std::unexpected(fmt::format("cannot write {}", tmp.string()));
    out << "pid=" << pid << "\nremote=" << remote << "\n";
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // atomic: a lister never sees half an entry
  if (ec) return std::unexpected(fmt::format("cannot write {}: {}", path.string(), ec.message()));
  return path;
}

void unregister_server(const fs::path& entry) {
  std::error_code ec;
  fs::remove(entry, ec);
}

static bool process_alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

std::vector<RegisteredServer> list_registered_servers() {
  std::vector<std::pair<fs::path, RegisteredServer>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(registry_dir(), ec)) {
    if (e.path().extension() == ".tmp") continue;
    std::ifstream in(e.path());
    RegisteredServer s;
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("pid=", 0) == 0) s.pid = std::atol(line.c_str() + 4);
      else if (line.rfind("remote=", 0) == 0) s.remote = line.substr(7);
    }
    if (!process_alive(s.pid) || s.remote.empty()) {
      fs::remove(e.path(), ec);  // stale: its debugger died without cleaning up
      continue;
    }
    found.emplace_back(e.path(), s);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first.filename().string() < b.first.filename().string();
  });
  std::vector<RegisteredServer> out;
  for (auto& [p, s] : found) out.push_back(std::move(s));
  return out;
}

std::string query_servers_text(std::string_view host) {
  std::string me = host_name();
  auto lower = [](std::string_view s) {
    std::string o(s);
    for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
  };
  std::string h = lower(host);
  while (h.rfind("\\", 0) == 0) h.erase(0, 1);
  if (!h.empty() && h != lower(me) && h != "localhost" && h != "127.0.0.1" && h != "." && h != "::1")
    return fmt::format("openkd: -QR can only list servers on this machine ({}), not '{}'\n", me, host);
  std::string out = fmt::format("Servers on \\\\{}:\n", me);
  for (const auto& s : list_registered_servers()) out += fmt::format("Debugger Server - {}\n", s.remote);
  return out;
}

}  // namespace openkd::remote
