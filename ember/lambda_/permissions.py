"""Resource policies: AddPermission, RemovePermission, GetPolicy (stored; enforced once auth lands)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ember.arns import FunctionRef
from ember.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.functions import FunctionOperations
from ember.models import Alias, FunctionConfig
from ember.services.base import RequestContext

MAX_UPDATE_ATTEMPTS = 8

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:[a-zA-Z0-9+=,.@_/-]+$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.(amazonaws\.com|amazon\.com)$")


class PermissionOperations:
    def __init__(self, backend: LambdaBackend, functions: FunctionOperations) -> None:
        self.backend = backend
        self.functions = functions

    async def _change_policy(self, ref: FunctionRef, expected_revision: str | None,
                             change: Callable[[tuple[dict[str, Any], ...]], tuple[dict[str, Any], ...]]) -> None:
        """Apply `change` to the statements of the function, version or alias `ref` names,
        atomically and honouring a RevisionId precondition."""
        if ref.qualifier is None:
            await self.functions.apply_update(
                ref.name, expected_revision,
                lambda f: f.revised(policy_statements=change(f.policy_statements), last_modified=f.last_modified))
            return
        for _ in range(MAX_UPDATE_ATTEMPTS):
            holder = await self._qualified_holder(ref)
            if expected_revision is not None and holder.revision_id != expected_revision:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            statements = change(holder.policy_statements)
            if isinstance(holder, Alias):
                if await self.backend.store.replace_alias(holder.revised(policy_statements=statements),
                                                          holder.revision_id):
                    return
            elif await self.backend.store.replace_version(holder.revised(policy_statements=statements),
                                                          holder.revision_id):
                return
        raise ResourceConflictException(f"The policy of {self.backend.arn(ref.name, ref.qualifier)} is being "
                                        "changed; try again")

    async def _qualified_holder(self, ref: FunctionRef) -> FunctionConfig | Alias:
        assert ref.qualifier is not None
        holder: FunctionConfig | Alias | None
        if ref.qualifier.isdigit():
            holder = await self.backend.store.get_version(ref.name, ref.qualifier)
        else:
            holder = await self.backend.store.get_alias(ref.name, ref.qualifier)
        if holder is None:
            raise self.backend.not_found(ref.name, ref.qualifier)
        return holder

    async def _statements(self, ref: FunctionRef) -> tuple[tuple[dict[str, Any], ...], str]:
        if ref.qualifier is None:
            function = await self.backend.get(ref)
            return function.policy_statements, function.revision_id
        holder = await self._qualified_holder(ref)
        return holder.policy_statements, holder.revision_id

    async def add_permission(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        if ref.qualifier == "$LATEST":
            raise InvalidParameterValueException("We currently do not support adding policies for $LATEST.")
        await self.backend.get(ref, show_qualifier=True)
        statement = self._statement(p, self.backend.arn(ref.name, ref.qualifier))

        def add(statements: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
            if any(s["Sid"] == p["StatementId"] for s in statements):
                raise ResourceConflictException(
                    f"The statement id ({p['StatementId']}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement."
                )
            return (*statements, statement)

        await self._change_policy(ref, p.get("RevisionId"), add)
        return {"Statement": json.dumps(statement)}

    def _statement(self, p: dict[str, Any], resource: str) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": p["StatementId"],
            "Effect": "Allow",
            "Principal": _principal(p["Principal"]),
            "Action": p["Action"],
            "Resource": resource,
        }
        conditions: dict[str, dict[str, str]] = {}
        if p.get("SourceAccount"):
            conditions.setdefault("StringEquals", {})["AWS:SourceAccount"] = p["SourceAccount"]
        if p.get("EventSourceToken"):
            conditions.setdefault("StringEquals", {})["lambda:EventSourceToken"] = p["EventSourceToken"]
        if p.get("PrincipalOrgID"):
            conditions.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = p["PrincipalOrgID"]
        if p.get("FunctionUrlAuthType"):
            conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = p["FunctionUrlAuthType"]
        if p.get("SourceArn"):
            conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = p["SourceArn"]
        if conditions:
            statement["Condition"] = conditions
        return statement

    async def remove_permission(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        if await self.backend.store.get_function(ref.name) is None:
            raise ResourceNotFoundException(f"No policy found for: {self.backend.arn(ref.name)}")
        sid = p["StatementId"]

        def remove(statements: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
            if not statements:
                raise ResourceNotFoundException("No policy is associated with the given resource.")
            kept = tuple(s for s in statements if s["Sid"] != sid)
            if len(kept) == len(statements):
                raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
            return kept

        await self._change_policy(ref, p.get("RevisionId"), remove)
        return {}

    async def get_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        if ref.qualifier == "$LATEST":
            ref = replace(ref, qualifier=None)
        statements, revision_id = await self._statements(ref)
        if not statements:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}
        return {"Policy": json.dumps(policy), "RevisionId": revision_id}


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.match(principal):
        return {"AWS": principal}
    if _SERVICE.match(principal):
        return {"Service": principal}
    raise InvalidParameterValueException(
        "The provided principal was invalid. Please check the principal and try again."
    )
