"""Every environment runs as its function's execution role, and none outlives its credentials.

A real Invoker, Scheduler and Environment on a FakeClock (tests/unit/fake_runtime.py), the
credentials issued by real SessionTokens, so what the door would say of them at any moment is
checked, not assumed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ember.clock import FakeClock
from ember.iam.keyring import Keyring
from ember.iam.session_tokens import IssuedCredentials, SessionTokenExpired, SessionTokens
from ember.invoke.credentials import CREDENTIALS_DURATION_S, RETIRE_MARGIN_S
from ember.lambda_.settings_check import MAX_TIMEOUT_S
from tests.unit.fake_runtime import Harness, harness

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass
class RecordingRoles:
    """A RoleCredentials issuing real sessions, keeping what it was asked and what it issued."""

    sessions: SessionTokens
    asked: list[tuple[str, str, int]] = field(default_factory=list)
    issued: list[IssuedCredentials] = field(default_factory=list)

    async def __call__(self, role_arn: str, function_name: str, duration_s: int) -> IssuedCredentials:
        self.asked.append((role_arn, function_name, duration_s))
        credentials = self.sessions.issue(f"arn:aws:sts::000000000000:assumed-role/role/{function_name}", role_arn,
                                          f"AROAEXAMPLE:{function_name}", duration_s)
        self.issued.append(credentials)
        return credentials


def with_roles(tmp_path: Path, environment: dict[str, str] | None = None) -> tuple[Harness, RecordingRoles]:
    clock = FakeClock()
    roles = RecordingRoles(SessionTokens(Keyring(b"k" * 32), clock))
    return harness(tmp_path, role_credentials=roles, environment=environment, clock=clock), roles


def is_valid(roles: RecordingRoles, credentials: IssuedCredentials) -> bool:
    try:
        roles.sessions.open(credentials.access_key_id, credentials.session_token)
    except SessionTokenExpired:
        return False
    return True


def test_a_cold_start_gives_the_environment_its_roles_credentials_over_the_functions_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Stored before CreateFunction refused these keys, say: the role's credentials still win.
        h, roles = with_roles(tmp_path, environment={"AWS_SESSION_TOKEN": "mine", "GREETING": "hi"})
        started_s = h.clock.time_s()
        await h.invoke("r1", 1)
        assert roles.asked == [("role", "f", CREDENTIALS_DURATION_S)]
        [issued] = roles.issued
        env = h.sandbox.processes[0].spec.env
        assert [env[name] for name in CREDENTIAL_VARIABLES] == [issued.access_key_id, issued.secret_access_key,
                                                                issued.session_token]
        assert env["GREETING"] == "hi"
        assert issued.access_key_id.startswith("ASIA")
        assert issued.expires_at_s == int(started_s) + CREDENTIALS_DURATION_S  # issued as it started
        await h.invoke("r2", 2)  # warm: no new credentials
        assert len(roles.issued) == 1
        await h.close()

    asyncio.run(scenario())


def test_an_environment_is_replaced_before_its_credentials_end_and_they_hold_until_then(tmp_path: Path) -> None:
    async def scenario() -> None:
        h, roles = with_roles(tmp_path)
        await h.invoke("cold", None)
        [first] = roles.issued
        first_process = h.sandbox.processes[0]
        retire_at = first.expires_at_s - RETIRE_MARGIN_S
        h.clock.advance(retire_at - h.clock.time_s() - 1)
        await h.invoke("still-warm", None)
        assert len(h.sandbox.processes) == 1 and len(roles.issued) == 1
        h.clock.advance(retire_at - h.clock.time_s())
        assert is_valid(roles, first)  # retired while its credentials still work...
        await h.invoke("replaced", None)
        assert first_process.is_killed and len(h.sandbox.processes) == 2
        [_, second] = roles.issued
        assert second.access_key_id != first.access_key_id
        assert h.sandbox.processes[1].spec.env["AWS_ACCESS_KEY_ID"] == second.access_key_id
        # ...with room for the longest invocation to end before they do
        assert first.expires_at_s - retire_at > MAX_TIMEOUT_S
        h.clock.advance(first.expires_at_s - h.clock.time_s())
        assert not is_valid(roles, first) and is_valid(roles, second)
        await h.close()

    asyncio.run(scenario())


def test_an_invocation_running_past_the_retire_time_is_not_cut_then_its_environment_retires(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        h, roles = with_roles(tmp_path)
        await h.invoke("cold", None)
        [issued] = roles.issued
        h.clock.advance(issued.expires_at_s - RETIRE_MARGIN_S - h.clock.time_s() - 1)
        h.script.run_s = MAX_TIMEOUT_S  # the longest a function may run, across the retire time
        payload, _ = await h.invoke("long", {"done": True})
        assert payload == {"done": True}
        assert is_valid(roles, issued)  # it ran on valid credentials to its end
        process = h.sandbox.processes[0]
        assert process.is_killed and h.invoker.scheduler.environment_count == 0  # retired once idle
        await h.close()

    asyncio.run(scenario())


def test_without_role_credentials_an_environment_has_none_and_no_retire_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path)
        await h.invoke("r1", None)
        env = h.sandbox.processes[0].spec.env
        assert not set(CREDENTIAL_VARIABLES) & set(env)
        await h.close()

    asyncio.run(scenario())
