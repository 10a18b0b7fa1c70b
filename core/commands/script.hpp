// KD's command programs: the text of a typed line, a breakpoint's command
// string, a .block body or a script file, parsed as Microsoft documents it
// ("Using Debugger Command Programs", "Control Flow Tokens", "Using Aliases",
// "$<, $><, $$<, $$><, $$>a< (Run Script File)"):
//
// - `;` separates commands (outside double quotes and braces);
// - `$$ text` is a comment up to the next `;`; `* text` a comment to the end of the line;
// - `.block {}`, `.if () {} .elsif () {} .else {}`, `.for (init; cond; step) {}`,
//   `.while () {}`, `.do {} ()`, `.break`, `.continue`,
//   `.foreach [/pS n] [/ps n] (var {cmds}) {}` (also `/s (var "text")`, `/f (var "file")`),
//   `j expr 'cmd1' ; 'cmd2'`;
// - user-named aliases (as, aS, al, ad) are replaced in a sequence of commands
//   before it is parsed: as a separate token or as ${name} (${/v: /n: /d: /f:}).
//   A brace body is replaced when it is entered, so an alias set earlier in the
//   same line is seen inside a later .block, as the .block page documents;
// - `$<file`, `$><file`, `$$<file`, `$$><file`, `$$>a<file args` run a file.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace openkd::commands {

class EngineCore;

/// How a sequence of commands ended.
enum class ScriptFlow { Normal, Break, Continue, Abort };

/// Runs a command program. `column` is where `text` starts in the typed line
/// (for error carets); `expand` replaces aliases first (false when the caller did).
ScriptFlow run_program(EngineCore& core, std::string_view text, std::size_t column = 0, bool expand = true);

/// Replaces user-named aliases in `text` (tokens and ${...}), as KD does before parsing.
std::string expand_aliases(const EngineCore& core, std::string_view text);

/// True if `name` (lowercase, as parsed) is a control-flow token the program parser handles.
bool is_control_token(std::string_view name);

}  // namespace openkd::commands
