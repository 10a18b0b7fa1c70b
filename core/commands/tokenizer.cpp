#include "core/commands/tokenizer.hpp"

#include <cctype>

namespace openkd::commands {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::vector<CommandText> split_commands(std::string_view line, std::size_t base_column) {
  std::vector<CommandText> out;
  bool quoted = false;
  std::size_t start = 0;
  auto flush = [&](std::size_t end) {
    std::size_t s = start;
    while (s < end && std::isspace(static_cast<unsigned char>(line[s]))) ++s;
    std::size_t e = end;
    while (e > s && std::isspace(static_cast<unsigned char>(line[e - 1]))) --e;
    if (e > s) out.push_back({line.substr(s, e - s), base_column + s});
  };
  // .sympath[+] takes the rest of the line, ';' included: a symbol path is ';'-separated (as in KD).
  auto takes_rest = [&] {
    std::size_t s = start;
    while (s < line.size() && std::isspace(static_cast<unsigned char>(line[s]))) ++s;
    constexpr std::string_view kSympath = ".sympath";
    if (line.size() - s < kSympath.size()) return false;
    for (std::size_t k = 0; k < kSympath.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(line[s + k])) != kSympath[k]) return false;
    return true;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && quoted && i + 1 < line.size()) {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ';' && !quoted) {
      if (takes_rest()) break;
      flush(i);
      start = i + 1;
    }
  }
  flush(line.size());
  return out;
}

CommandName parse_command_name(std::string_view command) {
  std::size_t i = 0;
  while (i < command.size() && std::isspace(static_cast<unsigned char>(command[i]))) ++i;
  const std::size_t start = i;
  if (i < command.size() && (command[i] == '?' || command[i] == '~')) {
    ++i;
  } else {
    if (i < command.size() && (command[i] == '.' || command[i] == '!')) ++i;
    while (i < command.size() && is_word_char(command[i])) ++i;
  }
  std::string name(command.substr(start, i - start));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {std::move(name), i};
}

void ArgCursor::skip_spaces() {
  while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
}

bool ArgCursor::at_end() {
  skip_spaces();
  return pos_ >= text_.size();
}

char ArgCursor::peek() {
  skip_spaces();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

bool ArgCursor::consume(char c) {
  if (peek() != c || c == '\0') return false;
  ++pos_;
  return true;
}

bool ArgCursor::consume_word(std::string_view word) {
  skip_spaces();
  if (text_.size() - pos_ < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text_[pos_ + i])) != std::tolower(static_cast<unsigned char>(word[i])))
      return false;
  const std::size_t end = pos_ + word.size();
  if (end < text_.size() && is_word_char(text_[end]) && is_word_char(word.back())) return false;
  pos_ = end;
  return true;
}

std::string_view ArgCursor::take_token(std::string_view stop) {
  skip_spaces();
  const std::size_t start = pos_;
  while (pos_ < text_.size() && !std::isspace(static_cast<unsigned char>(text_[pos_])) &&
         stop.find(text_[pos_]) == std::string_view::npos)
    ++pos_;
  return text_.substr(start, pos_ - start);
}

std::optional<std::string> ArgCursor::take_quoted() {
  if (peek() != '"') return std::nullopt;
  std::size_t i = pos_ + 1;
  std::string out;
  for (; i < text_.size() && text_[i] != '"'; ++i) {
    if (text_[i] == '\\' && i + 1 < text_.size() && (text_[i + 1] == '"' || text_[i + 1] == '\\')) ++i;
    out.push_back(text_[i]);
  }
  if (i >= text_.size()) return std::nullopt;  // unterminated
  pos_ = i + 1;
  return out;
}

std::string_view ArgCursor::take_rest() {
  skip_spaces();
  auto r = text_.substr(pos_);
  pos_ = text_.size();
  return r;
}

}  // namespace openkd::commands
