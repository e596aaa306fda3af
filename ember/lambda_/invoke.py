"""Invoke and the legacy InvokeAsync: the synchronous, event and dry-run invocation types.

Each invocation's trace header carries its chain's lineage (ember/invoke/lineage.py): a synchronous one
that would run a function a 17th time again in one chain is refused with RecursiveInvocationException
unless the function's RecursiveLoop is Allow; an Event one is dropped by the dispatcher.

An Event invocation (and InvokeAsync) is committed to the durable async queue before the
202 is sent; the dispatcher runs it from there (ember/invoke/dispatcher.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from dataclasses import replace
from typing import Any

from ember.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RecursiveInvocationException,
    RequestTooLargeException,
)
from ember.invoke import lineage
from ember.invoke.async_queue import NewEvent
from ember.invoke.invoker import InvokeRequest, InvokeResult
from ember.lambda_.backend import LambdaBackend
from ember.models import DEFAULT_MAX_EVENT_AGE_S, FunctionConfig
from ember.protocol import event_stream
from ember.services.base import RequestContext

#: AWS's limits on an invocation's request payload
MAX_SYNC_PAYLOAD_BYTES = 6_291_456
MAX_EVENT_PAYLOAD_BYTES = 1_048_576
MAX_INVOKE_ASYNC_BYTES = 262_144


class InvokeOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    async def invoke(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        invocation_type = p.get("InvocationType", "RequestResponse")
        ran = await self._run(ctx, p, invocation_type)
        if isinstance(ran, dict):
            return ran
        result = ran
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": result.payload,
            "ExecutedVersion": result.executed_version,
        }
        if result.function_error:
            response["FunctionError"] = result.function_error
        if p.get("LogType") == "Tail":
            response["LogResult"] = result.log_tail_b64()
        return response

    async def invoke_with_response_stream(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        """InvokeWithResponseStream. A function that answers whole (not in streaming mode) comes
        back as one PayloadChunk, then InvokeComplete, as AWS sends it; a failed one as
        InvokeComplete with the error's type and message."""
        ran = await self._run(ctx, p, p.get("InvocationType", "RequestResponse"))
        if isinstance(ran, dict):
            return ran
        complete: dict[str, Any] = {}
        events: list[dict[str, Any]] = []
        if ran.function_error:
            try:
                error = json.loads(ran.payload)
            except ValueError:
                error = {}
            complete["ErrorCode"] = str(error.get("errorType") or ran.function_error) if isinstance(error, dict) \
                else ran.function_error
            complete["ErrorDetails"] = str(error.get("errorMessage", "")) if isinstance(error, dict) else ""
        else:
            events.append({"PayloadChunk": {"Payload": ran.payload}})
        if p.get("LogType") == "Tail":
            complete["LogResult"] = ran.log_tail_b64()
        events.append({"InvokeComplete": complete})
        return {"StatusCode": 200, "ExecutedVersion": ran.executed_version,
                "ResponseStreamContentType": event_stream.CONTENT_TYPE, "EventStream": events}

    async def _run(self, ctx: RequestContext, p: dict[str, Any], invocation_type: str) -> InvokeResult | dict[str, Any]:
        """A synchronous invocation's result; for Event and DryRun, the whole response."""
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        # Invoke names what it runs: a missing function is "...:function:NAME:$LATEST".
        function, alias = await self.backend.get_with_alias(replace(ref, qualifier=ref.qualifier or "$LATEST"),
                                                            show_qualifier=True)
        if alias is not None:
            function = await self.backend.pick_version(alias, function)
        payload = p.get("Payload") or b""
        if invocation_type == "Event" and len(payload) > MAX_EVENT_PAYLOAD_BYTES:
            raise RequestTooLargeException(
                f"Request must be smaller than {MAX_EVENT_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            )
        payload = _checked_json(payload)
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        trace_id = lineage.invoked(ctx.headers.get("x-amzn-trace-id") or new_trace_id(), ref.name)
        if invocation_type == "Event":
            # Durable before the 202; the version an alias picks is chosen when it runs.
            await self._enqueue(NewEvent(ctx.request_id, ref.name, ref.qualifier, payload, trace_id))
            return {"StatusCode": 202, "Payload": b""}
        if lineage.is_too_deep(trace_id, ref.name) and await self._terminates_loops(ref.name, function):
            raise RecursiveInvocationException(lineage.RECURSIVE_INVOCATION_MESSAGE, Type="User")
        request = InvokeRequest(
            payload=payload,
            request_id=ctx.request_id,
            trace_id=trace_id,
            client_context=_client_context(p.get("ClientContext")),
            qualifier=ref.qualifier,
        )
        return await self.backend.invoker.invoke(function, request)

    async def invoke_async(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        payload = _checked_json(p.get("InvokeArgs") or b"")
        trace_id = lineage.invoked(ctx.headers.get("x-amzn-trace-id") or new_trace_id(), ref.name)
        # The request id the caller is told is the function's aws_request_id.
        await self._enqueue(NewEvent(ctx.request_id, ref.name, ref.qualifier, payload, trace_id))
        return {"Status": 202}

    async def _terminates_loops(self, function_name: str, function: FunctionConfig) -> bool:
        """Whether the function's RecursiveLoop is Terminate: a setting of the function, read from $LATEST."""
        if function.version != "$LATEST":
            function = await self.backend.get(self.backend.resolve(function_name))
        return function.recursive_loop == "Terminate"

    async def _enqueue(self, event: NewEvent) -> None:
        """Commit `event` to the async queue, with the age at which it is to be discarded."""
        config = await self.backend.store.get_event_invoke_config(event.function_name, event.qualifier or "$LATEST")
        max_age_s = config.effective_max_age_s if config is not None else DEFAULT_MAX_EVENT_AGE_S
        await self.backend.async_queue.put(replace(event, max_age_s=max_age_s))


def new_trace_id() -> str:
    """An X-Ray trace header as Lambda makes one when the caller sent none."""
    # Trace ids need to be unique, not unguessable: random's generator, not os.urandom, whose
    # getrandom() syscall was a tenth of an Event invoke's CPU time on a virtual machine.
    return f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};Parent={random.getrandbits(64):016x};Sampled=0"


def _checked_json(payload: bytes) -> bytes:
    """The payload if it is JSON ("{}" if empty, as Lambda passes it), else AWS's error."""
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except UnicodeDecodeError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc.reason}"
        ) from None
    except ValueError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    except RecursionError:
        # json recurses per level: a payload nested past the interpreter's limit (about 1,000)
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: the payload nests "
            "arrays or objects too deeply (at most about 900 levels)"
        ) from None
    return payload


def _client_context(header: str | None) -> str | None:
    if not header:
        return None
    try:
        text = base64.b64decode(header, validate=True).decode()
        json.loads(text)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidParameterValueException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    return text
