"""Lambda's own AssumeRole: which roles it may assume (iam mode's check at CreateFunction), and the
sessions environments get, opened by the same SessionTokens the door uses. IAM's SQLite store on a
temporary folder; the clock is fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ember.arns import parse_role_arn
from ember.clock import FakeClock
from ember.errors import InvalidParameterValueException
from ember.iam.access_keys import role_id_from_name
from ember.iam.keyring import Keyring
from ember.iam.session_tokens import SessionTokens
from ember.iam_store import open_iam_store
from ember.iam_store.base import IamStore, Role
from ember.services.sts.execution_roles import CANNOT_ASSUME_MESSAGE, ExecutionRoles

ACCOUNT = "123456789012"
CREATED = "2026-01-01T00:00:00Z"


def trust(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


LAMBDA_TRUST = trust({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                      "Action": "sts:AssumeRole"})


def role(name: str, trust_policy: str, path: str = "/") -> Role:
    return Role(name, f"AROA{name.upper():0<17}"[:21], path, f"arn:aws:iam::{ACCOUNT}:role{path}{name}", CREATED,
                trust_policy)


Scenario = Callable[[IamStore, ExecutionRoles, SessionTokens, FakeClock], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        iam = open_iam_store("sqlite", path=tmp_path / "iam.db")
        clock = FakeClock()
        sessions = SessionTokens(Keyring(b"m" * 32), clock)
        try:
            await scenario(iam, ExecutionRoles(iam, sessions, ACCOUNT, clock), sessions, clock)
        finally:
            await iam.close()

    asyncio.run(main())


async def refused(roles: ExecutionRoles, role_arn: str) -> bool:
    try:
        await roles.check(role_arn)
    except InvalidParameterValueException as error:
        assert str(error) == CANNOT_ASSUME_MESSAGE
        assert (error.code, error.status_code) == ("InvalidParameterValueException", 400)
        return True
    return False


def test_only_a_role_that_exists_and_trusts_lambda_can_be_given_to_a_function(tmp_path: Path) -> None:
    async def scenario(iam: IamStore, roles: ExecutionRoles, sessions: SessionTokens, clock: FakeClock) -> None:
        await iam.create_role(role("runner", LAMBDA_TRUST))
        await iam.create_role(role("scoped", LAMBDA_TRUST, "/service-role/"))
        await iam.create_role(role("ec2-only", trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                      "Action": "sts:AssumeRole"})))
        await iam.create_role(role("users-only", trust({"Effect": "Allow",
                                                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                        "Action": "sts:AssumeRole"})))
        await iam.create_role(role("denied", trust(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": "sts:*"})))
        await iam.create_role(role("lists-lambda", trust(
            {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
             "Action": ["sts:AssumeRole", "sts:TagSession"]})))
        assert not await refused(roles, f"arn:aws:iam::{ACCOUNT}:role/runner")
        assert not await refused(roles, f"arn:aws:iam::{ACCOUNT}:role/RUNNER")  # IAM's names ignore case
        assert not await refused(roles, f"arn:aws:iam::{ACCOUNT}:role/service-role/scoped")
        assert not await refused(roles, f"arn:aws:iam::{ACCOUNT}:role/lists-lambda")
        for arn in (f"arn:aws:iam::{ACCOUNT}:role/missing",
                    f"arn:aws:iam::{ACCOUNT}:role/ec2-only",
                    f"arn:aws:iam::{ACCOUNT}:role/users-only",  # an account's trust is not a service's
                    f"arn:aws:iam::{ACCOUNT}:role/denied",
                    f"arn:aws:iam::{ACCOUNT}:role/scoped",  # its path is part of its ARN
                    f"arn:aws:iam::{ACCOUNT}:role/other-path/runner",
                    "arn:aws:iam::999999999999:role/runner",  # another account's role is not ours to read
                    "not-an-arn"):
            assert await refused(roles, arn), arn

    run(tmp_path, scenario)


def test_a_session_of_a_held_role_names_the_function_and_carries_the_roles_id(tmp_path: Path) -> None:
    async def scenario(iam: IamStore, roles: ExecutionRoles, sessions: SessionTokens, clock: FakeClock) -> None:
        held = role("runner", LAMBDA_TRUST, "/service-role/")
        await iam.create_role(held)
        issued = await roles.credentials(held.arn, "thumbnails", 43_200)
        assert issued.access_key_id.startswith("ASIA") and len(issued.secret_access_key) == 40
        assert issued.expires_at_s == int(clock.time_s()) + 43_200
        session, secret = sessions.open(issued.access_key_id, issued.session_token)
        assert secret == issued.secret_access_key
        assert session.principal_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/runner/thumbnails"
        assert session.source_arn == held.arn
        assert session.user_id == f"{held.role_id}:thumbnails"
        assert session.session_policy is None
        other = await roles.credentials(held.arn, "resizer", 43_200)
        assert other.access_key_id != issued.access_key_id and other.session_token != issued.session_token

    run(tmp_path, scenario)


def test_a_role_iam_does_not_hold_is_assumed_as_named_with_a_stable_id(tmp_path: Path) -> None:
    async def scenario(iam: IamStore, roles: ExecutionRoles, sessions: SessionTokens, clock: FakeClock) -> None:
        arn = "arn:aws:iam::000000000000:role/lambda-role"
        first, _ = sessions.open(*_key(await roles.credentials(arn, "fn", 3600)))
        again, _ = sessions.open(*_key(await roles.credentials(arn, "fn", 3600)))
        assert first.principal_arn == "arn:aws:sts::000000000000:assumed-role/lambda-role/fn"
        assert first.source_arn == arn
        assert first.user_id == again.user_id == f"{role_id_from_name('lambda-role')}:fn"
        assert first.user_id.startswith("AROA") and len(first.user_id.split(":")[0]) == 21

    run(tmp_path, scenario)


def _key(issued) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return issued.access_key_id, issued.session_token


@pytest.mark.parametrize(("arn", "parts"), [
    ("arn:aws:iam::123456789012:role/r", ("123456789012", "/", "r")),
    ("arn:aws:iam::123456789012:role/service-role/a/b", ("123456789012", "/service-role/a/", "b")),
    ("arn:aws-cn:iam::123456789012:role/r", ("123456789012", "/", "r")),
    ("arn:aws:iam::123456789012:user/r", None),
    ("arn:aws:iam::123456789012:role/", None),
])
def test_role_arns_are_read_into_account_path_and_name(arn: str, parts: tuple[str, str, str] | None) -> None:
    parsed = parse_role_arn(arn)
    assert (None if parsed is None else (parsed.account_id, parsed.path, parsed.name)) == parts
