"""The account's root credentials: the access key every other identity is made with.

Given by the operator (EMBER_ROOT_ACCESS_KEY_ID and EMBER_ROOT_SECRET_ACCESS_KEY, which the
server passes in), or made on the first start and kept in `<data dir>/root-credentials`, private
to Ember's user from its creation, in the AWS shared-credentials format under the profile
`[ember]`:

    AWS_SHARED_CREDENTIALS_FILE=<data dir>/root-credentials aws --profile ember lambda list-functions

Later starts read the same file back.
"""

from __future__ import annotations

import configparser
import logging
import os
from pathlib import Path

from ember.data_dir import create_private
from ember.iam.access_keys import AccessKey, new_long_term_key

log = logging.getLogger("ember.iam")

ROOT_CREDENTIALS_FILE = "root-credentials"
PROFILE = "ember"


class RootCredentialsError(Exception):
    """Root credentials that cannot be used: half given, or a file Ember cannot read."""


def root_credentials(data_dir: Path, access_key_id: str | None = None,
                     secret_access_key: str | None = None) -> AccessKey:
    """The root access key: `access_key_id` and `secret_access_key` when given (both or neither),
    else the data dir's `root-credentials`, made on the first start. Logs where they come from,
    never the secret. Raises RootCredentialsError."""
    if access_key_id or secret_access_key:
        if not (access_key_id and secret_access_key):
            raise RootCredentialsError("EMBER_ROOT_ACCESS_KEY_ID and EMBER_ROOT_SECRET_ACCESS_KEY go together: "
                                       "set both, or neither for credentials Ember makes itself")
        if any(character.isspace() for character in access_key_id + secret_access_key):
            raise RootCredentialsError("the root access key id and secret cannot contain spaces or line breaks")
        log.info("root credentials: access key %s, from EMBER_ROOT_ACCESS_KEY_ID", access_key_id)
        return AccessKey(access_key_id, secret_access_key)
    path = data_dir / ROOT_CREDENTIALS_FILE
    if path.exists():
        key = read_credentials_file(path)
        log.info("root credentials: access key %s, profile [%s] in %s", key.access_key_id, PROFILE, path)
        return key
    key = new_long_term_key()
    write_credentials_file(path, key)
    log.info("root credentials made: access key %s, profile [%s] in %s "
             "(AWS_SHARED_CREDENTIALS_FILE=%s aws --profile %s ...)", key.access_key_id, PROFILE, path, path, PROFILE)
    return key


def read_credentials_file(path: Path) -> AccessKey:
    """The `[ember]` profile's key in the shared-credentials file `path`."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(), source=str(path))
        profile = parser[PROFILE]
        return AccessKey(profile["aws_access_key_id"], profile["aws_secret_access_key"])
    except (OSError, UnicodeDecodeError, configparser.Error, KeyError) as exc:
        raise RootCredentialsError(f"cannot read the root credentials in {path} ({exc}); restore the file, or "
                                   "remove it for new ones (clients holding the old ones are then refused)") from exc


def write_credentials_file(path: Path, key: AccessKey) -> None:
    """Write `key` as the `[ember]` profile, all at once: a file readable by this user alone from
    its creation, renamed into place once it is on disk."""
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)  # a stale one from a start that died half-way
    create_private(staging)
    with open(staging, "w") as file:
        file.write(f"# The root credentials of this Ember data dir. Use them with:\n"
                   f"#   AWS_SHARED_CREDENTIALS_FILE={path} aws --profile {PROFILE} ...\n"
                   f"[{PROFILE}]\n"
                   f"aws_access_key_id = {key.access_key_id}\n"
                   f"aws_secret_access_key = {key.secret_access_key}\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)  # the rename itself survives a power loss
    finally:
        os.close(folder)
