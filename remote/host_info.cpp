#include "remote/host_info.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fmt/format.h>

namespace openkd::remote {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  return buf;
}

std::string user_name() {
  if (passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) return pw->pw_name;
  if (const char* u = std::getenv("USER"); u && *u) return u;
  return fmt::format("uid{}", geteuid());
}

std::string local_identity() { return host_name() + "\\" + user_name(); }

std::filesystem::path runtime_dir() {
  std::filesystem::path dir;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) dir = std::filesystem::path(x) / "openkd";
  else dir = fmt::format("/tmp/openkd-{}", geteuid());
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) ::chmod(dir.c_str(), 0700);
  return dir;
}

std::string expand_pipe_codes(std::string_view name, long pid, long tid) {
  std::string out;
  int used = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 1 < name.size()) {
      char c = name[i + 1];
      if (c == '%') { out += '%'; ++i; continue; }
      if ((c == 'd' || c == 'x') && used < 2) {
        long v = used == 0 ? pid : tid;
        out += c == 'd' ? fmt::format("{}", v) : fmt::format("{:x}", v);
        ++used;
        ++i;
        continue;
      }
    }
    out += name[i];
  }
  return out;
}

std::filesystem::path pipe_path(std::string_view pipe_name) {
  if (pipe_name.find('/') != std::string_view::npos) return std::filesystem::path(pipe_name);
  return runtime_dir() / std::string(pipe_name);
}

std::string format_time(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %d %H:%M:%S %Y", &tm);
  return buf;
}

std::string sanitize_name(std::string_view s, std::size_t max_size) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max_size) break;
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out.empty() ? "?" : out;
}

}  // namespace openkd::remote
