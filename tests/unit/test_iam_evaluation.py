"""Evaluating requests: explicit deny wins in any order, identity-based and resource-based allows
(same account, cross-account, services, anonymous), trust policies, conditions on the request's
context, policy variables, and AWS's access denied messages."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from ember.clock import FakeClock
from ember.iam.denial import denial_message
from ember.iam.evaluation import Decision, Outcome, PolicyType, StatementRef, evaluate
from ember.iam.policy_document import PolicyDocument, PolicyKind, parse_policy
from ember.iam.principals import Caller
from ember.iam.request import AuthorizationRequest

ACCOUNT, OTHER = "123456789012", "210987654321"
ALICE = Caller.from_arn(f"arn:aws:iam::{ACCOUNT}:user/alice", user_id="AIDAALICE0000000000")
MALLORY = Caller.from_arn(f"arn:aws:iam::{OTHER}:user/mallory")
SESSION = Caller.from_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci", user_id="AROADEPLOY000000000:ci")
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders"
ALL_FUNCTIONS = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"
NOW_S = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def statement(effect: str = "Allow", action: object = "lambda:*", resource: object = "*",
              **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


def policy(*statements: dict[str, Any], kind: PolicyKind = PolicyKind.MANAGED, name: str | None = None,
           version: str = "2012-10-17") -> PolicyDocument:
    return parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), kind, name=name)


def resource_policy(*statements: dict[str, Any], name: str | None = "function-policy") -> PolicyDocument:
    return policy(*statements, kind=PolicyKind.RESOURCE, name=name)


def request(caller: Caller = ALICE, action: str = "lambda:InvokeFunction", resource: str | None = FUNCTION,
            **options: Any) -> AuthorizationRequest:
    return AuthorizationRequest.build(caller, action, resource, now_s=options.pop("now_s", NOW_S), **options)


@pytest.mark.parametrize(("statements", "action", "resource", "outcome"), [
    ([statement()], "lambda:InvokeFunction", FUNCTION, Outcome.ALLOWED),
    ([statement(action="lambda:GetFunction")], "lambda:InvokeFunction", FUNCTION, Outcome.IMPLICIT_DENY),
    ([statement(resource=ALL_FUNCTIONS)], "lambda:InvokeFunction", FUNCTION, Outcome.ALLOWED),
    ([statement(resource=ALL_FUNCTIONS)], "lambda:InvokeFunction", FUNCTION.replace(ACCOUNT, OTHER),
     Outcome.IMPLICIT_DENY),
    ([statement(resource=FUNCTION)], "lambda:ListFunctions", None, Outcome.IMPLICIT_DENY),  # no resource: only "*"
    ([statement(resource="*")], "lambda:ListFunctions", None, Outcome.ALLOWED),
    ([statement(action="LAMBDA:invoke*")], "lambda:InvokeFunction", FUNCTION, Outcome.ALLOWED),
    ([statement("Deny")], "lambda:InvokeFunction", FUNCTION, Outcome.EXPLICIT_DENY),
    ([statement(), statement("Deny", action="lambda:Invoke*")], "lambda:InvokeFunction", FUNCTION,
     Outcome.EXPLICIT_DENY),
    ([statement(), statement("Deny", action="lambda:Delete*")], "lambda:InvokeFunction", FUNCTION, Outcome.ALLOWED),
    # NotAction / NotResource
    ([{"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}], "lambda:InvokeFunction", FUNCTION,
     Outcome.ALLOWED),
    ([{"Effect": "Allow", "NotAction": "lambda:Invoke*", "Resource": "*"}], "lambda:InvokeFunction", FUNCTION,
     Outcome.IMPLICIT_DENY),
    ([statement(), {"Effect": "Deny", "Action": "lambda:*", "NotResource": ALL_FUNCTIONS}], "lambda:InvokeFunction",
     FUNCTION, Outcome.ALLOWED),
    ([statement(), {"Effect": "Deny", "Action": "lambda:*", "NotResource": ALL_FUNCTIONS}], "lambda:InvokeFunction",
     FUNCTION.replace("us-east-1", "eu-west-1"), Outcome.EXPLICIT_DENY),
    ([], "lambda:InvokeFunction", FUNCTION, Outcome.IMPLICIT_DENY),
])
def test_identity_policies(statements: list[dict[str, Any]], action: str, resource: str | None,
                           outcome: Outcome) -> None:
    policies = [policy(*statements)] if statements else []
    assert evaluate(request(action=action, resource=resource), policies).outcome is outcome


def test_an_explicit_deny_wins_in_any_order() -> None:
    allow_all = policy(statement(action="*"), name="admin")
    allow_invoke = policy(statement(action="lambda:InvokeFunction", resource=FUNCTION), name="invoke")
    deny = policy(statement(action="lambda:Get*"), statement("Deny", action="lambda:InvokeFunction", Sid="NoInvoke"),
                  name="guard")
    for order in itertools.permutations([allow_all, allow_invoke, deny]):
        decision = evaluate(request(), order)
        assert decision.outcome is Outcome.EXPLICIT_DENY
        assert decision.statement == StatementRef(PolicyType.IDENTITY, "guard", 1, "NoInvoke")
    # a deny in the resource's policy wins over any identity-based allow, too
    resource_deny = resource_policy(statement("Deny", Principal="*"))
    for order in itertools.permutations([allow_all, allow_invoke]):
        assert evaluate(request(), order, resource_deny).policy_type is PolicyType.RESOURCE


def test_an_allow_names_the_statements_that_granted() -> None:
    decision = evaluate(request(), [policy(statement("Allow", action="s3:*")), policy(statement(Sid="Lambda"),
                                                                                        name="p2")])
    assert decision == Decision(Outcome.ALLOWED, (StatementRef(PolicyType.IDENTITY, "p2", 0, "Lambda"),))
    assert decision.allowed and not decision.explicit_deny


def grant(principal: object, **extra: Any) -> PolicyDocument:
    return resource_policy(statement(action="lambda:InvokeFunction", resource=FUNCTION, Principal=principal,
                                     Sid="Grant", **extra))


IDENTITY_ALLOWS = [policy(statement(action="lambda:InvokeFunction"))]


@pytest.mark.parametrize(("caller", "identity", "resource", "outcome", "blamed"), [
    # same account: either policy suffices when the resource policy names the caller itself
    (ALICE, [], grant({"AWS": ALICE.arn}), Outcome.ALLOWED, None),
    (ALICE, IDENTITY_ALLOWS, None, Outcome.ALLOWED, None),
    (ALICE, [], grant("*"), Outcome.ALLOWED, None),
    (SESSION, [], grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Deploy"}), Outcome.ALLOWED, None),
    (SESSION, [], grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Other"}), Outcome.IMPLICIT_DENY, PolicyType.IDENTITY),
    # naming the account delegates: the account's identity-based policies must allow
    (ALICE, [], grant({"AWS": ACCOUNT}), Outcome.IMPLICIT_DENY, PolicyType.IDENTITY),
    (ALICE, [], grant({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), Outcome.IMPLICIT_DENY, PolicyType.IDENTITY),
    (ALICE, IDENTITY_ALLOWS, grant({"AWS": ACCOUNT}), Outcome.ALLOWED, None),
    # cross-account: both sides must allow
    (MALLORY, [], grant({"AWS": MALLORY.arn}), Outcome.IMPLICIT_DENY, PolicyType.IDENTITY),
    (MALLORY, IDENTITY_ALLOWS, None, Outcome.IMPLICIT_DENY, PolicyType.RESOURCE),
    (MALLORY, IDENTITY_ALLOWS, grant({"AWS": ALICE.arn}), Outcome.IMPLICIT_DENY, PolicyType.RESOURCE),
    (MALLORY, IDENTITY_ALLOWS, grant({"AWS": MALLORY.arn}), Outcome.ALLOWED, None),
    (MALLORY, IDENTITY_ALLOWS, grant({"AWS": OTHER}), Outcome.ALLOWED, None),
    (MALLORY, IDENTITY_ALLOWS, grant("*"), Outcome.ALLOWED, None),
    (MALLORY, IDENTITY_ALLOWS, grant({"AWS": ACCOUNT}), Outcome.IMPLICIT_DENY, PolicyType.RESOURCE),
    # services and anonymous callers have only the resource's policy
    (Caller.service("s3.amazonaws.com"), [], grant({"Service": "s3.amazonaws.com"}), Outcome.ALLOWED, None),
    (Caller.service("sns.amazonaws.com"), [], grant({"Service": "s3.amazonaws.com"}), Outcome.IMPLICIT_DENY,
     PolicyType.RESOURCE),
    (Caller.anonymous(), [], grant("*"), Outcome.ALLOWED, None),
    (Caller.anonymous(), [], grant({"AWS": ACCOUNT}), Outcome.IMPLICIT_DENY, PolicyType.RESOURCE),
])
def test_resource_policies(caller: Caller, identity: list[PolicyDocument], resource: PolicyDocument | None,
                           outcome: Outcome, blamed: PolicyType | None) -> None:
    decision = evaluate(request(caller), identity, resource)
    assert (decision.outcome, decision.policy_type) == (outcome, blamed)


def test_a_resource_policy_for_another_action_or_resource_does_not_grant() -> None:
    other_action = resource_policy(statement(action="lambda:GetFunction", resource=FUNCTION, Principal="*"))
    other_function = resource_policy(statement(action="lambda:InvokeFunction", resource=FUNCTION + "2", Principal="*"))
    assert not evaluate(request(), [], other_action).allowed
    assert not evaluate(request(), [], other_function).allowed


def test_not_principal() -> None:
    deny_all_but_alice = resource_policy(
        statement(resource=FUNCTION, Principal="*"),
        {"Effect": "Deny", "Action": "lambda:*", "Resource": FUNCTION,
         "NotPrincipal": {"AWS": [ALICE.arn, ACCOUNT]}})
    assert evaluate(request(ALICE), [], deny_all_but_alice).allowed
    assert evaluate(request(SESSION), [], deny_all_but_alice).explicit_deny
    # listing the user but not the account still denies the user
    user_only = resource_policy(statement(resource=FUNCTION, Principal="*"),
                                {"Effect": "Deny", "Action": "lambda:*", "Resource": FUNCTION,
                                 "NotPrincipal": {"AWS": ALICE.arn}})
    assert evaluate(request(ALICE), [], user_only).explicit_deny


def test_a_service_calling_for_a_resource() -> None:
    permission = grant({"Service": "s3.amazonaws.com"},
                       Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"},
                                  "StringEquals": {"AWS:SourceAccount": ACCOUNT}})
    s3 = Caller.service("s3.amazonaws.com")
    assert evaluate(request(s3, source_arn="arn:aws:s3:::uploads", source_account=ACCOUNT), [], permission).allowed
    assert not evaluate(request(s3, source_arn="arn:aws:s3:::other", source_account=ACCOUNT), [], permission).allowed
    assert not evaluate(request(s3, source_arn="arn:aws:s3:::uploads", source_account=OTHER), [], permission).allowed
    assert not evaluate(request(s3), [], permission).allowed  # no source at all


ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
ASSUME = [policy(statement(action="sts:AssumeRole", resource=ROLE))]


def trust(principal: object) -> PolicyDocument:
    return policy({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}, kind=PolicyKind.TRUST,
                  name="Deploy")


@pytest.mark.parametrize(("caller", "identity", "trust_policy", "allowed", "blamed"), [
    (ALICE, ASSUME, trust({"AWS": ALICE.arn}), True, None),
    (ALICE, [], trust({"AWS": ALICE.arn}), True, None),  # same account, named directly
    (ALICE, [], trust({"AWS": ACCOUNT}), False, PolicyType.IDENTITY),  # named through the account
    (ALICE, ASSUME, trust({"AWS": ACCOUNT}), True, None),
    (ALICE, ASSUME, trust({"AWS": MALLORY.arn}), False, PolicyType.TRUST),  # an identity allow is not enough
    (ALICE, ASSUME, None, False, PolicyType.RESOURCE),
    (MALLORY, [policy(statement(action="sts:AssumeRole", resource=ROLE))], trust({"AWS": OTHER}), True, None),
    (MALLORY, [], trust({"AWS": MALLORY.arn}), False, PolicyType.IDENTITY),
    (Caller.service("lambda.amazonaws.com"), [], trust({"Service": "lambda.amazonaws.com"}), True, None),
])
def test_trust_policies(caller: Caller, identity: list[PolicyDocument], trust_policy: PolicyDocument | None,
                        allowed: bool, blamed: PolicyType | None) -> None:
    decision = evaluate(request(caller, "sts:AssumeRole", ROLE), identity, trust_policy,
                        resource_policy_required=True if trust_policy is None else None)
    assert (decision.allowed, decision.policy_type) == (allowed, blamed)


def conditional(condition: dict[str, Any], effect: str = "Allow") -> list[PolicyDocument]:
    return [policy(statement(effect, Condition=condition))]


@pytest.mark.parametrize(("condition", "options", "allowed"), [
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, {"region": "us-east-1"}, True),
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, {"region": "eu-west-1"}, False),
    ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, {}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"secure_transport": True}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"secure_transport": False}, False),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"source_ip": "10.1.2.3"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"source_ip": "192.0.2.1"}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2024-06-01T00:00:00Z"}}, {}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2024-06-01T00:00:00Z"}}, {}, False),
    ({"DateGreaterThan": {"aws:CurrentTime": "2024-06-01T00:00:00Z"}}, {"now_s": NOW_S + 200 * 86400}, True),
    ({"NumericLessThan": {"aws:EpochTime": str(int(NOW_S) + 1)}}, {}, True),
    ({"StringEquals": {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalType": "User",
                       "aws:username": "alice", "aws:userid": "AIDAALICE0000000000"}}, {}, True),
    ({"ArnEquals": {"aws:PrincipalArn": ALICE.arn}}, {}, True),
    ({"StringEquals": {"lambda:FunctionArn": FUNCTION}}, {"keys": {"lambda:FunctionArn": FUNCTION}}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}, {"keys": {"aws:TagKeys": ["team"]}}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}, {"keys": {"aws:TagKeys": ["owner"]}}, False),
])
def test_conditions_read_the_request(condition: dict[str, Any], options: dict[str, Any], allowed: bool) -> None:
    assert evaluate(request(**options), conditional(condition)).allowed is allowed


def test_the_time_comes_from_the_clock() -> None:
    clock = FakeClock(start_s=NOW_S)
    policies = conditional({"DateLessThan": {"aws:CurrentTime": "2024-01-01T01:00:00Z"}})
    before = AuthorizationRequest.build(ALICE, "lambda:InvokeFunction", FUNCTION, clock=clock)
    clock.advance(3600)
    after = AuthorizationRequest.build(ALICE, "lambda:InvokeFunction", FUNCTION, clock=clock)
    assert evaluate(before, policies).allowed and not evaluate(after, policies).allowed
    assert before.context["aws:currenttime"] == ("2024-01-01T00:00:00Z",)
    assert after.context["aws:epochtime"] == (str(int(NOW_S) + 3600),)
    with pytest.raises(ValueError):
        AuthorizationRequest.build(ALICE, "lambda:InvokeFunction", FUNCTION)
    with pytest.raises(ValueError):
        AuthorizationRequest.build(ALICE, "lambda:InvokeFunction", FUNCTION, clock=clock, now_s=NOW_S)


def test_the_request_context() -> None:
    built = request(SESSION, region="us-east-1", keys={"Lambda:FunctionArn": FUNCTION, "Custom:Flag": True})
    assert built.context["aws:principalarn"] == (f"arn:aws:iam::{ACCOUNT}:role/Deploy",)
    assert built.context["aws:principaltype"] == ("AssumedRole",)
    assert built.context["aws:userid"] == ("AROADEPLOY000000000:ci",)
    assert "aws:username" not in built.context  # only IAM users have one
    assert built.context["lambda:functionarn"] == (FUNCTION,)
    assert built.context["custom:flag"] == ("true",)
    assert built.owner_account == ACCOUNT
    assert built.context["aws:principalisawsservice"] == ("false",)
    s3 = request(Caller.service("s3.amazonaws.com"))
    assert s3.context["aws:principalservicename"] == ("s3.amazonaws.com",)
    assert "aws:principalarn" not in s3.context and s3.owner_account == ACCOUNT
    assert request(resource="arn:aws:s3:::bucket").owner_account == ACCOUNT  # no account in the ARN: the caller's
    assert request(resource_account=OTHER).owner_account == OTHER


def test_policy_variables() -> None:
    own_functions = [policy(statement(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}-*"))]
    assert evaluate(request(resource=FUNCTION.replace("orders", "alice-orders")), own_functions).allowed
    assert not evaluate(request(resource=FUNCTION.replace("orders", "bob-orders")), own_functions).allowed
    # a role session has no aws:username: the resource cannot match
    assert not evaluate(request(SESSION, resource=FUNCTION.replace("orders", "-orders")), own_functions).allowed
    # in a 2008-10-17 policy the variable is literal text
    old = [policy(statement(resource=f"arn:aws:lambda:*:{ACCOUNT}:function:${{aws:username}}-*"),
                  kind=PolicyKind.INLINE, version="2008-10-17")]
    assert not evaluate(request(resource=FUNCTION.replace("orders", "alice-orders")), old).allowed
    assert evaluate(request(resource=FUNCTION.replace("orders", "${aws:username}-orders")), old).allowed


def test_a_variable_without_a_value_makes_its_statement_not_apply() -> None:
    deny_others = policy(statement(), statement("Deny", Condition={"StringNotEquals": {
        "aws:PrincipalTag/team": "${aws:username}"}}))
    assert evaluate(request(SESSION, keys={"aws:PrincipalTag/team": "x"}), [deny_others]).allowed
    assert evaluate(request(ALICE, keys={"aws:PrincipalTag/team": "bob"}), [deny_others]).explicit_deny
    assert evaluate(request(ALICE, keys={"aws:PrincipalTag/team": "alice"}), [deny_others]).allowed


@pytest.mark.parametrize(("caller", "identity", "resource_doc", "action", "resource", "message"), [
    (ALICE, [], None, "lambda:ListFunctions", ALL_FUNCTIONS,
     f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: lambda:ListFunctions on resource: "
     f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:* because no identity-based policy allows the "
     "lambda:ListFunctions action"),
    (ALICE, [policy(statement(), statement("Deny", action="lambda:List*"))], None, "lambda:ListFunctions",
     ALL_FUNCTIONS,
     f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: lambda:ListFunctions on resource: "
     f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:* with an explicit deny in an identity-based policy"),
    (ALICE, [], None, "sts:GetSessionToken", None,
     f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: sts:GetSessionToken because no "
     "identity-based policy allows the sts:GetSessionToken action"),
    (MALLORY, IDENTITY_ALLOWS, None, "lambda:InvokeFunction", FUNCTION,
     f"User: arn:aws:iam::{OTHER}:user/mallory is not authorized to perform: lambda:InvokeFunction on resource: "
     f"{FUNCTION} because no resource-based policy allows the lambda:InvokeFunction action"),
    (SESSION, IDENTITY_ALLOWS, resource_policy(statement("Deny", Principal="*")), "lambda:InvokeFunction", FUNCTION,
     f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci is not authorized to perform: lambda:InvokeFunction on "
     f"resource: {FUNCTION} with an explicit deny in a resource-based policy"),
    (ALICE, ASSUME, trust({"AWS": MALLORY.arn}), "sts:AssumeRole", ROLE,
     f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: sts:AssumeRole on resource: {ROLE} "
     "because no role trust policy allows the sts:AssumeRole action"),
    (ALICE, ASSUME, policy({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}, kind=PolicyKind.TRUST),
     "sts:AssumeRole", ROLE,
     f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: sts:AssumeRole on resource: {ROLE} "
     "with an explicit deny in the role trust policy"),
    (Caller.anonymous(), [], None, "lambda:InvokeFunction", FUNCTION,
     f"User: anonymous is not authorized to perform: lambda:InvokeFunction on resource: {FUNCTION} because no "
     "resource-based policy allows the lambda:InvokeFunction action"),
])
def test_denial_messages(caller: Caller, identity: list[PolicyDocument], resource_doc: PolicyDocument | None,
                         action: str, resource: str | None, message: str) -> None:
    denied = request(caller, action, resource)
    decision = evaluate(denied, identity, resource_doc)
    assert denial_message(denied, decision) == message


def test_the_older_denial_message_and_allowed_requests() -> None:
    denied = request(action="lambda:GetFunction")
    assert denial_message(denied, evaluate(denied), with_reason=False) == (
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: lambda:GetFunction on resource: "
        f"{FUNCTION}")
    assert denial_message(denied, evaluate(denied)).endswith("because no identity-based policy allows the "
                                                             "lambda:GetFunction action")
    with pytest.raises(ValueError):
        denial_message(denied, evaluate(denied, IDENTITY_ALLOWS + [policy(statement())]))


def typical_policies() -> list[PolicyDocument]:
    """Ten policies as an account might attach them: a few statements each, wildcards, conditions,
    a variable, a deny that does not apply."""
    services = ["ssm", "dynamodb", "sqs", "sns", "logs", "cloudwatch", "events", "kinesis", "states"]
    policies = [policy(
        statement(action=[f"{service}:Get*", f"{service}:List*", f"{service}:Describe*"],
                  resource=f"arn:aws:{service}:*:{ACCOUNT}:*"),
        statement(action=f"{service}:Put*", resource=f"arn:aws:{service}:us-east-1:{ACCOUNT}:${{aws:username}}-*",
                  Condition={"Bool": {"aws:SecureTransport": "true"}}),
        statement("Deny", action=f"{service}:Delete*", resource="*",
                  Condition={"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}}),
        name=f"{service}-access") for service in services]
    policies.append(policy(
        statement(action=["lambda:InvokeFunction", "lambda:GetFunction*"], resource=ALL_FUNCTIONS,
                  Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"},
                             "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                             "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
        name="lambda-invoke"))
    return policies


def test_a_typical_request_against_ten_policies_is_cheap_enough_for_every_request() -> None:
    """No timing assertion: this measures, and says the number (pytest -s), so a slowdown shows."""
    policies = typical_policies()
    clock = FakeClock(start_s=NOW_S)
    runs = 2000
    started = time.perf_counter()
    for _ in range(runs):
        built = AuthorizationRequest.build(ALICE, "lambda:InvokeFunction", FUNCTION, clock=clock, region="us-east-1",
                                           source_ip="10.1.2.3", secure_transport=True)
        decision = evaluate(built, policies)
    per_request_us = (time.perf_counter() - started) / runs * 1e6
    assert decision.allowed and decision.statement == StatementRef(PolicyType.IDENTITY, "lambda-invoke", 0, None)
    statements = sum(len(policy.statements) for policy in policies)
    print(f"\nbuild + evaluate, {len(policies)} policies, {statements} statements: {per_request_us:.1f} µs per request")
