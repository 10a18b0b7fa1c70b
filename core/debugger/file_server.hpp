// .kdfiles: answers the target's FILE_IO requests (KdPullRemoteFile) with host
// files mapped from target paths. A responder of the host session: it takes a
// request and gives the reply; file access goes through a small seam so the
// failure paths are testable without a disk.
#pragma once
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "core/wire/dbgkd.hpp"

namespace openkd::debugger {

/// The host's files, as the file server needs them.
class FileSystem {
public:
  virtual ~FileSystem() = default;
  /// The size of a readable regular file, or an error line.
  virtual std::expected<std::uint64_t, std::string> size(const std::string& path) = 0;
  /// Reads up to out.size() bytes at offset; returns the count read.
  virtual std::expected<std::size_t, std::string> read(const std::string& path, std::uint64_t offset,
                                                       std::span<std::uint8_t> out) = 0;
};
/// The real file system (std::ifstream).
FileSystem& host_file_system();

class FileServer {
public:
  explicit FileServer(FileSystem& fs = host_file_system()) : fs_(fs) {}
  /// Target path (or its tail, as `\SystemRoot\...\x.sys` matches `x.sys`) -> host path.
  void set_files(std::map<std::string, std::string> files) { files_ = std::move(files); }
  /// The reply to one FILE_IO request. `log` gets one line when something
  /// worth telling the user happened (a file served, a file that cannot be read).
  wire::FileIo answer(const wire::FileIo& request, std::string* log = nullptr);
  std::size_t open_count() const { return open_.size(); }

  /// Handles a target may hold open at once; opening one more forgets the
  /// oldest (a target that never closes, or a hostile one, cannot grow the table).
  static constexpr std::size_t kMaxOpen = 64;

private:
  FileSystem& fs_;
  std::map<std::string, std::string> files_;
  std::map<std::uint64_t, std::string> open_;
  std::uint64_t next_handle_ = 1;
};

}  // namespace openkd::debugger
