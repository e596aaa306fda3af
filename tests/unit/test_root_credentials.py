"""The account's root credentials: made once, private, readable by AWS's own tools; or given."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.configloader import raw_config_parse

from ember.iam.access_keys import (
    SECRET_ACCESS_KEY_ALPHABET,
    is_temporary,
    new_long_term_key,
    new_temporary_key,
)
from ember.iam.root_credentials import ROOT_CREDENTIALS_FILE, RootCredentialsError, root_credentials

ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z2-7]{16}")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave a new file readable by everyone: the file must not rely on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_made_on_the_first_start_private_and_read_back_on_the_next(tmp_path: Path, permissive_umask: None) -> None:
    key = root_credentials(tmp_path)
    assert ACCESS_KEY_ID.fullmatch(key.access_key_id) and key.access_key_id.startswith("AKIA")
    assert len(key.secret_access_key) == 40 and set(key.secret_access_key) <= set(SECRET_ACCESS_KEY_ALPHABET)
    path = tmp_path / ROOT_CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == [ROOT_CREDENTIALS_FILE]  # no staging file left
    written = path.read_bytes()
    assert root_credentials(tmp_path) == key
    assert path.read_bytes() == written


def test_the_file_is_an_aws_shared_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = root_credentials(tmp_path)
    path = tmp_path / ROOT_CREDENTIALS_FILE
    assert raw_config_parse(str(path))["ember"] == {"aws_access_key_id": key.access_key_id,
                                                    "aws_secret_access_key": key.secret_access_key}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    credentials = boto3.Session(profile_name="ember").get_credentials()
    assert credentials is not None
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (key.access_key_id, key.secret_access_key, None)


def test_given_credentials_are_used_as_given_and_nothing_is_written(tmp_path: Path) -> None:
    key = root_credentials(tmp_path, "AKIAOPERATORCHOSEN01", "operator/secret+value")
    assert (key.access_key_id, key.secret_access_key) == ("AKIAOPERATORCHOSEN01", "operator/secret+value")
    assert not (tmp_path / ROOT_CREDENTIALS_FILE).exists()


def test_given_credentials_win_over_a_file_from_an_earlier_start(tmp_path: Path) -> None:
    made = root_credentials(tmp_path)
    given = root_credentials(tmp_path, "AKIAOPERATORCHOSEN01", "s3cret")
    assert given.access_key_id != made.access_key_id
    assert root_credentials(tmp_path) == made


@pytest.mark.parametrize(("access_key_id", "secret"), [("AKIAONLYTHEID0000000", None), (None, "only-the-secret"),
                                                       ("AKIA WITH SPACE", "secret")])
def test_half_given_or_unusable_credentials_are_refused(tmp_path: Path, access_key_id: str | None,
                                                        secret: str | None) -> None:
    with pytest.raises(RootCredentialsError):
        root_credentials(tmp_path, access_key_id, secret)


def test_an_unreadable_file_is_refused_rather_than_replaced(tmp_path: Path) -> None:
    path = tmp_path / ROOT_CREDENTIALS_FILE
    path.write_text("[default]\naws_access_key_id = AKIAOTHERPROFILE0000\n")
    with pytest.raises(RootCredentialsError, match="cannot read the root credentials"):
        root_credentials(tmp_path)
    assert path.read_text().startswith("[default]")


def test_the_log_says_where_and_never_the_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ember.iam"):
        made = root_credentials(tmp_path)
        root_credentials(tmp_path)
        given = root_credentials(tmp_path, "AKIAOPERATORCHOSEN01", "operator-secret-value")
    assert str(tmp_path / ROOT_CREDENTIALS_FILE) in caplog.text and "--profile ember" in caplog.text
    assert made.access_key_id in caplog.text
    assert made.secret_access_key not in caplog.text and given.secret_access_key not in caplog.text
    assert made.secret_access_key not in repr(made)


def test_new_keys_in_aws_forms() -> None:
    long_term, temporary = new_long_term_key(), new_temporary_key()
    assert long_term.access_key_id.startswith("AKIA") and not is_temporary(long_term.access_key_id)
    assert temporary.access_key_id.startswith("ASIA") and is_temporary(temporary.access_key_id)
    for key in (long_term, temporary):
        assert ACCESS_KEY_ID.fullmatch(key.access_key_id)
        assert len(key.secret_access_key) == 40
    assert len({new_long_term_key().access_key_id for _ in range(100)}) == 100
