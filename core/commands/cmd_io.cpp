// I/O ports: ib iw id (read), ob ow od (write).
#include "core/commands/engine_core.hpp"

namespace openkd::commands {
namespace {

unsigned io_size(std::string_view name) { return name[1] == 'b' ? 1 : name[1] == 'w' ? 2 : 4; }

CommandResult<> cmd_in(EngineCore& core, Invocation& call) {
  auto port = core.expression(call.args);
  if (!port) return std::unexpected(port.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  const unsigned size = io_size(call.name);
  auto value = core.target.read_io(*port, size);
  if (!value) return std::unexpected(CommandError::plain("Unable to read the I/O port: " + value.error().message));
  core.printf("{:08x}: {:0{}x}\n", *port, *value, 2 * size);
  return {};
}

CommandResult<> cmd_out(EngineCore& core, Invocation& call) {
  auto port = core.expression(call.args);
  if (!port) return std::unexpected(port.error());
  auto value = core.expression(call.args);
  if (!value) return std::unexpected(value.error());
  if (auto r = core.expect_end(call.args); !r) return r;
  const unsigned size = io_size(call.name);
  const std::uint64_t mask = size == 4 ? 0xFFFFFFFFull : (1ull << (8 * size)) - 1;
  if (auto r = core.target.write_io(*port, size, static_cast<std::uint32_t>(*value & mask)); !r)
    return std::unexpected(CommandError::plain("Unable to write the I/O port: " + r.error().message));
  return {};
}

}  // namespace

void add_io_commands(std::vector<CommandSpec>& table) {
  for (std::string_view name : {"ib", "iw", "id"})
    table.push_back({name, cmd_in, "i{b|w|d} port                 read an I/O port"});
  for (std::string_view name : {"ob", "ow", "od"})
    table.push_back({name, cmd_out, "o{b|w|d} port value           write an I/O port"});
}

}  // namespace openkd::commands
