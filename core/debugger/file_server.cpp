#include "core/debugger/file_server.hpp"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

namespace openkd::debugger {

namespace {

class HostFileSystem final : public FileSystem {
public:
  std::expected<std::uint64_t, std::string> size(const std::string& path) override {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return std::unexpected(fmt::format("{} is not a file", path));
    auto n = std::filesystem::file_size(path, ec);
    if (ec) return std::unexpected(fmt::format("{}: {}", path, ec.message()));
    std::ifstream probe(path, std::ios::binary);
    if (!probe) return std::unexpected(fmt::format("{} cannot be opened", path));
    return n;
  }
  std::expected<std::size_t, std::string> read(const std::string& path, std::uint64_t offset,
                                               std::span<std::uint8_t> out) override {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::unexpected(fmt::format("{} cannot be opened", path));
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (in.bad()) return std::unexpected(fmt::format("{}: read error", path));
    return static_cast<std::size_t>(in.gcount());
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The target names files in UTF-16; the map is ASCII in practice.
std::string narrow(const std::u16string& s) {
  std::string out;
  for (char16_t c : s) out.push_back(c < 0x80 ? char(c) : '?');
  return out;
}

// FILE_IO replies travel in one KD packet: 4000 bytes less the header.
constexpr std::uint32_t kMaxFileChunk = 4000 - 64;

}  // namespace

FileSystem& host_file_system() {
  static HostFileSystem fs;
  return fs;
}

wire::FileIo FileServer::answer(const wire::FileIo& f, std::string* log) {
  wire::FileIo reply = f;
  reply.path.clear();
  reply.data.clear();
  reply.status = wire::kStatusNoSuchFile;
  auto say = [&](std::string line) {
    if (log) *log = std::move(line);
  };
  if (f.api == wire::kFileIoCreateFile) {
    const std::string name = narrow(f.path), a = lower(name);
    for (const auto& [target_path, host_path] : files_) {
      // .kdfiles compares names case-insensitively and by tail (\SystemRoot\...\x.sys).
      const std::string b = lower(target_path);
      if (!(a == b || (a.size() > b.size() && a.ends_with(b) && a[a.size() - b.size() - 1] == '\\'))) continue;
      // A target that never closes (or a hostile one) cannot grow the table:
      // the oldest handle is forgotten (reading it later fails cleanly).
      if (open_.size() >= kMaxOpen) open_.erase(open_.begin());
      auto size = fs_.size(host_path);
      if (!size) {
        say(fmt::format("KdPullRemoteFile: cannot serve {}: {}", name, size.error()));
        return reply;
      }
      auto& args = std::get<wire::CreateFileArgs>(reply.args);
      args.length = *size;
      args.handle = next_handle_++;
      open_[args.handle] = host_path;
      reply.status = wire::kStatusSuccess;
      say(fmt::format("KdPullRemoteFile: serving {} from {}", name, host_path));
      return reply;
    }
    return reply;
  }
  if (f.api == wire::kFileIoReadFile) {
    auto* args = std::get_if<wire::FileTransferArgs>(&reply.args);
    if (!args) return reply;
    auto it = open_.find(args->handle);
    if (it == open_.end()) return reply;
    reply.data.resize(std::min(args->length, kMaxFileChunk));
    auto n = fs_.read(it->second, args->offset, reply.data);
    if (!n) {
      say(fmt::format("KdPullRemoteFile: {}", n.error()));
      reply.data.clear();
      args->length = 0;
      reply.status = wire::kStatusUnsuccessful;
      return reply;
    }
    reply.data.resize(*n);
    args->length = static_cast<std::uint32_t>(*n);
    reply.status = wire::kStatusSuccess;
    return reply;
  }
  if (f.api == wire::kFileIoCloseFile) {
    if (auto* args = std::get_if<wire::CloseFileArgs>(&reply.args); args && open_.erase(args->handle))
      reply.status = wire::kStatusSuccess;
    return reply;
  }
  reply.status = wire::kStatusNotImplemented;
  return reply;
}

}  // namespace openkd::debugger
