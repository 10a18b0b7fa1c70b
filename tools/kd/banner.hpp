// KD's connection banner ("Windows 10 Kernel Version 19041 MP (4 procs) Free x64", ...).
#pragma once
#include "core/debugger/target.hpp"
#include "tools/kd/console.hpp"

namespace openkd::kd {

/// KD's banner for the target's version, from "Connected to ..." to "Debug session time".
void print_banner(debugger::Target& target, ConsoleOutput& out);

}  // namespace openkd::kd
