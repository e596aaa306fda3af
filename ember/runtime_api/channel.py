"""What passes between an environment's Runtime API server and the code that invokes it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum


class OutcomeKind(StrEnum):
    RESPONSE = "response"  #: the runtime posted a result
    ERROR = "error"  #: the runtime posted a function error
    INIT_ERROR = "init_error"  #: the runtime could not initialise


@dataclass(frozen=True)
class Outcome:
    """What a runtime reported for one invocation (or for its init)."""

    kind: OutcomeKind
    body: bytes
    error_type: str | None = None
    #: Ember's bootstraps say so (header Ember-Runtime-Exiting) when the runtime exits right after
    #: this outcome (Node.js after an uncaught exception): the environment is then not reused
    is_runtime_exiting: bool = False


@dataclass(frozen=True)
class PendingInvocation:
    """An event handed to the runtime by /invocation/next."""

    request_id: str
    payload: bytes
    deadline_ms: int  #: wall-clock epoch milliseconds
    invoked_function_arn: str
    trace_id: str | None = None
    client_context: str | None = None  #: JSON text
    cognito_identity: str | None = None  #: JSON text
    #: the secret that ends this invocation's output (Ember's bootstraps print it as a marker)
    output_marker: str | None = None


@dataclass
class RuntimeChannel:
    """One environment's mailbox: one invocation at a time, as on Lambda."""

    #: set once the runtime first asks for work: its init is done
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: resolved if the runtime reports that its init failed
    init_outcome: asyncio.Future[Outcome] = field(init=False)
    #: a parked runtime's wait for its function: set when it asks, resolved with the function's variables
    is_parked: asyncio.Event = field(default_factory=asyncio.Event)
    function_variables: asyncio.Future[dict[str, str]] = field(init=False)
    _next: asyncio.Queue[PendingInvocation] = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    _results: dict[str, asyncio.Future[Outcome]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.init_outcome = loop.create_future()
        self.function_variables = loop.create_future()

    # Host side -----------------------------------------------------------------------

    def submit(self, invocation: PendingInvocation) -> asyncio.Future[Outcome]:
        """Queue `invocation` for the runtime; the future resolves with what it reports."""
        result: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._results[invocation.request_id] = result
        self._next.put_nowait(invocation)
        return result

    def abandon(self, request_id: str) -> None:
        """Forget an invocation the host gave up on (timeout, environment died)."""
        future = self._results.pop(request_id, None)
        if future is not None and not future.done():
            future.cancel()

    def specialise(self, variables: dict[str, str]) -> None:
        """Hand a parked runtime its function's environment variables."""
        self.function_variables.set_result(variables)

    # Runtime side (called by the Runtime API server) -------------------------------------

    async def wait_for_function(self) -> dict[str, str]:
        self.is_parked.set()
        return await self.function_variables

    async def next_invocation(self) -> PendingInvocation:
        self.ready.set()
        return await self._next.get()

    def is_current(self, request_id: str) -> bool:
        return request_id in self._results

    def report(self, request_id: str, outcome: Outcome) -> bool:
        """Resolve an invocation; False if it is unknown or already answered."""
        future = self._results.pop(request_id, None)
        if future is None or future.done():
            return False
        future.set_result(outcome)
        return True

    def report_init_error(self, outcome: Outcome) -> None:
        if not self.init_outcome.done():
            self.init_outcome.set_result(outcome)
