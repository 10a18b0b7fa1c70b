// Command families registered from outside core/commands: a layer above the
// engine (remoting's .server/.servers/.endsrv/.clients, q and qq for clients)
// adds its commands to the engine's table with Engine::add_family, so `.help`
// lists them and they run in order with every other command. Header-only and
// free of engine internals, so a host without an engine (kdremote_testhost)
// can run the same family with run_family_command.
#pragma once
#include <cctype>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/commands/output.hpp"

namespace openkd::commands {

/// Who issued the line being run.
struct CommandOrigin {
  /// 0: the host's own console (or -c, -cf); else the remoting hub's client id.
  std::uint64_t client = 0;
  /// How the session names the client ("HOST\user (tcp 127.0.0.1:63141)"); empty for the host.
  std::string name;
  bool is_host() const { return client == 0; }
};

/// What a family command did: `pass` hands the line to the engine's own
/// command of the same name (a family may narrow one, e.g. q from a client).
enum class FamilyResult { done, pass };

struct FamilyCommand {
  std::string name;  ///< lower case, as parsed: ".server"
  std::string help;  ///< one .help line
  std::function<FamilyResult(std::string_view args, const CommandOrigin& origin, Output& out)> run;
};

struct CommandFamily {
  std::vector<FamilyCommand> commands;
};

/// Runs `line` if its first word names a command of the family; nullopt when
/// it does not (the caller runs it some other way).
inline std::optional<FamilyResult> run_family_command(const CommandFamily& family, std::string_view line,
                                                      const CommandOrigin& origin, Output& out) {
  std::size_t i = 0;
  while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  std::size_t end = i;
  while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
  std::string word(line.substr(i, end - i));
  for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (end < line.size() && std::isspace(static_cast<unsigned char>(line[end]))) ++end;
  for (const auto& c : family.commands)
    if (c.name == word) return c.run(line.substr(end), origin, out);
  return std::nullopt;
}

}  // namespace openkd::commands
