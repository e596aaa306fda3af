"""Every environment is told where Ember's AWS APIs are (AWS_ENDPOINT_URL), and one with a network of its
own has them served on its second listener from its start to its end.

A real Invoker, Scheduler and Environment over the fake sandbox and runtime (tests/unit/fake_runtime.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tests.unit.fake_runtime import NAMESPACE_AWS_ENDPOINT, FakeListener, FakeSandbox, harness

HOST_ENDPOINT = "http://127.0.0.1:45001"


@dataclass
class Served:
    """One listener an AwsApiServing was asked to serve; closed when its environment ends."""

    listener: FakeListener
    is_closed: bool = False

    def close(self) -> None:
        self.is_closed = True


@dataclass
class RecordingApi:
    served: list[Served] = field(default_factory=list)

    async def __call__(self, listener: object) -> Served:
        assert isinstance(listener, FakeListener)
        self.served.append(Served(listener))
        return self.served[-1]


def test_an_environment_sharing_the_hosts_network_is_told_the_hosts_listener(tmp_path: Path) -> None:
    async def scenario() -> None:
        api = RecordingApi()
        h = harness(tmp_path, host_aws_endpoint=HOST_ENDPOINT, aws_api=api)
        await h.invoke("r1")
        assert h.sandbox.processes[0].spec.env["AWS_ENDPOINT_URL"] == HOST_ENDPOINT
        assert api.served == []  # no listener of its own: the server's one on the host serves it
        await h.close()

    asyncio.run(scenario())


def test_an_environment_with_a_network_of_its_own_has_the_apis_served_on_it_until_it_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        api = RecordingApi()
        h = harness(tmp_path, sandbox=FakeSandbox(has_own_network=True), host_aws_endpoint=HOST_ENDPOINT,
                    aws_api=api)
        await h.invoke("r1")
        [process] = h.sandbox.processes
        assert process.spec.env["AWS_ENDPOINT_URL"] == NAMESPACE_AWS_ENDPOINT
        [served] = api.served
        assert served.listener is process.api_listener and not served.is_closed
        await h.invoke("r2")  # warm: the same environment, the same listener
        assert len(api.served) == 1 and not served.is_closed
        await h.close()
        assert served.is_closed and process.is_killed

    asyncio.run(scenario())


def test_a_functions_own_endpoint_wins_and_without_one_to_give_there_is_none(tmp_path: Path) -> None:
    async def scenario() -> None:
        own = harness(tmp_path / "own", host_aws_endpoint=HOST_ENDPOINT,
                      environment={"AWS_ENDPOINT_URL": "http://elsewhere:4566"})
        await own.invoke("r1")
        assert own.sandbox.processes[0].spec.env["AWS_ENDPOINT_URL"] == "http://elsewhere:4566"
        await own.close()
        none = harness(tmp_path / "none")
        await none.invoke("r1")
        assert "AWS_ENDPOINT_URL" not in none.sandbox.processes[0].spec.env
        await none.close()

    asyncio.run(scenario())
