#include "core/commands/script.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

#include "core/commands/engine_core.hpp"

namespace openkd::commands {
namespace {

// Loops stop here (KD's do not; a typo in a condition must not hang a CI run).
constexpr std::size_t kMaxIterations = 1'000'000;

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::size_t skip_spaces(std::string_view text, std::size_t i) {
  while (i < text.size() && is_space(text[i])) ++i;
  return i;
}

// The index of the bracket closing the one at `open` (quotes skipped), or npos.
std::size_t matching(std::string_view text, std::size_t open) {
  const char o = text[open];
  const char c = o == '(' ? ')' : o == '{' ? '}' : o;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = open; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '\\' && i + 1 < text.size()) ++i;
      else if (ch == '"') quoted = false;
      continue;
    }
    if (ch == '"') quoted = true;
    else if (ch == o) ++depth;
    else if (ch == c && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// The end of a plain command: the next `;` outside quotes, or the end.
std::size_t command_end(std::string_view text, std::size_t i) {
  bool quoted = false;
  for (; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '\\' && i + 1 < text.size()) ++i;
      else if (ch == '"') quoted = false;
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ';') {
      return i;
    }
  }
  return text.size();
}

std::size_t line_end(std::string_view text, std::size_t i) {
  const auto nl = text.find('\n', i);
  return nl == std::string_view::npos ? text.size() : nl;
}

bool starts_with_word(std::string_view text, std::size_t i, std::string_view word) {
  if (text.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(text[i + k])) != word[k]) return false;
  const std::size_t end = i + word.size();
  return end == text.size() || !is_word_char(text[end]);
}

bool alias_boundary(char c) { return is_space(c) || c == ';' || c == '{' || c == '}'; }

class Runner {
public:
  Runner(EngineCore& core, std::string_view text, std::size_t column) : core_(core), text_(text), column_(column) {}

  ScriptFlow run() {
    std::size_t i = 0;
    while (true) {
      while (i < text_.size() && (is_space(text_[i]) || text_[i] == ';')) ++i;
      if (i >= text_.size()) return ScriptFlow::Normal;
      if (core_.quit) return ScriptFlow::Abort;
      auto flow = statement(i);
      if (flow != ScriptFlow::Normal) return flow;
    }
  }

private:
  std::size_t col(std::size_t i) const { return column_ + i; }

  ScriptFlow error(CommandError e, std::size_t from, std::size_t to) {
    core_.print_error(e, CommandText{text_.substr(from, to - from), col(from)});
    return ScriptFlow::Abort;
  }
  ScriptFlow syntax(std::size_t at, std::size_t from) {
    return error(CommandError::syntax(col(at)), from, std::min(text_.size(), command_end(text_, from)));
  }

  // A brace body starting at `i` (spaces allowed before it): its text, and `i` moved past it.
  std::optional<std::string_view> body(std::size_t& i, std::size_t& body_column) {
    i = skip_spaces(text_, i);
    if (i >= text_.size() || text_[i] != '{') return std::nullopt;
    const std::size_t close = matching(text_, i);
    if (close == std::string_view::npos) return std::nullopt;
    body_column = col(i + 1);
    auto b = text_.substr(i + 1, close - i - 1);
    i = close + 1;
    return b;
  }
  std::optional<std::string_view> parens(std::size_t& i) {
    i = skip_spaces(text_, i);
    if (i >= text_.size() || text_[i] != '(') return std::nullopt;
    const std::size_t close = matching(text_, i);
    if (close == std::string_view::npos) return std::nullopt;
    auto p = text_.substr(i + 1, close - i - 1);
    i = close + 1;
    return p;
  }

  // `(head) {body}`, as .for, .while and .foreach take them.
  struct HeadBody {
    std::string_view head, body;
    std::size_t body_column = 0;
  };
  std::optional<HeadBody> head_and_body(std::size_t& i) {
    auto head = parens(i);
    if (!head) return std::nullopt;
    HeadBody hb{*head, {}, 0};
    auto b = body(i, hb.body_column);
    if (!b) return std::nullopt;
    hb.body = *b;
    return hb;
  }

  // The value of a condition; nullopt (error printed) if it does not evaluate.
  std::optional<std::uint64_t> condition(std::string_view text, std::size_t column, std::size_t stmt) {
    ArgCursor args(text, column);
    auto v = core_.expression(args);
    if (v && !args.at_end()) v = std::unexpected(CommandError::caret("Extra character error", args.column()));
    if (!v) {
      core_.print_error(v.error(), CommandText{text_.substr(stmt, command_end(text_, stmt) - stmt), col(stmt)});
      return std::nullopt;
    }
    return *v;
  }

  ScriptFlow nested(std::string_view text, std::size_t column) { return run_program(core_, text, column, true); }

  // Runs a loop body; true to go on looping, with `out` the flow to return if not.
  bool loop_body(std::string_view b, std::size_t column, ScriptFlow& out, std::size_t& iterations) {
    if (++iterations > kMaxIterations) {
      core_.printf("Loop stopped after {} iterations\n", kMaxIterations);
      out = ScriptFlow::Abort;
      return false;
    }
    if (core_.take_cancel()) {
      out = ScriptFlow::Abort;
      return false;
    }
    const auto flow = nested(b, column);
    if (flow == ScriptFlow::Break) {
      out = ScriptFlow::Normal;
      return false;
    }
    if (flow == ScriptFlow::Abort) {
      out = flow;
      return false;
    }
    return true;
  }

  ScriptFlow statement(std::size_t& i) {
    const std::size_t start = i;
    const std::string_view rest = text_.substr(i);
    // Comments.
    if (rest.starts_with("$$") && !rest.starts_with("$$<") && !rest.starts_with("$$>")) {
      i = command_end(text_, i);
      return ScriptFlow::Normal;
    }
    if (rest.starts_with("*")) {
      i = line_end(text_, i);
      return ScriptFlow::Normal;
    }
    // Script files: $< and $>< take the rest of the line (a file name may hold `;`).
    for (std::string_view token : {"$$>a<", "$$><", "$$<", "$><", "$<"}) {
      if (!rest.starts_with(token)) continue;
      const bool whole_line = token[1] != '$';
      const std::size_t end = whole_line ? line_end(text_, i) : command_end(text_, i);
      core_.run_command(CommandText{text_.substr(start, end - start), col(start)},
                        CommandName{std::string(token), token.size()});
      i = end;
      return core_.quit ? ScriptFlow::Abort : ScriptFlow::Normal;
    }
    const CommandName name = parse_command_name(rest);
    std::size_t after = start + name.args_offset;
    if (name.name == ".block") {
      std::size_t bc = 0;
      auto b = body(after, bc);
      if (!b) return syntax(after, start);
      i = after;
      return nested(*b, bc);
    }
    if (name.name == ".if") return if_chain(i, start, after);
    if (name.name == ".elsif" || name.name == ".else") return syntax(start, start);  // without an .if
    if (name.name == ".while" || name.name == ".for") return loop(i, start, after, name.name);
    if (name.name == ".do") {
      std::size_t bc = 0;
      auto b = body(after, bc);
      if (!b) return syntax(after, start);
      const std::size_t cond_column = col(skip_spaces(text_, after) + 1);
      auto cond = parens(after);
      if (!cond) return syntax(after, start);
      i = after;
      ScriptFlow out = ScriptFlow::Normal;
      std::size_t n = 0;
      while (loop_body(*b, bc, out, n)) {
        auto v = condition(*cond, cond_column, start);
        if (!v) return ScriptFlow::Abort;
        if (*v == 0) break;
      }
      return out;
    }
    if (name.name == ".break" || name.name == ".continue") {
      i = command_end(text_, after);
      if (text_.substr(after, i - after).find_first_not_of(" \t\r\n") != std::string_view::npos)
        return error(CommandError::caret("Extra character error", col(skip_spaces(text_, after))), start, i);
      return name.name == ".break" ? ScriptFlow::Break : ScriptFlow::Continue;
    }
    if (name.name == ".foreach") return foreach(i, start, after);
    if (name.name == "j") return jump(i, start, after);
    if ((name.name == "as" && (after == text_.size() || is_space(text_[after]))) || name.name == ".sympath" ||
        name.name == ".sympath+") {
      // `as` takes the rest of the line, `;` included (aS stops at `;`); so does
      // .sympath[+]: a symbol path is ';'-separated, as in KD.
      const bool phrase = text_.substr(start, 2) == "aS";
      std::size_t end = phrase ? command_end(text_, after) : line_end(text_, after);
      core_.run_command(CommandText{text_.substr(start, end - start), col(start)});
      i = end;
      return ScriptFlow::Normal;
    }
    const std::size_t end = command_end(text_, start);
    core_.run_command(CommandText{trim(text_.substr(start, end - start)), col(start)});
    i = end;
    return core_.quit ? ScriptFlow::Abort : ScriptFlow::Normal;
  }

  static std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
  }

  ScriptFlow if_chain(std::size_t& i, std::size_t start, std::size_t after) {
    bool taken = false;
    ScriptFlow result = ScriptFlow::Normal;
    std::size_t at = after;
    for (bool first = true;; first = false) {
      const std::size_t cond_column = col(skip_spaces(text_, at) + 1);
      auto cond = parens(at);
      if (!cond) return syntax(at, start);
      std::size_t bc = 0;
      auto b = body(at, bc);
      if (!b) return syntax(at, start);
      if (!taken) {
        auto v = condition(*cond, cond_column, start);
        if (!v) return ScriptFlow::Abort;
        if (*v != 0) {
          taken = true;
          result = nested(*b, bc);
        }
      }
      (void)first;
      // .elsif / .else may follow, after spaces or a `;`.
      std::size_t next = skip_spaces(text_, at);
      if (next < text_.size() && text_[next] == ';') next = skip_spaces(text_, next + 1);
      if (starts_with_word(text_, next, ".elsif")) {
        at = next + 6;
        continue;
      }
      if (starts_with_word(text_, next, ".else")) {
        at = next + 5;
        auto eb = body(at, bc);
        if (!eb) return syntax(at, start);
        if (!taken) result = nested(*eb, bc);
      }
      i = at;
      return result;
    }
  }

  // Splits `init; cond; step` at top-level semicolons.
  static std::optional<std::array<std::string_view, 3>> for_parts(std::string_view text) {
    std::array<std::string_view, 3> parts;
    std::size_t from = 0;
    for (int k = 0; k < 2; ++k) {
      const std::size_t semi = command_end(text, from);
      if (semi >= text.size()) return std::nullopt;
      parts[k] = text.substr(from, semi - from);
      from = semi + 1;
    }
    parts[2] = text.substr(from);
    return parts;
  }

  ScriptFlow loop(std::size_t& i, std::size_t start, std::size_t after, const std::string& which) {
    const std::size_t open = skip_spaces(text_, after);
    auto hb = head_and_body(after);
    if (!hb) return syntax(after, start);
    const std::string_view* head = &hb->head;
    const std::string_view* b = &hb->body;
    const std::size_t bc = hb->body_column;
    i = after;
    const std::size_t head_column = col(open + 1);
    std::string_view cond = *head, init, step;
    std::size_t cond_column = head_column;
    if (which == ".for") {
      auto parts = for_parts(*head);
      if (!parts) return syntax(open, start);
      init = (*parts)[0];
      cond = (*parts)[1];
      step = (*parts)[2];
      cond_column = head_column + static_cast<std::size_t>(cond.data() - head->data());
      if (nested(init, head_column) == ScriptFlow::Abort) return ScriptFlow::Abort;
    }
    ScriptFlow out = ScriptFlow::Normal;
    std::size_t n = 0;
    for (;;) {
      auto v = condition(cond, cond_column, start);
      if (!v) return ScriptFlow::Abort;
      if (*v == 0) break;
      if (!loop_body(*b, bc, out, n)) return out;
      if (!step.empty() && nested(step, head_column + static_cast<std::size_t>(step.data() - head->data())) ==
                               ScriptFlow::Abort)
        return ScriptFlow::Abort;
    }
    return out;
  }

  ScriptFlow foreach(std::size_t& i, std::size_t start, std::size_t after) {
    std::uint64_t initial_skip = 0, skip = 0;
    enum class Source { Commands, String, File } source = Source::Commands;
    std::size_t at = after;
    for (;;) {
      at = skip_spaces(text_, at);
      if (at >= text_.size() || text_[at] != '/') break;
      const std::size_t option_at = at;
      std::size_t e = at + 1;
      while (e < text_.size() && std::isalpha(static_cast<unsigned char>(text_[e]))) ++e;
      const std::string_view option = text_.substr(at + 1, e - at - 1);
      at = e;
      if (option == "s") {
        source = Source::String;
      } else if (option == "f") {
        source = Source::File;
      } else if (option == "pS" || option == "ps") {
        // The count is one token (`/pS 2 /ps 4`: `/` would otherwise divide).
        at = skip_spaces(text_, at);
        std::size_t e2 = at;
        while (e2 < text_.size() && !is_space(text_[e2]) && text_[e2] != '(') ++e2;
        ArgCursor args(text_.substr(at, e2 - at), col(at));
        auto n = core_.expression(args);
        if (n && !args.at_end()) n = std::unexpected(CommandError::syntax(args.column()));
        if (!n) return error(n.error(), start, command_end(text_, start));
        at = e2;
        (option == "pS" ? initial_skip : skip) = *n;
      } else {
        return syntax(option_at, start);
      }
    }
    auto hb = head_and_body(at);
    if (!hb) return syntax(at, start);
    const std::string_view* head = &hb->head;
    const std::string_view* out_commands = &hb->body;
    const std::size_t bc = hb->body_column;
    i = at;
    // ( Variable {InCommands} | "InString" | "InFile" )
    std::string_view h = *head;
    std::size_t v0 = skip_spaces(h, 0), v1 = v0;
    while (v1 < h.size() && !is_space(h[v1]) && h[v1] != '{' && h[v1] != '"') ++v1;
    const std::string variable(h.substr(v0, v1 - v0));
    if (variable.empty()) return syntax(at, start);
    std::string input;
    const std::size_t src = skip_spaces(h, v1);
    if (source == Source::Commands) {
      if (src >= h.size() || h[src] != '{') return syntax(at, start);
      const std::size_t close = matching(h, src);
      if (close == std::string_view::npos) return syntax(at, start);
      // InCommands' output is parsed, not shown.
      std::string captured;
      std::string* saved = core_.capture;
      core_.capture = &captured;
      nested(h.substr(src + 1, close - src - 1), col(0));
      core_.capture = saved;
      input = std::move(captured);
    } else {
      ArgCursor args(h.substr(src), 0);
      auto quoted = args.take_quoted();
      if (!quoted) return syntax(at, start);
      if (source == Source::String) {
        input = *quoted;
      } else {
        std::ifstream in(*quoted, std::ios::binary);
        if (!in) return error(CommandError::plain(fmt::format("Unable to open file '{}'", *quoted)), start, at);
        std::stringstream s;
        s << in.rdbuf();
        input = s.str();
      }
    }
    std::vector<std::string> tokens;
    std::istringstream words(input);
    for (std::string w; words >> w;) tokens.push_back(w);
    ScriptFlow out = ScriptFlow::Normal;
    std::size_t n = 0;
    for (std::size_t k = initial_skip; k < tokens.size(); k += 1 + skip) {
      // The variable is replaced where it stands alone (spaces around it) and as ${variable}.
      const std::string text = substitute_variable(*out_commands, variable, tokens[k]);
      if (++n > kMaxIterations || core_.take_cancel()) return ScriptFlow::Abort;
      const auto flow = run_program(core_, text, bc, true);
      if (flow == ScriptFlow::Break) break;
      if (flow == ScriptFlow::Abort) return flow;
    }
    return out;
  }

  static std::string substitute_variable(std::string_view text, const std::string& variable, const std::string& value) {
    std::string out;
    const std::string braced = "${" + variable + "}";
    for (std::size_t i = 0; i < text.size();) {
      if (text.substr(i).starts_with(braced)) {
        out += value;
        i += braced.size();
        continue;
      }
      const bool before_ok = i == 0 || is_space(text[i - 1]);
      const std::size_t end = i + variable.size();
      if (before_ok && text.substr(i).starts_with(variable) && (end == text.size() || is_space(text[end]))) {
        out += value;
        i = end;
        continue;
      }
      out.push_back(text[i++]);
    }
    return out;
  }

  // j Expression [']Command1['] ; [']Command2[']
  ScriptFlow jump(std::size_t& i, std::size_t start, std::size_t after) {
    ArgCursor args(text_.substr(after), col(after));
    auto v = core_.expression(args);
    if (!v) return error(v.error(), start, command_end(text_, start));
    std::size_t at = after + args.offset();
    auto branch = [&](std::size_t& p) -> std::optional<std::pair<std::string_view, std::size_t>> {
      p = skip_spaces(text_, p);
      if (p < text_.size() && text_[p] == '\'') {
        const auto close = text_.find('\'', p + 1);
        if (close == std::string_view::npos) return std::nullopt;
        auto b = std::pair{text_.substr(p + 1, close - p - 1), col(p + 1)};
        p = close + 1;
        return b;
      }
      const std::size_t e = command_end(text_, p);
      auto b = std::pair{text_.substr(p, e - p), col(p)};
      p = e;
      return b;
    };
    auto first = branch(at);
    if (!first) return syntax(at, start);
    at = skip_spaces(text_, at);
    std::optional<std::pair<std::string_view, std::size_t>> second;
    if (at < text_.size() && text_[at] == ';') {
      ++at;
      second = branch(at);
      if (!second) return syntax(at, start);
    }
    i = at;
    if (*v != 0) return run_program(core_, first->first, first->second, false);
    if (second) return run_program(core_, second->first, second->second, false);
    return ScriptFlow::Normal;
  }

  EngineCore& core_;
  std::string_view text_;
  std::size_t column_;
};

}  // namespace

bool is_control_token(std::string_view name) {
  for (std::string_view t : {".block", ".if", ".elsif", ".else", ".for", ".while", ".do", ".break", ".continue", ".foreach", "j"})
    if (name == t) return true;
  return false;
}

std::string expand_aliases(const EngineCore& core, std::string_view text) {
  if (core.aliases.empty() && text.find("${") == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  // The token after as/aS/ad (and their /options) names an alias: never replaced.
  bool at_command_start = true;
  int protect = 0;  // 1: the next word names an alias
  bool quoted = false;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (text.substr(i).starts_with("${")) {
      const auto close = text.find('}', i);
      if (close != std::string_view::npos) {
        std::string_view inner = text.substr(i + 2, close - i - 2);
        char mode = 0;
        if (inner.size() > 3 && inner[0] == '/' && inner[2] == ':') {
          mode = inner[1];
          inner.remove_prefix(3);
        }
        const auto found = core.aliases.find(std::string(inner));
        const std::string whole(text.substr(i, close - i + 1));
        switch (mode) {
          case 'v': out += protect ? std::string(inner) : whole; break;
          case 'n': out += found != core.aliases.end() ? std::string(inner) : whole; break;
          case 'd': out += found != core.aliases.end() ? "1" : "0"; break;
          case 'f': out += found != core.aliases.end() ? found->second : ""; break;
          default: out += found != core.aliases.end() ? found->second : whole; break;
        }
        if (protect) protect = 0;
        at_command_start = false;
        i = close + 1;
        continue;
      }
    }
    if (is_space(c) || c == ';' || c == '{' || c == '}') {
      if (c == ';' || c == '{' || c == '}') at_command_start = !quoted;
      out.push_back(c);
      ++i;
      continue;
    }
    // A word: up to the next boundary.
    std::size_t end = i;
    while (end < text.size() && !alias_boundary(text[end]) && !(end > i && text.substr(end).starts_with("${"))) ++end;
    std::string_view word = text.substr(i, end - i);
    const bool starts_command = at_command_start;
    at_command_start = false;
    if (starts_command && (word == "as" || word == "aS" || word == "ad")) {
      protect = 1;
    } else if (protect && word.starts_with("/")) {
      // an option of as/ad: the name is still to come
    } else if (protect) {
      protect = 0;
    } else if (!quoted && (i == 0 || alias_boundary(text[i - 1])) && (end == text.size() || alias_boundary(text[end]))) {
      if (auto found = core.aliases.find(std::string(word)); found != core.aliases.end()) {
        out += found->second;
        i = end;
        continue;
      }
    }
    for (char ch : word)
      if (ch == '"') quoted = !quoted;
    out.append(word);
    i = end;
  }
  return out;
}

ScriptFlow run_program(EngineCore& core, std::string_view text, std::size_t column, bool expand) {
  if (expand && (!core.aliases.empty() || text.find("${") != std::string_view::npos)) {
    const std::string expanded = expand_aliases(core, text);
    return Runner(core, expanded, column).run();
  }
  return Runner(core, text, column).run();
}

}  // namespace openkd::commands
