"""The errorType of failures the platform reports for a function, named as Lambda names them.

A function's own errors carry the type its runtime gives them (`ZeroDivisionError`,
`Runtime.ImportModuleError` from Ember's bootstraps); these are the ones Ember words itself,
when the runtime or an extension could not report anything.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    EXIT_ERROR = "Runtime.ExitError"  #: the runtime exited (an exit status, a signal)
    OUT_OF_MEMORY = "Runtime.OutOfMemory"  #: the memory limit ended the runtime
    INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"  #: a custom runtime without a bootstrap it can run
    INIT_TIMEOUT = "Runtime.InitTimeout"  #: init did not finish within INIT_TIMEOUT_S
    TIMED_OUT = "Sandbox.Timedout"  #: the invocation ran past the function's timeout
    EXTENSION_CRASH = "Extension.Crash"  #: an extension exited while Ember waited for it
    EXTENSION_INIT_ERROR = "Extension.InitError"  #: an extension posted /init/error
    EXTENSION_EXIT_ERROR = "Extension.ExitError"  #: an extension posted /exit/error
    EXTENSION_LAUNCH_ERROR = "Extension.LaunchError"  #: extensions did not register or finish init in time
