"""The Extensions API (2020-01-01) of one environment: registration, events, errors.

External extensions are the executables in /opt/extensions, started before the runtime;
each registers under its file name (`Lambda-Extension-Name`) for INVOKE and SHUTDOWN events
and then blocks in /event/next. Internal extensions (any other name, registered from inside
the runtime process before init ends) may take INVOKE events only.

The host side (the environment) asks: have all the expected extensions registered; is every
registered extension back in /event/next (init done, invocation done); has one failed. Error
types and messages follow Lambda's Runtime API (`Extension.*`, 403).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: Lambda's limit on extensions per function, enforced at register
MAX_EXTENSIONS = 10
IDENTIFIER_HEADER = "lambda-extension-identifier"
NAME_HEADER = "lambda-extension-name"
ERROR_TYPE_HEADER = "lambda-extension-function-error-type"
ACCEPT_FEATURE_HEADER = "lambda-extension-accept-feature"

Reply = tuple[int, list[tuple[str, str]], bytes]


class EventType(StrEnum):
    INVOKE = "INVOKE"  #: an invocation started
    SHUTDOWN = "SHUTDOWN"  #: the environment is about to end


class ExtensionState(StrEnum):
    REGISTERED = "registered"  #: registered, has not asked for an event yet
    WAITING = "waiting"  #: blocked in /event/next
    BUSY = "busy"  #: was handed an event and has not asked for the next one
    FAILED = "failed"  #: posted /init/error or /exit/error: no further calls succeed


@dataclass
class Extension:
    identifier: str
    name: str
    events: frozenset[EventType]
    is_external: bool
    state: ExtensionState = ExtensionState.REGISTERED
    pending: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    error_type: str | None = None  #: what it posted to /init/error or /exit/error


@dataclass(frozen=True)
class FunctionInfo:
    """What /extension/register answers with."""

    function_name: str
    function_version: str
    handler: str
    account_id: str


class ExtensionsHub:
    """The extensions of one environment and the events between them and the host."""

    def __init__(self, expected_names: tuple[str, ...], function: FunctionInfo) -> None:
        self.expected_names = expected_names  #: the files in /opt/extensions, each must register
        self.function = function
        self.extensions: dict[str, Extension] = {}  # by identifier
        self.is_registration_open = True
        #: set on every change of an extension's state (the host's waits look again)
        self.changed = asyncio.Event()

    # Host side -------------------------------------------------------------------------

    @property
    def registered_names(self) -> set[str]:
        return {extension.name for extension in self.extensions.values()}

    def all_expected_registered(self) -> bool:
        return set(self.expected_names) <= self.registered_names

    def failure(self) -> Extension | None:
        """An extension that posted /init/error or /exit/error, if any."""
        return next((e for e in self.extensions.values() if e.state is ExtensionState.FAILED), None)

    def is_settled(self) -> bool:
        """Every registered extension is back in /event/next with nothing left to take."""
        return all(e.state is ExtensionState.WAITING and e.pending.empty() for e in self.extensions.values())

    def busy_count(self) -> int:
        return sum(1 for e in self.extensions.values() if e.state is not ExtensionState.WAITING or
                   not e.pending.empty())

    def close_registration(self) -> None:
        """Init is over: only the extensions registered so far take part."""
        self.is_registration_open = False

    def subscribers(self, event: EventType) -> list[Extension]:
        return [e for e in self.extensions.values() if event in e.events and e.state is not ExtensionState.FAILED]

    def deliver_invoke(self, request_id: str, deadline_ms: int, invoked_function_arn: str,
                       trace_id: str | None) -> None:
        event: dict[str, Any] = {"eventType": EventType.INVOKE.value, "deadlineMs": deadline_ms,
                                 "requestId": request_id, "invokedFunctionArn": invoked_function_arn}
        if trace_id:
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": trace_id}
        for extension in self.subscribers(EventType.INVOKE):
            extension.pending.put_nowait(event)
        self._changed()

    def deliver_shutdown(self, reason: str, deadline_ms: int) -> list[Extension]:
        """Hand SHUTDOWN to the extensions registered for it; the ones told."""
        told = self.subscribers(EventType.SHUTDOWN)
        event = {"eventType": EventType.SHUTDOWN.value, "shutdownReason": reason, "deadlineMs": deadline_ms}
        for extension in told:
            extension.pending.put_nowait(event)
        self._changed()
        return told

    def _changed(self) -> None:
        self.changed.set()

    async def wait_changed(self, timeout_s: float) -> None:
        """Wait for the next change of state, or `timeout_s`."""
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), timeout_s)
        except TimeoutError:
            pass

    # Extension side (called by the Runtime API server) ----------------------------------

    def register(self, headers: dict[str, str], body: bytes) -> Reply:
        name = headers.get(NAME_HEADER, "")
        if not name:
            return _forbidden("Extension.InvalidExtensionName", "Empty extension name")
        try:
            document = json.loads(body or b"{}")
            if not isinstance(document, dict):
                raise ValueError("the body must be a JSON object")
            requested = document.get("events") or []
            if not isinstance(requested, list) or not all(isinstance(item, str) for item in requested):
                raise ValueError("events must be a list of strings")
        except ValueError as exc:
            return _forbidden("InvalidRequestFormat", str(exc))
        if document.get("configurationKeys"):
            return _forbidden("InvalidRequestFormat", "configurationKeys are deprecated; use environment variables "
                                                      "instead")
        is_external = name in self.expected_names
        for requested_event in requested:
            if requested_event not in EventType.__members__:
                return _forbidden("Extension.InvalidEventType", f"{requested_event}: invalid event type; events "
                                  "are INVOKE and SHUTDOWN")
            if requested_event == EventType.SHUTDOWN and not is_external:
                return _forbidden("Extension.InvalidEventType", f"{requested_event}: internal extensions (not a file "
                                  "in /opt/extensions) cannot register for SHUTDOWN")
        if name in self.registered_names:
            return _forbidden("Extension.InvalidExtensionState", f"Extension {name} is already registered")
        if not is_external and not self.is_registration_open:
            return _forbidden("Extension.RegistrationClosed", "Extension registration closed already")
        if len(self.extensions) >= MAX_EXTENSIONS:
            return _forbidden("Extension.TooManyExtensions", f"Extension limit ({MAX_EXTENSIONS}) reached")
        identifier = str(uuid.uuid4())
        self.extensions[identifier] = Extension(identifier, name, frozenset(EventType(e) for e in requested),
                                                is_external)
        self._changed()
        answer: dict[str, str] = {"functionName": self.function.function_name,
                                  "functionVersion": self.function.function_version,
                                  "handler": self.function.handler}
        if "accountId" in headers.get(ACCEPT_FEATURE_HEADER, ""):
            answer["accountId"] = self.function.account_id
        return 200, [("Lambda-Extension-Identifier", identifier)], json.dumps(answer).encode()

    def _caller(self, headers: dict[str, str]) -> Extension | Reply:
        identifier = headers.get(IDENTIFIER_HEADER)
        if not identifier:
            return _forbidden("Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header")
        try:
            uuid.UUID(identifier)
        except ValueError:
            return _forbidden("Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier")
        extension = self.extensions.get(identifier)
        if extension is None:
            return _forbidden("Extension.UnknownExtensionIdentifier", f"Unknown extension {identifier}")
        if extension.state is ExtensionState.FAILED:
            return _forbidden("Extension.InvalidExtensionState", f"Extension {extension.name} reported an error "
                              "and can make no further calls")
        return extension

    async def next_event(self, headers: dict[str, str]) -> Reply:
        extension = self._caller(headers)
        if not isinstance(extension, Extension):
            return extension
        extension.state = ExtensionState.WAITING
        self._changed()
        try:
            event = await extension.pending.get()
        finally:
            if extension.state is ExtensionState.WAITING:
                extension.state = ExtensionState.BUSY
            self._changed()
        headers_out = [("Lambda-Extension-Event-Identifier", str(uuid.uuid4()))]
        return 200, headers_out, json.dumps(event).encode()

    def report_error(self, headers: dict[str, str], body: bytes) -> Reply:
        """/extension/init/error and /extension/exit/error: the extension failed and will exit."""
        extension = self._caller(headers)
        if not isinstance(extension, Extension):
            return extension
        error_type = headers.get(ERROR_TYPE_HEADER)
        if not error_type:
            return _forbidden("Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found")
        extension.state = ExtensionState.FAILED
        extension.error_type = error_type
        self._changed()
        return 202, [], b'{"status":"OK"}'


def _forbidden(error_type: str, message: str) -> Reply:
    return 403, [], json.dumps({"errorMessage": message, "errorType": error_type}).encode()
