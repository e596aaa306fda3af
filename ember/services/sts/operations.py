"""GetCallerIdentity, AssumeRole and GetSessionToken.

Whether the caller may assume a role is decided before the handler runs, as for every operation
(the role's trust policy is the resource policy of `sts:AssumeRole`); the handlers here check what
only STS checks (durations, role chaining, session credentials) and issue the credentials.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ember.arns import parse_role_arn
from ember.errors import AccessDeniedError, ValidationError
from ember.iam.access_keys import role_id_from_name
from ember.iam.policy_document import PolicyKind, parse_policy
from ember.iam.session_tokens import IssuedCredentials, SessionTokens
from ember.iam_store.base import IamStore
from ember.services.base import Caller, CallerKind, RequestContext

#: AssumeRole's default session and the longest a role chain may ask for (AWS: one hour)
DEFAULT_ROLE_SESSION_S = 3600
ROLE_CHAINING_MAX_S = 3600
#: GetSessionToken's default, and the longest the root user may ask for
DEFAULT_USER_SESSION_S = 43_200
ROOT_SESSION_MAX_S = 3600
#: AWS's packed policy limit, as a percentage: the share of it a session policy takes
PACKED_POLICY_CHARS = 2048


def _caller(ctx: RequestContext) -> Caller:
    if ctx.caller is None:
        raise AccessDeniedError("The request has no caller: sign it with AWS credentials.")
    return ctx.caller


def _credentials(issued: IssuedCredentials) -> dict[str, Any]:
    return {"AccessKeyId": issued.access_key_id, "SecretAccessKey": issued.secret_access_key,
            "SessionToken": issued.session_token,
            "Expiration": dt.datetime.fromtimestamp(issued.expires_at_s, dt.UTC)}


class StsOperations:
    """Bound by name to the STS model's operations."""

    def __init__(self, iam: IamStore, sessions: SessionTokens) -> None:
        self.iam = iam
        self.sessions = sessions

    async def get_caller_identity(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        caller = _caller(ctx)
        return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}

    async def assume_role(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        caller = _caller(ctx)
        role_arn, session_name = p["RoleArn"], p["RoleSessionName"]
        parsed = parse_role_arn(role_arn)
        if parsed is None:
            raise ValidationError(f"{role_arn} is invalid")
        account_id, role_name = parsed.account_id, parsed.name
        role = await self.iam.get_role(role_name) if account_id == ctx.account_id else None
        max_s = role.max_session_duration_s if role is not None else DEFAULT_ROLE_SESSION_S
        duration_s = int(p.get("DurationSeconds", DEFAULT_ROLE_SESSION_S))
        if caller.kind is CallerKind.ROLE_SESSION and duration_s > ROLE_CHAINING_MAX_S:
            raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
                                  "by role chaining.")
        if duration_s > max_s:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        session_policy = p.get("Policy")
        if session_policy is not None:
            parse_policy(session_policy, PolicyKind.INLINE)
        # In open mode a role Ember does not hold is assumed as named (its id made from its name);
        # in iam mode the trust-policy check has refused it already.
        role_id = role.role_id if role is not None else role_id_from_name(role_name)
        assumed_arn = f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
        issued = self.sessions.issue(assumed_arn, role.arn if role is not None else role_arn,
                                     f"{role_id}:{session_name}", duration_s, session_policy)
        result: dict[str, Any] = {"Credentials": _credentials(issued),
                                  "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session_name}", "Arn": assumed_arn}}
        if session_policy is not None:
            result["PackedPolicySize"] = math.ceil(100 * len(session_policy) / PACKED_POLICY_CHARS)
        return result

    async def get_session_token(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        caller = _caller(ctx)
        if caller.is_session:
            raise AccessDeniedError("Cannot call GetSessionToken with session credentials")
        duration_s = int(p.get("DurationSeconds", DEFAULT_USER_SESSION_S))
        if caller.kind is CallerKind.ROOT:
            duration_s = min(duration_s, ROOT_SESSION_MAX_S)
        issued = self.sessions.issue(caller.arn, caller.arn, caller.user_id, duration_s)
        return {"Credentials": _credentials(issued)}
