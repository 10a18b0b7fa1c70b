// A command's failure, positioned in the line the user typed. The engine renders
// it as KD does: a caret under the bad spot ("       ^ Syntax error in 'db xyz'",
// from kind "Syntax error"), the text from the bad spot ("Couldn't resolve error
// at 'nt!Nope'", from kind "Couldn't resolve error"), or a plain line.
#pragma once
#include <cstddef>
#include <expected>
#include <string>

namespace openkd::commands {

struct CommandError {
  enum class Style { Caret, At, Plain };
  Style style = Style::Plain;
  std::string kind;         // "Syntax error", "Couldn't resolve error", ...; or the whole line (Plain)
  std::size_t column = 0;   // offset in the whole input line

  static CommandError caret(std::string kind, std::size_t column) { return {Style::Caret, std::move(kind), column}; }
  static CommandError at(std::string kind, std::size_t column) { return {Style::At, std::move(kind), column}; }
  static CommandError plain(std::string line) { return {Style::Plain, std::move(line), 0}; }
  static CommandError syntax(std::size_t column) { return caret("Syntax error", column); }
};

template <class T = void>
using CommandResult = std::expected<T, CommandError>;

}  // namespace openkd::commands
