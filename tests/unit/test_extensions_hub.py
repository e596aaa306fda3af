"""The Extensions API's bookkeeping: registration rules, events, and when extensions are settled."""

from __future__ import annotations

import asyncio
import json

from ember.runtime_api.extensions import MAX_EXTENSIONS, ExtensionsHub, FunctionInfo

FUNCTION = FunctionInfo("fn", "$LATEST", "index.handler", "123456789012")


def register(hub: ExtensionsHub, name: str, events: list[str], **headers: str) -> tuple[int, dict, dict]:
    body = json.dumps({"events": events}).encode()
    status, extra, answer = hub.register({"lambda-extension-name": name, **headers}, body)
    return status, dict(extra), json.loads(answer)


def test_an_external_extension_registers_and_is_told_the_function() -> None:
    async def scenario() -> None:
        hub = ExtensionsHub(("recorder",), FUNCTION)
        assert not hub.all_expected_registered()
        status, headers, body = register(hub, "recorder", ["INVOKE", "SHUTDOWN"],
                                         **{"lambda-extension-accept-feature": "accountId"})
        assert status == 200
        assert body == {"functionName": "fn", "functionVersion": "$LATEST", "handler": "index.handler",
                        "accountId": "123456789012"}
        assert hub.all_expected_registered()
        assert not hub.is_settled()  # registered, not yet waiting for an event
        identifier = headers["Lambda-Extension-Identifier"]
        waiting = asyncio.create_task(hub.next_event({"lambda-extension-identifier": identifier}))
        await asyncio.sleep(0)
        assert hub.is_settled()
        hub.deliver_invoke("req-1", 1_700_000_000_000, "arn:aws:lambda:us-east-1:1:function:fn", "Root=1-x")
        status, headers_out, body = await waiting
        event = json.loads(body)
        assert status == 200 and dict(headers_out)["Lambda-Extension-Event-Identifier"]
        assert event == {"eventType": "INVOKE", "deadlineMs": 1_700_000_000_000, "requestId": "req-1",
                         "invokedFunctionArn": "arn:aws:lambda:us-east-1:1:function:fn",
                         "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-x"}}
        assert not hub.is_settled()  # busy with the event until it asks for the next one

    asyncio.run(scenario())


def test_registration_refusals() -> None:
    async def scenario() -> None:
        hub = ExtensionsHub(("ext",), FUNCTION)
        assert register(hub, "", [])[0:3:2] == (403, {"errorMessage": "Empty extension name",
                                                      "errorType": "Extension.InvalidExtensionName"})
        assert register(hub, "ext", ["LATER"])[2]["errorType"] == "Extension.InvalidEventType"
        # any other name is an internal extension, which may not take SHUTDOWN
        assert register(hub, "in-process", ["SHUTDOWN"])[2]["errorType"] == "Extension.InvalidEventType"
        assert register(hub, "ext", ["INVOKE"])[0] == 200
        assert register(hub, "ext", ["INVOKE"])[2]["errorType"] == "Extension.InvalidExtensionState"
        hub.close_registration()
        assert register(hub, "in-process", ["INVOKE"])[2]["errorType"] == "Extension.RegistrationClosed"

    asyncio.run(scenario())


def test_no_more_than_ten_extensions() -> None:
    async def scenario() -> None:
        names = tuple(f"ext{i}" for i in range(MAX_EXTENSIONS + 1))
        hub = ExtensionsHub(names, FUNCTION)
        for name in names[:MAX_EXTENSIONS]:
            assert register(hub, name, [])[0] == 200
        assert register(hub, names[-1], [])[2] == {"errorMessage": "Extension limit (10) reached",
                                                   "errorType": "Extension.TooManyExtensions"}

    asyncio.run(scenario())


def test_shutdown_goes_only_to_extensions_registered_for_it_and_errors_fail_them() -> None:
    async def scenario() -> None:
        hub = ExtensionsHub(("a", "b"), FUNCTION)
        a = register(hub, "a", ["SHUTDOWN"])[1]["Lambda-Extension-Identifier"]
        b = register(hub, "b", ["INVOKE"])[1]["Lambda-Extension-Identifier"]
        told = hub.deliver_shutdown("spindown", 5)
        assert [extension.name for extension in told] == ["a"]
        status, _, body = await hub.next_event({"lambda-extension-identifier": a})
        assert json.loads(body) == {"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 5}

        missing_type = hub.report_error({"lambda-extension-identifier": b}, b"{}")
        assert missing_type[0] == 403 and json.loads(missing_type[2])["errorType"] == "Extension.MissingHeader"
        accepted = hub.report_error({"lambda-extension-identifier": b,
                                     "lambda-extension-function-error-type": "Extension.Broken"}, b"{}")
        assert accepted[0] == 202
        failed = hub.failure()
        assert failed is not None and failed.name == "b" and failed.error_type == "Extension.Broken"
        # no further call succeeds for it
        refused = await hub.next_event({"lambda-extension-identifier": b})
        assert refused[0] == 403 and json.loads(refused[2])["errorType"] == "Extension.InvalidExtensionState"

    asyncio.run(scenario())


def test_identifier_checks() -> None:
    async def scenario() -> None:
        hub = ExtensionsHub((), FUNCTION)
        for headers, error_type in (({}, "Extension.MissingExtensionIdentifier"),
                                    ({"lambda-extension-identifier": "x"}, "Extension.InvalidExtensionIdentifier"),
                                    ({"lambda-extension-identifier": "00000000-0000-0000-0000-000000000000"},
                                     "Extension.UnknownExtensionIdentifier")):
            status, _, body = await hub.next_event(headers)
            assert (status, json.loads(body)["errorType"]) == (403, error_type)

    asyncio.run(scenario())
