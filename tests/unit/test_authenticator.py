"""The Authenticator over a real IAM store and real session tokens, on a FakeClock: temporary
credentials stop working at their expiry, and open mode names known callers without checking."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ember.clock import FakeClock
from ember.errors import ExpiredTokenException, UnrecognizedClientException
from ember.iam.access_keys import AccessKey
from ember.iam.keyring import Keyring
from ember.iam.session_tokens import SessionTokens
from ember.iam_store import open_iam_store
from ember.protocol import HttpRequest
from ember.services.access import Authenticator, AuthMode
from ember.services.base import CallerKind

ROOT = AccessKey("AKIAROOTROOTROOTROOT", "root-secret-root-secret-root-secret-root")
ACCOUNT = "123456789012"


def signed(credentials: Credentials, clock: FakeClock) -> HttpRequest:
    """A ListFunctions request as botocore signs it at the clock's time."""
    request = AWSRequest(method="GET", url="http://127.0.0.1:4566/2015-03-31/functions/", data=b"")
    moment = dt.datetime.fromtimestamp(clock.time_s(), dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = "127.0.0.1:4566"
    return HttpRequest("GET", "/2015-03-31/functions/", [], headers, b"", query_string="")


def authenticator(tmp_path: Path, mode: AuthMode, clock: FakeClock) -> tuple[Authenticator, SessionTokens]:
    sessions = SessionTokens(Keyring(b"k" * 32), clock)
    iam = open_iam_store("sqlite", path=tmp_path / "iam.db")
    return Authenticator(mode, ACCOUNT, ROOT, iam, sessions, clock), sessions


def test_a_session_is_refused_as_expired_once_its_time_is_up(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock()
        door, sessions = authenticator(tmp_path, AuthMode.IAM, clock)
        issued = sessions.issue(f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", f"arn:aws:iam::{ACCOUNT}:role/r",
                                "AROAEXAMPLE:s", 900)
        credentials = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
        caller = await door.caller(signed(credentials, clock), "lambda")
        assert (caller.kind, caller.arn) == (CallerKind.ROLE_SESSION, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s")
        clock.advance(900)  # signed now, with a token whose session has just ended
        with pytest.raises(ExpiredTokenException, match="The security token included in the request is expired"):
            await door.caller(signed(credentials, clock), "lambda")
        wrong = Credentials(issued.access_key_id, "x" * 40, issued.session_token[:-4] + "AAAA")
        with pytest.raises(UnrecognizedClientException):
            await door.caller(signed(wrong, clock), "lambda")
        await door.iam.close()

    asyncio.run(main())


def test_open_mode_names_known_keys_and_takes_anything_else_as_the_root(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock()
        door, sessions = authenticator(tmp_path, AuthMode.OPEN, clock)
        issued = sessions.issue(f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", f"arn:aws:iam::{ACCOUNT}:role/r",
                                "AROAEXAMPLE:s", 900)
        wrong_secret = Credentials(issued.access_key_id, "x" * 40, issued.session_token)
        assert (await door.caller(signed(wrong_secret, clock), "lambda")).kind is CallerKind.ROLE_SESSION
        anyone = Credentials("test", "test")
        assert (await door.caller(signed(anyone, clock), "lambda")).arn == f"arn:aws:iam::{ACCOUNT}:root"
        unsigned = HttpRequest("GET", "/2015-03-31/functions/", [], {"host": "127.0.0.1"}, b"", query_string="")
        assert (await door.caller(unsigned, "lambda")).kind is CallerKind.ROOT
        await door.iam.close()

    asyncio.run(main())
