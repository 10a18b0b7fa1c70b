// Splitting a typed line into commands and walking a command's arguments.
// Every position is a column in the whole line, so errors can point at it.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openkd::commands {

/// One command of a line: its text and where it starts.
struct CommandText {
  std::string_view text;
  std::size_t column = 0;
};

/// Splits on ';' outside double quotes (`bp x "r; g"` stays one command). Empty commands are dropped.
std::vector<CommandText> split_commands(std::string_view line, std::size_t base_column = 0);

/// A command's name and where its arguments start. Names are lowercased:
/// "db", ".echo", "!pte", "?", "~"; `~3` names "~" with "3" as its argument.
struct CommandName {
  std::string name;
  std::size_t args_offset = 0;  // in the command's text
};
CommandName parse_command_name(std::string_view command);

/// A cursor over argument text; positions are columns in the whole line.
class ArgCursor {
public:
  ArgCursor(std::string_view text, std::size_t base_column) : text_(text), base_(base_column) {}

  void skip_spaces();
  /// True when only spaces remain.
  bool at_end();
  /// The next non-space character, or '\0'.
  char peek();
  /// Consumes `c` (after spaces) if it is next.
  bool consume(char c);
  /// Consumes a whole word (case-insensitive; not followed by a word character).
  bool consume_word(std::string_view word);
  /// Consumes a run of non-space characters (also stopping at `stop`).
  std::string_view take_token(std::string_view stop = "");
  /// A double-quoted string with \" and \\ escapes; nullopt (nothing consumed) if none is next.
  std::optional<std::string> take_quoted();
  /// The rest of the text, spaces trimmed on the left; consumes it.
  std::string_view take_rest();

  std::string_view rest() const { return text_.substr(pos_); }
  std::size_t column() const { return base_ + pos_; }
  /// The column of the next token (spaces skipped).
  std::size_t next_column() {
    skip_spaces();
    return column();
  }
  std::size_t offset() const { return pos_; }
  void set_offset(std::size_t offset) { pos_ = offset < text_.size() ? offset : text_.size(); }
  std::string_view text() const { return text_; }

private:
  std::string_view text_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

bool is_word_char(char c);

}  // namespace openkd::commands
