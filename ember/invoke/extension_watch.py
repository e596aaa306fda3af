"""An environment's external extensions through its phases, as Lambda sequences them.

- Init: every file in /opt/extensions registers before the runtime starts; init ends when the
  runtime and every registered extension have asked for their next event.
- Invoke: an invocation ends for the environment when the runtime has answered and every
  extension is back in /event/next; the function's timeout covers both.
- Shutdown: extensions registered for SHUTDOWN get it with a deadline (Lambda: up to 2 s with
  external extensions); the environment is killed once they have all asked for their next
  event again, or exited, or the deadline has passed.

An extension that posts /init/error or /exit/error, or exits while Ember waits for it, fails
the phase (Extension.InitError, Extension.ExitError, Extension.Crash), and its environment
is replaced, as on Lambda.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from ember.clock import Clock, SystemClock
from ember.invoke.error_types import ErrorType
from ember.runtime_api.channel import Outcome, OutcomeKind
from ember.runtime_api.extensions import ExtensionsHub, ExtensionState
from ember.sandbox import SandboxProcess

#: Lambda gives external extensions up to 2 s to shut down
SHUTDOWN_DEADLINE_S = 2.0
#: how often a wait looks at the extensions' processes (a crash shows only there)
POLL_S = 0.05
#: how long after launch a missing process may just not have started yet
START_GRACE_S = 0.5


class ExtensionWatch:
    """Waits on one environment's extensions; every wait gives up on the runtime's exit."""

    def __init__(self, hub: ExtensionsHub, process: SandboxProcess, runtime_exit: asyncio.Task[int],
                 clock: Clock | None = None) -> None:
        self.hub = hub
        self.process = process
        self.runtime_exit = runtime_exit
        #: wall time for the deadline SHUTDOWN tells extensions; the waits themselves are the loop's
        self.clock = clock or SystemClock()
        self.launched_at = asyncio.get_running_loop().time()

    async def wait(self, is_done: Callable[[], bool], deadline: float, request_id: str | None) -> Outcome | None:
        """Wait until `is_done()`: None, or the failure that ended the wait (an extension's error or
        crash, the deadline). Returns None at once if the runtime exits: its caller reports that."""
        loop = asyncio.get_running_loop()
        missing_before = False
        while not is_done():
            failed = self.hub.failure()
            if failed is not None:
                kind = ErrorType.EXTENSION_INIT_ERROR if request_id is None else ErrorType.EXTENSION_EXIT_ERROR
                return failure(kind, f"extension {failed.name} reported {failed.error_type}", request_id)
            if self.runtime_exit.done():
                return None
            missing = self._is_one_gone()
            if missing and missing_before:
                return failure(ErrorType.EXTENSION_CRASH, self._crash_message(), request_id)
            missing_before = missing
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None if is_done() else timed_out(self.hub, request_id)
            await self.hub.wait_changed(min(POLL_S, remaining))
        return None

    def _needed(self) -> int:
        """External extensions Ember is waiting to hear from: unregistered ones, and registered ones
        not back in /event/next. Each is a live process if it is still working."""
        unregistered = len(set(self.hub.expected_names) - self.hub.registered_names)
        busy = sum(1 for e in self.hub.extensions.values() if e.is_external and e.state is not ExtensionState.FAILED
                   and not (e.state is ExtensionState.WAITING and e.pending.empty()))
        return unregistered + busy

    def _is_one_gone(self) -> bool:
        """Fewer live extension processes than extensions Ember waits for: one of those has exited."""
        if not self.hub.expected_names:
            return False  # only internal extensions (in the runtime process): the runtime's exit tells
        if asyncio.get_running_loop().time() - self.launched_at < START_GRACE_S:
            return False  # the launcher may still be starting them
        alive = self.process.detached_process_count()
        return alive is not None and alive < self._needed()

    def _crash_message(self) -> str:
        unregistered = sorted(set(self.hub.expected_names) - self.hub.registered_names)
        if unregistered:
            return f"extension exited before registering (not registered: {', '.join(unregistered)})"
        return "extension exited before asking for its next event"

    async def shut_down(self, reason: str) -> None:
        """SHUTDOWN to the extensions registered for it; wait until they are done or the deadline."""
        deadline_ms = int((self.clock.time_s() + SHUTDOWN_DEADLINE_S) * 1000)
        told = self.hub.deliver_shutdown(reason, deadline_ms)
        if not told:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_DEADLINE_S

        def is_done() -> bool:
            return all(e.state is ExtensionState.FAILED or (e.state is ExtensionState.WAITING and e.pending.empty())
                       for e in told)

        while not is_done() and not self.runtime_exit.done():
            if self.process.detached_process_count() == 0:
                return  # every extension process has exited
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self.hub.wait_changed(min(POLL_S, remaining))


def failure(error_type: ErrorType, reason: str, request_id: str | None) -> Outcome:
    """An extension failure as the invocation's error; without a request id the invoker adds one."""
    message = f"RequestId: {request_id} Error: {reason}" if request_id else reason
    return Outcome(OutcomeKind.ERROR, json.dumps({"errorType": error_type, "errorMessage": message}).encode(),
                   error_type)


def timed_out(hub: ExtensionsHub, request_id: str | None) -> Outcome:
    if request_id is None:  # init: Lambda's 10 s for extensions and runtime together
        unregistered = sorted(set(hub.expected_names) - hub.registered_names)
        what = (f"extensions did not register: {', '.join(unregistered)}" if unregistered
                else "extensions did not finish their init")
        return failure(ErrorType.EXTENSION_LAUNCH_ERROR, what, None)
    return Outcome(OutcomeKind.ERROR, b"", ErrorType.TIMED_OUT)  # the environment words it with the timeout
