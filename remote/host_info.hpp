// Facts about this machine and user that remoting shows or uses for paths.
#pragma once
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace openkd::remote {

std::string host_name();
std::string user_name();
/// "HOST\user", how KD names a debugger user.
std::string local_identity();
/// Per-user directory for pipes and the server registry: $XDG_RUNTIME_DIR/openkd,
/// else /tmp/openkd-UID. Created with mode 0700 when missing.
std::filesystem::path runtime_dir();
/// Replaces the first %d/%x with the process id and the second with the thread id
/// (docs/remoting.md section 2); "%%" is a literal percent.
std::string expand_pipe_codes(std::string_view name, long pid, long tid);
/// Where the Unix socket of a pipe name lives: the name itself when it holds a
/// '/', else inside runtime_dir().
std::filesystem::path pipe_path(std::string_view pipe_name);
/// ctime-style local time without the newline: "Wed Dec 19 06:23:07 2018".
std::string format_time(std::chrono::system_clock::time_point t);
/// Keeps printable ASCII from a peer-supplied name, at most max_size characters.
std::string sanitize_name(std::string_view s, std::size_t max_size = 96);

}  // namespace openkd::remote
