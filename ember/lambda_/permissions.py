"""Resource policies: AddPermission, RemovePermission, GetPolicy (stored; enforced once auth lands)."""

from __future__ import annotations

import json
import re
from typing import Any

from ember.edge.service import RequestContext
from ember.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.functions import FunctionOperations

_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:[a-zA-Z0-9+=,.@_/-]+$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.(amazonaws\.com|amazon\.com)$")


class PermissionOperations:
    def __init__(self, backend: LambdaBackend, functions: FunctionOperations) -> None:
        self.backend = backend
        self.functions = functions

    async def add_permission(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        if ref.qualifier == "$LATEST":
            raise InvalidParameterValueException("We currently do not support adding policies for $LATEST.")
        await self.backend.get(ref)
        statement = self._statement(p, self.backend.arn(ref.name, ref.qualifier))

        def add(function: Any) -> Any:
            if any(s["Sid"] == p["StatementId"] for s in function.policy_statements):
                raise ResourceConflictException(
                    f"The statement id ({p['StatementId']}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement."
                )
            return function.revised(policy_statements=(*function.policy_statements, statement),
                                    last_modified=function.last_modified)

        await self.functions.apply_update(ref.name, p.get("RevisionId"), add)
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
        function = await self.backend.store.get_function(ref.name)
        if function is None:
            raise ResourceNotFoundException(f"No policy found for: {self.backend.arn(ref.name)}")
        sid = p["StatementId"]

        def remove(current: Any) -> Any:
            if not current.policy_statements:
                raise ResourceNotFoundException("No policy is associated with the given resource.")
            kept = tuple(s for s in current.policy_statements if s["Sid"] != sid)
            if len(kept) == len(current.policy_statements):
                raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
            return current.revised(policy_statements=kept, last_modified=current.last_modified)

        await self.functions.apply_update(ref.name, p.get("RevisionId"), remove)
        return {}

    async def get_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        function = await self.backend.get(self.backend.resolve(p["FunctionName"], p.get("Qualifier")))
        if not function.policy_statements:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(function.policy_statements)}
        return {"Policy": json.dumps(policy), "RevisionId": function.revision_id}


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
