// What the stack commands (k*, .frame), gu and uf/ub share: an unwinder over
// the engine's target and module list, and the frame `.frame` selected.
// Internal to core/commands.
#pragma once
#include <optional>

#include "core/commands/engine_core.hpp"
#include "core/debugger/unwind.hpp"

namespace openkd::commands {

/// An unwinder over the target's memory and the loaded modules' exception
/// directories (the directories are read once per module list and kept in
/// EngineCore::stack_state; the unwinder's memory cache lives as long as it does).
debugger::unwind::Unwinder make_unwinder(EngineCore& core);
/// The register context as the unwinder takes it.
debugger::unwind::Registers unwind_registers(const wire::Context& ctx);
/// `ctx` with the frame's registers in place of the current ones.
wire::Context frame_context(const wire::Context& ctx, const debugger::unwind::Registers& regs);

/// kb's `Args to Child`: the four home-space slots at the caller's Child-SP, KD-formatted.
std::string home_arguments(debugger::unwind::Unwinder& unwinder, const debugger::unwind::Frame& frame);
/// A frame's Call Site: `nt!KeBugCheckEx+0x47`, or `0x` and the address outside every module.
std::string call_site(EngineCore& core, std::uint64_t address);

/// The frame `.frame` selected, if the target has not run since (nullopt: frame 0).
std::optional<debugger::unwind::Frame> selected_frame(EngineCore& core);

}  // namespace openkd::commands
