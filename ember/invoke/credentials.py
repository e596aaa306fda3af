"""The credentials an execution environment runs with: its function's execution role, as on Lambda.

Every environment is given AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for a
session of its function's role (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION`), issued when it
is started or specialised for the function. The invoke layer knows nothing of IAM's store: the
server hands it a `RoleCredentials` that issues them. An environment must never outlive its
credentials, so it is handed no invocation once they are close to their end (`retire_at_s`) and
retires as soon as it is idle; an invocation in progress is never cut.
"""

from __future__ import annotations

from typing import Protocol

from ember.iam.session_tokens import IssuedCredentials

#: how long an environment's credentials last: the longest session of a role Lambda gives
#: (AWS: up to 12 hours, while an environment lives)
CREDENTIALS_DURATION_S = 12 * 3600
#: an environment is handed no invocation once its credentials have less than this left, and
#: retires once idle: more than the longest invocation (a timeout of 900 s) plus its init, so
#: whatever runs in it ends with its credentials still valid
RETIRE_MARGIN_S = 30 * 60


class RoleCredentials(Protocol):
    """Issues a session of `role_arn` for the environments of `function_name`, lasting `duration_s`."""

    async def __call__(self, role_arn: str, function_name: str, duration_s: int) -> IssuedCredentials: ...


def credential_variables(credentials: IssuedCredentials) -> dict[str, str]:
    """The variables AWS's SDKs read the credentials from (reserved: a function cannot set them)."""
    return {
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_SESSION_TOKEN": credentials.session_token,
    }


def retire_at_s(credentials: IssuedCredentials) -> float:
    """The wall time after which an environment holding `credentials` takes no more invocations."""
    return float(credentials.expires_at_s - RETIRE_MARGIN_S)
