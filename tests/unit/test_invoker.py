"""The invoker's log of an invocation on a FakeClock: START, the function's lines, END and the
REPORT line (Duration, Billed Duration, Memory Size, Max Memory Used, Init Duration), each
stamped with the clock's time. A real Invoker, Scheduler, CodeCache and Environment; the
runtime is played by tests/unit/fake_runtime.py (`harness`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ember.errors import ServiceException
from ember.invoke.invoker import InvokeRequest
from ember.sandbox import NetworkUnavailable, SandboxProcess, SandboxSpec
from tests.unit.fake_runtime import FakeSandbox, harness


def test_a_cold_start_reports_its_duration_billed_duration_memory_and_init_duration(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, init_s=0.25, run_s=0.0421, memory_mb=256, peak_memory_mb=77)
        started_ms = h.clock.time_ms()
        payload, report = await h.invoke("r1", {"n": 1})
        assert payload == {"n": 1}
        assert report == ("REPORT RequestId: r1\tDuration: 42.10 ms\tBilled Duration: 43 ms\tMemory Size: 256 MB"
                          "\tMax Memory Used: 77 MB\tInit Duration: 250.00 ms\t\n")
        # the runtime was told the deadline from the clock once its init was done
        [pending] = h.script.invocations
        assert pending.deadline_ms == started_ms + 250 + 3000
        [record] = h.telemetry.finished
        assert (record.started_ms, record.ended_ms) == (started_ms, h.clock.time_ms())
        assert record.duration_ms == pytest.approx(42.1)
        await h.close()

    asyncio.run(scenario())


def test_the_log_lines_are_stamped_by_the_clock_in_a_stream_dated_by_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, init_s=0.25, run_s=0.5)
        started_ms = h.clock.time_ms()
        await h.invoke("r1", "hi")
        ran_ms = started_ms + 250
        assert [(stamp, message.split("\t")[0]) for _, stamp, message in h.telemetry.lines] == [
            (ran_ms, "START RequestId: r1 Version: $LATEST\n"),
            (ran_ms + 500, "handling hi\n"),
            (ran_ms + 500, "END RequestId: r1\n"),
            (ran_ms + 500, "REPORT RequestId: r1"),
        ]
        streams = {stream for stream, _, _ in h.telemetry.lines}
        [stream] = streams
        assert stream.startswith("2023/11/14/[$LATEST]")  # FakeClock starts on 14 November 2023
        await h.close()

    asyncio.run(scenario())


def test_a_warm_invocation_has_no_init_duration_and_bills_whole_milliseconds_rounded_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, init_s=0.25, run_s=0.25)
        _, cold = await h.invoke("cold")
        assert "\tDuration: 250.00 ms\tBilled Duration: 250 ms\t" in cold  # a whole millisecond stays as it is
        for run_s, duration, billed in [(0.0015, "1.50", 2), (0.2501, "250.10", 251), (0.0, "0.00", 1)]:
            h.script.run_s = run_s
            _, report = await h.invoke("warm")
            assert report == (f"REPORT RequestId: warm\tDuration: {duration} ms\tBilled Duration: {billed} ms"
                              "\tMemory Size: 256 MB\tMax Memory Used: 77 MB\t\n")
        assert len(h.sandbox.processes) == 1  # one environment throughout
        await h.close()

    asyncio.run(scenario())


def test_a_runtime_that_exits_during_init_reports_its_init_as_the_duration(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, init_s=0.125, init_exit_code=1)
        result = await h.invoker.invoke(h.function, InvokeRequest(b"{}", "r9"))
        assert result.function_error == "Unhandled"
        # the platform words it, naming the invocation that started the environment
        assert json.loads(result.payload) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": "RequestId: r9 Error: Runtime exited with error: exit status 1"}
        report = result.log_text.splitlines(keepends=True)[-1]
        assert report == ("REPORT RequestId: r9\tDuration: 125.00 ms\tBilled Duration: 125 ms\tMemory Size: 256 MB"
                          "\tMax Memory Used: 0 MB\tInit Duration: 125.00 ms\t\n")
        assert h.sandbox.processes[0].is_killed
        await h.close()

    asyncio.run(scenario())


def test_an_environment_whose_network_cannot_be_set_up_is_a_service_exception(tmp_path: Path) -> None:
    class NoNetworkSandbox(FakeSandbox):
        async def start(self, spec: SandboxSpec) -> SandboxProcess:
            raise NetworkUnavailable("slirp4netns could not set up the network: open(\"/dev/net/tun\"): EACCES")

    async def scenario() -> None:
        h = harness(tmp_path, sandbox=NoNetworkSandbox())
        with pytest.raises(ServiceException, match="could not set up the network of a new execution environment"):
            await h.invoke("r1", {})
        await h.close()

    asyncio.run(scenario())
