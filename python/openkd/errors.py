"""openkd's exceptions: one small hierarchy, each carrying the message kd would print.

    Error                      anything openkd reports
    +-- ProtocolError          the target's answer did not decode or did not fit
    +-- TimeoutError           no answer within the deadline (also a builtins.TimeoutError)
    +-- TargetError            the target refused: .ntstatus holds its NTSTATUS
    |   +-- RunningError       the target is running: wait() or break_in() first
    +-- ConnectionError        the transport closed or never opened (also a builtins.ConnectionError)
"""
import builtins


class Error(Exception):
    """Base of every openkd error. ``ntstatus`` is the target's NTSTATUS, or 0."""

    ntstatus: int = 0

    def __init__(self, message: str = "", ntstatus: int = 0):
        super().__init__(message)
        self.ntstatus = ntstatus


class ProtocolError(Error):
    """The target's answer did not decode, or did not fit the request."""


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - the name users expect
    """No answer within the deadline."""


class TargetError(Error):
    """The target answered with a failure; ``ntstatus`` says which (e.g. 0xC0000005)."""


class RunningError(TargetError):
    """The target is running; call ``wait()`` or ``break_in()`` first."""


class ConnectionError(Error, builtins.ConnectionError):  # noqa: A001
    """The transport closed, could not be opened, or the debugger was closed."""


__all__ = ["Error", "ProtocolError", "TimeoutError", "TargetError", "RunningError", "ConnectionError"]
