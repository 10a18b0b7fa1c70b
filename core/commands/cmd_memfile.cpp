// .writemem / .readmem: memory to and from host files, with a progress bar on
// long transfers when the output is a terminal.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "core/commands/engine_core.hpp"
#include "core/commands/format.hpp"

namespace openkd::commands {
namespace {

constexpr std::uint64_t kChunk = 0x10000;
constexpr std::uint64_t kMaxTransfer = 0x40000000;  // 1 GiB
constexpr std::uint64_t kProgressThreshold = 0x40000;  // smaller transfers finish too fast to watch

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// "\r[#########           ]  45%" redrawn in place; erased at the end.
class Progress {
public:
  Progress(Output& out, std::uint64_t total) : out_(out), total_(total), shown_(out.is_terminal() && total >= kProgressThreshold) {}
  ~Progress() {
    if (shown_) out_.write("\r" + std::string(40, ' ') + "\r");
  }
  void update(std::uint64_t done) {
    if (!shown_) return;
    const unsigned percent = static_cast<unsigned>(done * 100 / total_);
    if (percent == last_) return;
    last_ = percent;
    const unsigned bars = percent / 5;
    out_.write(fmt::format("\r[{}{}] {:3}%", std::string(bars, '#'), std::string(20 - bars, ' '), percent));
  }

private:
  Output& out_;
  std::uint64_t total_;
  bool shown_;
  unsigned last_ = 101;
};

CommandResult<std::string> file_name(Invocation& call) {
  const std::size_t column = call.args.next_column();
  if (auto quoted = call.args.take_quoted()) return *quoted;
  auto token = call.args.take_token();
  if (token.empty()) return std::unexpected(CommandError::syntax(column));
  return std::string(token);
}

CommandResult<> cmd_writemem(EngineCore& core, Invocation& call) {
  if (core.options.secure)
    return std::unexpected(CommandError::plain(".writemem is disabled: the session is in secure mode"));
  auto name = file_name(call);
  if (!name) return std::unexpected(name.error());
  auto range = core.range(call.args, std::nullopt, 0, 1, kMaxTransfer);
  if (!range) return std::unexpected(range.error());
  if (range->count == 0) return std::unexpected(CommandError::syntax(call.args.column()));
  if (auto r = core.expect_end(call.args); !r) return r;

  File file(std::fopen(name->c_str(), "wb"));
  if (!file) return std::unexpected(CommandError::plain(fmt::format("Unable to create file '{}'", *name)));
  core.printf("Writing {:x} bytes", range->count);
  Progress progress(core.output, range->count);
  for (std::uint64_t done = 0; done < range->count;) {
    const std::uint64_t n = std::min(kChunk, range->count - done);
    const auto block = core.read_block(range->address + done, n);
    std::size_t readable = 0;
    while (readable < n && block.valid[readable]) ++readable;
    if (readable && std::fwrite(block.bytes.data(), 1, readable, file.get()) != readable)
      return std::unexpected(CommandError::plain(fmt::format("\nError writing to '{}'", *name)));
    if (readable < n) {
      core.print("\n");
      return std::unexpected(CommandError::plain(
          fmt::format("Memory access error at {}; '{}' holds the first {:#x} bytes", hex64(range->address + done + readable),
                      *name, done + readable)));
    }
    done += n;
    progress.update(done);
  }
  core.print(".\n");
  return {};
}

CommandResult<> cmd_readmem(EngineCore& core, Invocation& call) {
  if (core.options.secure)
    return std::unexpected(CommandError::plain(".readmem is disabled: the session is in secure mode"));
  auto name = file_name(call);
  if (!name) return std::unexpected(name.error());
  File file(std::fopen(name->c_str(), "rb"));
  if (!file) return std::unexpected(CommandError::plain(fmt::format("Unable to open file '{}'", *name)));
  std::fseek(file.get(), 0, SEEK_END);
  const long size = std::ftell(file.get());
  std::fseek(file.get(), 0, SEEK_SET);
  if (size <= 0) return std::unexpected(CommandError::plain(fmt::format("'{}' is empty", *name)));
  auto range = core.range(call.args, std::nullopt, static_cast<std::uint64_t>(size), 1, kMaxTransfer);
  if (!range) return std::unexpected(range.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  const std::uint64_t total = std::min<std::uint64_t>(range->count, static_cast<std::uint64_t>(size));

  core.printf("Reading {:x} bytes", total);
  Progress progress(core.output, total);
  wire::Bytes chunk;
  for (std::uint64_t done = 0; done < total;) {
    chunk.resize(std::min(kChunk, total - done));
    if (std::fread(chunk.data(), 1, chunk.size(), file.get()) != chunk.size())
      return std::unexpected(CommandError::plain(fmt::format("\nError reading '{}'", *name)));
    auto written = core.target.write_virtual(range->address + done, chunk);
    if (!written || *written < chunk.size()) {
      core.print("\n");
      return std::unexpected(CommandError::plain(fmt::format("Memory access error at {}", hex64(range->address + done))));
    }
    done += chunk.size();
    progress.update(done);
  }
  core.forget_state();
  core.print(".\n");
  return {};
}

}  // namespace

void add_memory_file_commands(std::vector<CommandSpec>& table) {
  table.push_back({".writemem", cmd_writemem, ".writemem file range          write target memory to a host file"});
  table.push_back({".readmem", cmd_readmem, ".readmem file [range]         read a host file into target memory"});
}

}  // namespace openkd::commands
