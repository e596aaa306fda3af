"""Execution roles: Lambda's own AssumeRole, for the role each function names.

Lambda assumes a function's role as the service principal `lambda.amazonaws.com`. In iam mode,
CreateFunction and UpdateFunctionConfiguration refuse a role Lambda could not assume (one IAM does
not hold, or whose trust policy does not let `lambda.amazonaws.com` call `sts:AssumeRole`), in
AWS's words (`check`). Every execution environment, in either auth mode, is given a session of its
function's role named after the function (`credentials`), from the same SessionTokens that check
every request, so the door accepts them and the role's policies decide what they may do.
"""

from __future__ import annotations

from ember.arns import parse_role_arn
from ember.clock import Clock
from ember.errors import InvalidParameterValueException, MalformedPolicyDocumentException
from ember.iam.access_keys import role_id_from_name
from ember.iam.evaluation import evaluate
from ember.iam.policy_document import PolicyKind, parse_policy
from ember.iam.principals import Caller
from ember.iam.request import AuthorizationRequest
from ember.iam.session_tokens import IssuedCredentials, SessionTokens
from ember.iam_store.base import IamStore, Role

#: the service principal Lambda assumes execution roles as
LAMBDA_SERVICE = "lambda.amazonaws.com"
#: Lambda's answer (InvalidParameterValueException, 400) to a role it cannot assume
CANNOT_ASSUME_MESSAGE = "The role defined for the function cannot be assumed by Lambda."

class ExecutionRoles:
    """Whether Lambda may assume a role, and the sessions of it that environments run as."""

    def __init__(self, iam: IamStore, sessions: SessionTokens, account_id: str, clock: Clock) -> None:
        self.iam = iam
        self.sessions = sessions
        self.account_id = account_id
        self.clock = clock

    async def check(self, role_arn: str) -> None:
        """InvalidParameterValueException, as Lambda words it, unless Lambda may assume `role_arn`:
        the role exists in this account and its trust policy allows lambda.amazonaws.com."""
        role = await self.role(role_arn)
        if role is None or not self.trusts_lambda(role):
            raise InvalidParameterValueException(CANNOT_ASSUME_MESSAGE)

    async def credentials(self, role_arn: str, function_name: str, duration_s: int) -> IssuedCredentials:
        """A session of `role_arn` named after `function_name`, lasting `duration_s`. A role IAM does
        not hold (open mode takes any ARN) is assumed as named, its id made from its name."""
        parsed = parse_role_arn(role_arn)
        account_id = parsed.account_id if parsed is not None else self.account_id
        role_name = parsed.name if parsed is not None else role_arn.rsplit("/", 1)[-1]
        role = await self.role(role_arn)
        role_id = role.role_id if role is not None else role_id_from_name(role_name)
        principal_arn = f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{function_name}"
        return self.sessions.issue(principal_arn, role.arn if role is not None else role_arn,
                                   f"{role_id}:{function_name}", duration_s)

    async def role(self, role_arn: str) -> Role | None:
        """The role `role_arn` names in this account's IAM (its path as given, its name in any case)."""
        parsed = parse_role_arn(role_arn)
        if parsed is None or parsed.account_id != self.account_id:
            return None
        role = await self.iam.get_role(parsed.name)
        return role if role is not None and role.path == parsed.path else None

    def trusts_lambda(self, role: Role) -> bool:
        """Whether the role's trust policy lets lambda.amazonaws.com call sts:AssumeRole on it."""
        try:
            trust = parse_policy(role.trust_policy, PolicyKind.TRUST)
        except MalformedPolicyDocumentException:
            return False  # IAM checked it when it was stored; a document it cannot read trusts no one
        request = AuthorizationRequest.build(Caller.service(LAMBDA_SERVICE), "sts:AssumeRole", role.arn,
                                             clock=self.clock)
        return evaluate(request, (), trust).allowed
