"""New access keys in AWS's own forms: what IAM's CreateAccessKey, STS's temporary credentials and
the account's root credentials hand out."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from dataclasses import dataclass, field

#: an access key id is a 4-letter prefix and 16 characters of the RFC 4648 base32 alphabet
ACCESS_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"
ACCESS_KEY_ID_BODY_LENGTH = 16
#: AKIA: a long-term key (an IAM user's or the root user's); ASIA: temporary credentials from STS
LONG_TERM_PREFIX = "AKIA"
TEMPORARY_PREFIX = "ASIA"
#: AROA: a role's unique id (21 characters, as IAM's)
ROLE_ID_PREFIX = "AROA"
ROLE_ID_BODY_LENGTH = 17
#: a secret access key is 40 characters of base64's alphabet
SECRET_ACCESS_KEY_ALPHABET = string.ascii_letters + string.digits + "+/"
SECRET_ACCESS_KEY_LENGTH = 40


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)


def new_access_key_id(prefix: str = LONG_TERM_PREFIX) -> str:
    """`prefix` (AKIA or ASIA) and 16 random base32 characters, from `secrets`."""
    return prefix + "".join(secrets.choice(ACCESS_KEY_ID_ALPHABET) for _ in range(ACCESS_KEY_ID_BODY_LENGTH))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(SECRET_ACCESS_KEY_ALPHABET) for _ in range(SECRET_ACCESS_KEY_LENGTH))


def new_long_term_key() -> AccessKey:
    """An AKIA key: an IAM user's, or the account root's."""
    return AccessKey(new_access_key_id(LONG_TERM_PREFIX), new_secret_access_key())


def new_temporary_key() -> AccessKey:
    """An ASIA key, for temporary credentials (the session token is STS's to add)."""
    return AccessKey(new_access_key_id(TEMPORARY_PREFIX), new_secret_access_key())


def is_temporary(access_key_id: str) -> bool:
    return access_key_id.startswith(TEMPORARY_PREFIX)


def role_id_from_name(role_name: str) -> str:
    """A stable AROA id for a role IAM's store does not hold (open mode names any role): made from
    its name, whatever its case, so every session of that name gets the same one."""
    digest = hashlib.sha256(role_name.lower().encode()).digest()
    return ROLE_ID_PREFIX + base64.b32encode(digest).decode()[:ROLE_ID_BODY_LENGTH]
