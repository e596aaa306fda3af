"""Policy documents: what IAM accepts, what it refuses and in which words, and size quotas."""

from __future__ import annotations

import json

import pytest

from ember.errors import LimitExceededException, MalformedPolicyDocumentException
from ember.iam.policy_document import Effect, PolicyKind, parse_policy
from ember.iam.principals import Caller, PrincipalMatch, parse_principal
from ember.iam.quotas import (
    InlineOwner,
    check_inline_policies_size,
    check_managed_policy_size,
    check_trust_policy_size,
    policy_size,
)

BUCKET = "arn:aws:s3:::example-bucket"
ALLOW = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET}


def doc(*statements: object, version: str | None = "2012-10-17", **top: object) -> str:
    document: dict[str, object] = {"Statement": list(statements) if len(statements) != 1 else statements[0]}
    if version is not None:
        document["Version"] = version
    document.update(top)
    return json.dumps(document)


def refused(text: str, kind: PolicyKind = PolicyKind.MANAGED) -> str:
    with pytest.raises(MalformedPolicyDocumentException) as caught:
        parse_policy(text, kind)
    assert caught.value.code == "MalformedPolicyDocument" and caught.value.status_code == 400
    return caught.value.message


SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"

IDENTITY_REFUSALS = [
    ("not json", SYNTAX),
    ("[]", SYNTAX),
    (json.dumps({"Version": "2012-10-17"}), SYNTAX),  # no Statement
    (doc(version="2013-10-17", Statement=ALLOW), SYNTAX),
    (doc(ALLOW, Extra="x"), SYNTAX),
    (doc({**ALLOW, "Extra": "x"}), SYNTAX),
    (doc(ALLOW, Id=["x"]), SYNTAX),
    (json.dumps({"Version": "2012-10-17", "Statement": []}), SYNTAX),
    (json.dumps({"Version": "2012-10-17", "Statement": ["x"]}), SYNTAX),
    (doc({**ALLOW, "Effect": "Maybe"}), SYNTAX),
    (doc({"Action": "s3:ListBucket", "Resource": BUCKET}), SYNTAX),  # no Effect
    (doc({**ALLOW, "Action": {}}), SYNTAX),
    (doc({**ALLOW, "Action": [[]]}), SYNTAX),
    (doc({**ALLOW, "Resource": {"a": BUCKET}}), SYNTAX),
    (doc({**ALLOW, "Resource": ["x", {}]}), SYNTAX),
    (doc({**ALLOW, "NotAction": "s3:GetObject"}), SYNTAX),  # Action and NotAction
    (doc({**ALLOW, "NotResource": "*"}), SYNTAX),
    (doc({**ALLOW, "Sid": {}}), SYNTAX),
    (doc({**ALLOW, "Condition": []}), SYNTAX),
    (doc({**ALLOW, "Condition": {"x": {"a": "1"}}}), SYNTAX),
    # managed policies are 2012-10-17
    (doc(ALLOW, version=None), "Policy document must be version 2012-10-17 or greater."),
    (doc(ALLOW, version="2008-10-17"), "Policy document must be version 2012-10-17 or greater."),
    # legacy parsing
    (doc({**ALLOW, "Effect": "allow"}), LEGACY),  # any case passes the grammar, not legacy parsing
    (doc({**ALLOW, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "tomorrow"}}}), LEGACY),
    (doc({**ALLOW, "Condition": {"DateLessThan": {"aws:CurrentTime": "2024-13-01"}}}), LEGACY),
    (doc({**ALLOW, "Resource": "arn:aws:s3::example-bucket"}), LEGACY),
    (doc({**ALLOW, "Resource": "arn:aws::::example-bucket"}), LEGACY),
    (doc({**ALLOW, "Resource": ["arn:aws::fdsasf"]}), LEGACY),
    # sids
    (doc({**ALLOW, "Sid": "a"}, {**ALLOW, "Sid": "a"}), "Statement IDs (SID) in a single policy must be unique."),
    # principals
    (doc({**ALLOW, "Principal": "*"}), "Policy document should not specify a principal."),
    (doc({**ALLOW, "NotPrincipal": {"AWS": "123456789012"}}), "Policy document should not specify a principal."),
    # actions, then resources
    (doc({"Effect": "Allow", "Resource": BUCKET}), "Policy statement must contain actions."),
    (doc({**ALLOW, "Action": []}), "Policy statement must contain actions."),
    (doc({"Effect": "Allow", "Action": "s3:ListBucket"}, {"Effect": "Deny", "Resource": "*"}),
     "Policy statement must contain actions."),  # every statement's actions before any resources
    (doc({"Effect": "Allow", "Action": "s3:ListBucket"}), "Policy statement must contain resources."),
    (doc({**ALLOW, "Resource": []}), "Policy statement must contain resources."),
    # resource ARNs
    (doc({**ALLOW, "Resource": "invalid resource"}), 'Resource invalid resource must be in ARN format or "*".'),
    (doc({**ALLOW, "Resource": ""}), 'Resource  must be in ARN format or "*".'),
    (doc({**ALLOW, "Resource": "a:bsdf"}), 'Partition "bsdf" is not valid for resource "arn:bsdf:*:*:*:*".'),
    (doc({**ALLOW, "Resource": "a:b:c:d:e:f:g:h"}), 'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
    (doc({**ALLOW, "Resource": "aws:s3:::example-bucket"}),
     'Partition "s3" is not valid for resource "arn:s3:::example-bucket:*".'),
    (doc({**ALLOW, "Resource": "arn:aws"}), "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc({**ALLOW, "Resource": "arn:aws:iam:us-east-1::user/x"}),
     "IAM resource arn:aws:iam:us-east-1::user/x cannot contain region information."),
    (doc({**ALLOW, "Resource": "arn:aws:s3:us-east-1::bucket"}),
     "Resource arn:aws:s3:us-east-1::bucket can not contain region information."),
    (doc({**ALLOW, "Resource": "arn:aws:iam:::bucket"}),
     'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, instance-profile/, '
     "mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/."),
    # action prefixes
    (doc({**ALLOW, "Action": "invalid"}), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc({"Effect": "Allow", "NotAction": "", "Resource": BUCKET}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc({**ALLOW, "Action": "s3:List:Bucket"}), "Actions/Condition can contain only one colon."),
    (doc({**ALLOW, "Action": "a a:ListBucket"}), "Vendor a a is not valid"),
]


@pytest.mark.parametrize(("text", "message"), IDENTITY_REFUSALS)
def test_identity_policy_refusals(text: str, message: str) -> None:
    assert refused(text) == message


def test_the_version_is_checked_before_legacy_parsing() -> None:
    message = refused(doc({**ALLOW, "Effect": "denY"}, version=None))
    assert message == "Policy document must be version 2012-10-17 or greater."


def test_a_resource_error_is_answered_after_missing_actions() -> None:
    text = doc({**ALLOW, "Resource": "bad"}, {"Effect": "Allow", "Resource": "*"})
    assert refused(text) == "Policy statement must contain actions."


@pytest.mark.parametrize("statement", [
    ALLOW,
    {**ALLOW, "Resource": [BUCKET, "*"]},
    {**ALLOW, "Action": "*"},
    {**ALLOW, "Action": "iam: asdf safdsf af "},  # IAM does not know actions, only their shape
    {**ALLOW, "Action": "fsx:ListBucket"},
    {**ALLOW, "Action": "s3-s.x:ListBucket"},
    {**ALLOW, "Resource": "arn:aws:iam:::user/example"},
    {**ALLOW, "Resource": "arn:aws:iam::*:user/${aws:username}"},
    {**ALLOW, "Resource": "arn:aws:fdsasf"},
    {**ALLOW, "Resource": "arn:aws:cloudwatch:us-east-1::x"},
    {**ALLOW, "Resource": "arn:*:s3:::bucket"},
    {**ALLOW, "Condition": {}},
    {**ALLOW, "Condition": {"a": {}}},  # an unknown operator with no keys
    {**ALLOW, "Condition": {"DateGreaterThan": {"a": []}}},
    {**ALLOW, "Condition": {"DateLessThanEquals": {"a": "2016-12-13T21:20:37.593194+00:00"}}},
    {**ALLOW, "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}}},
    {**ALLOW, "Condition": {"Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"s3:max-keys": 10}}},
    {"Effect": "Deny", "NotAction": "s3:ListBucket", "NotResource": "*"},
    {**ALLOW, "Sid": ""},
])
def test_identity_policies_iam_accepts(statement: dict[str, object]) -> None:
    policy = parse_policy(doc(statement), PolicyKind.MANAGED, name="arn:aws:iam::123456789012:policy/p")
    assert policy.name == "arn:aws:iam::123456789012:policy/p"
    assert policy.statements[0].effect in (Effect.ALLOW, Effect.DENY)


def test_statements_keep_their_order_and_sids() -> None:
    policy = parse_policy(doc({**ALLOW, "Sid": "First"}, {**ALLOW, "Effect": "Deny"}), PolicyKind.INLINE)
    assert [(s.index, s.sid, s.effect) for s in policy.statements] == [
        (0, "First", Effect.ALLOW), (1, None, Effect.DENY)]


def test_inline_policies_take_both_versions() -> None:
    assert parse_policy(doc(ALLOW, version=None), PolicyKind.INLINE).version == "2008-10-17"
    assert parse_policy(doc(ALLOW, version="2008-10-17"), PolicyKind.INLINE).has_variables is False
    assert parse_policy(doc(ALLOW), PolicyKind.INLINE).has_variables is True


LAMBDA_PERMISSION = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                     "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                     "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}


@pytest.mark.parametrize("statement", [
    LAMBDA_PERMISSION,
    {**LAMBDA_PERMISSION, "Principal": "*"},
    {**LAMBDA_PERMISSION, "Principal": {"AWS": "*"}},
    {**LAMBDA_PERMISSION, "Principal": {"AWS": ["123456789012", "arn:aws:iam::210987654321:root"]}},
    {**LAMBDA_PERMISSION, "Principal": {"AWS": "arn:aws:iam::123456789012:role/path/to/Role"}},
    {**LAMBDA_PERMISSION, "Principal": {"AWS": "arn:aws:iam::123456789012:user/alice"}},
    {**LAMBDA_PERMISSION, "Principal": {"AWS": "arn:aws:sts::123456789012:assumed-role/Role/session"}},
    {**LAMBDA_PERMISSION, "Principal": {"AWS": "AROAEXAMPLEID1234567"}},
    {**LAMBDA_PERMISSION, "Principal": {"Federated": "cognito-identity.amazonaws.com"}},
    {**{key: value for key, value in LAMBDA_PERMISSION.items() if key != "Principal"}, "Effect": "Deny",
     "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/alice"}},
])
def test_resource_policies_iam_accepts(statement: dict[str, object]) -> None:
    policy = parse_policy(doc(statement), PolicyKind.RESOURCE)
    assert policy.statements[0].principals is not None


@pytest.mark.parametrize(("statement", "message"), [
    ({key: value for key, value in LAMBDA_PERMISSION.items() if key != "Principal"},
     "Missing required field Principal"),
    ({**LAMBDA_PERMISSION, "Principal": {"AWS": "arn:aws:iam::123456789012:user/*"}},
     'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/*"'),
    ({**LAMBDA_PERMISSION, "Principal": {"AWS": "alice"}}, 'Invalid principal in policy: "AWS":"alice"'),
    ({**LAMBDA_PERMISSION, "Principal": {"AWS": "arn:aws:iam::123456789012:group/admins"}},
     'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:group/admins"'),
    ({**LAMBDA_PERMISSION, "Principal": {"Service": "not a service"}},
     'Invalid principal in policy: "SERVICE":"not a service"'),
    ({**LAMBDA_PERMISSION, "Principal": "someone"}, SYNTAX),
    ({**LAMBDA_PERMISSION, "Principal": {}}, SYNTAX),
    ({**LAMBDA_PERMISSION, "Principal": {"AWS": []}}, SYNTAX),
    ({**LAMBDA_PERMISSION, "Principal": {"AWS": 123456789012}}, SYNTAX),
    ({**LAMBDA_PERMISSION, "NotPrincipal": {"AWS": "123456789012"}}, SYNTAX),  # Principal and NotPrincipal
    ({**LAMBDA_PERMISSION, "Resource": []}, "Policy statement must contain resources."),
])
def test_resource_policy_refusals(statement: dict[str, object], message: str) -> None:
    assert refused(doc(statement), PolicyKind.RESOURCE) == message


TRUST = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(("statement", "message"), [
    ({**TRUST, "Resource": "*"}, "Has prohibited field Resource"),
    ({**TRUST, "NotResource": "*"}, "Has prohibited field NotResource"),
    ({key: value for key, value in TRUST.items() if key != "Principal"}, "Missing required field Principal"),
    ({**TRUST, "Action": "s3:GetObject"}, "AssumeRole policy may only specify STS AssumeRole actions."),
    ({**TRUST, "Principal": {"AWS": "arn:aws:iam::123456789012:role/*"}},
     'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/*"'),
])
def test_trust_policy_refusals(statement: dict[str, object], message: str) -> None:
    assert refused(doc(statement), PolicyKind.TRUST) == message


def test_trust_policies_iam_accepts() -> None:
    statements = [TRUST, {**TRUST, "Action": ["sts:AssumeRole", "sts:TagSession"]},
                  {**TRUST, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]
    policy = parse_policy(doc(*statements, version="2008-10-17"), PolicyKind.TRUST)
    assert all(statement.resources is None for statement in policy.statements)


@pytest.mark.parametrize(("element", "caller", "match", "excluded"), [
    ("*", "arn:aws:iam::123456789012:user/alice", PrincipalMatch.DIRECT, True),
    ({"AWS": "123456789012"}, "arn:aws:iam::123456789012:user/alice", PrincipalMatch.ACCOUNT, False),
    ({"AWS": "arn:aws:iam::123456789012:root"}, "arn:aws:sts::123456789012:assumed-role/R/s", PrincipalMatch.ACCOUNT,
     False),
    ({"AWS": "arn:aws:iam::123456789012:root"}, "arn:aws:iam::123456789012:root", PrincipalMatch.ACCOUNT, True),
    ({"AWS": "123456789012"}, "arn:aws:iam::210987654321:user/alice", PrincipalMatch.NONE, False),
    ({"AWS": "arn:aws:iam::123456789012:user/alice"}, "arn:aws:iam::123456789012:user/alice", PrincipalMatch.DIRECT,
     False),  # NotPrincipal must list the account too
    ({"AWS": ["arn:aws:iam::123456789012:user/alice", "123456789012"]}, "arn:aws:iam::123456789012:user/alice",
     PrincipalMatch.DIRECT, True),
    ({"AWS": "arn:aws:iam::123456789012:user/Alice"}, "arn:aws:iam::123456789012:user/alice", PrincipalMatch.NONE,
     False),  # user names are case-sensitive here
    ({"AWS": "arn:aws:iam::123456789012:role/Deploy"}, "arn:aws:sts::123456789012:assumed-role/Deploy/ci",
     PrincipalMatch.DIRECT, False),
    ({"AWS": "arn:aws:iam::123456789012:role/team/Deploy"}, "arn:aws:sts::123456789012:assumed-role/Deploy/ci",
     PrincipalMatch.DIRECT, False),  # a role's path is not in its sessions' ARNs
    ({"AWS": "arn:aws:iam::123456789012:role/Deploy"}, "arn:aws:sts::123456789012:assumed-role/Other/ci",
     PrincipalMatch.NONE, False),
    ({"AWS": "arn:aws:iam::210987654321:role/Deploy"}, "arn:aws:sts::123456789012:assumed-role/Deploy/ci",
     PrincipalMatch.NONE, False),
    ({"AWS": "arn:aws:sts::123456789012:assumed-role/Deploy/ci"}, "arn:aws:sts::123456789012:assumed-role/Deploy/ci",
     PrincipalMatch.DIRECT, False),
    ({"AWS": "arn:aws:sts::123456789012:assumed-role/Deploy/ci"}, "arn:aws:sts::123456789012:assumed-role/Deploy/cd",
     PrincipalMatch.NONE, False),
    ({"AWS": ["123456789012", "arn:aws:iam::123456789012:role/Deploy",
              "arn:aws:sts::123456789012:assumed-role/Deploy/ci"]},
     "arn:aws:sts::123456789012:assumed-role/Deploy/ci", PrincipalMatch.DIRECT, True),
    ({"AWS": "arn:aws:sts::123456789012:federated-user/bob"}, "arn:aws:sts::123456789012:federated-user/bob",
     PrincipalMatch.DIRECT, False),
    ({"Service": "s3.amazonaws.com"}, "arn:aws:iam::123456789012:user/alice", PrincipalMatch.NONE, False),
])
def test_principal_elements(element: object, caller: str, match: PrincipalMatch, excluded: bool) -> None:
    principals = parse_principal(element)
    assert principals.match(Caller.from_arn(caller)) is match
    assert principals.excludes(Caller.from_arn(caller)) is excluded


def test_service_and_federated_principals() -> None:
    s3 = Caller.service("s3.amazonaws.com")
    assert parse_principal({"Service": "s3.amazonaws.com"}).match(s3) is PrincipalMatch.DIRECT
    assert parse_principal({"Service": ["sns.amazonaws.com"]}).match(s3) is PrincipalMatch.NONE
    assert parse_principal({"AWS": "123456789012"}).match(s3) is PrincipalMatch.NONE
    google = Caller.web_identity("accounts.google.com")
    assert parse_principal({"Federated": "accounts.google.com"}).match(google) is PrincipalMatch.DIRECT
    assert parse_principal("*").match(Caller.anonymous()) is PrincipalMatch.DIRECT
    assert parse_principal({"AWS": "123456789012"}).match(Caller.anonymous()) is PrincipalMatch.NONE


def test_unique_ids_name_their_principal() -> None:
    caller = Caller.from_arn("arn:aws:sts::123456789012:assumed-role/Deploy/ci", user_id="AROAEXAMPLEID1234567:ci")
    assert parse_principal({"AWS": "AROAEXAMPLEID1234567"}).match(caller) is PrincipalMatch.DIRECT


@pytest.mark.parametrize("arn", ["arn:aws:iam::123456789012:role/Deploy", "arn:aws:s3:::bucket", "alice",
                                 "arn:aws:iam::123456789012:group/g"])
def test_callers_are_principals(arn: str) -> None:
    with pytest.raises(ValueError):
        Caller.from_arn(arn)


def test_callers() -> None:
    session = Caller.from_arn("arn:aws:sts::123456789012:assumed-role/Deploy/ci",
                              role_arn="arn:aws:iam::123456789012:role/team/Deploy")
    assert (session.account_id, session.principal_arn, session.username) == (
        "123456789012", "arn:aws:iam::123456789012:role/team/Deploy", None)
    assert Caller.from_arn("arn:aws:sts::123456789012:assumed-role/Deploy/ci").principal_arn == \
        "arn:aws:iam::123456789012:role/Deploy"
    alice = Caller.from_arn("arn:aws:iam::123456789012:user/engineering/alice")
    assert (alice.username, alice.principal_arn) == ("alice", "arn:aws:iam::123456789012:user/engineering/alice")


def padded(size: int) -> str:
    """A managed-policy-shaped document of exactly `size` non-white-space characters, plus white space."""
    base = doc({**ALLOW, "Sid": ""})
    filler = size - policy_size(base)
    assert filler >= 0
    return doc({**ALLOW, "Sid": "x" * filler}).replace(",", ",\n    ")


def test_policy_size_ignores_white_space() -> None:
    assert policy_size('{ "a" :\n\t"b c" }') == 10
    assert policy_size(padded(6144)) == 6144


def test_managed_policy_size() -> None:
    check_managed_policy_size(padded(6144))
    with pytest.raises(LimitExceededException) as caught:
        check_managed_policy_size(padded(6145))
    assert (caught.value.code, caught.value.status_code, caught.value.message) == (
        "LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144")


def test_trust_policy_size() -> None:
    check_trust_policy_size(padded(2048))
    with pytest.raises(LimitExceededException, match=r"^Cannot exceed quota for ACLSizePerRole: 2048$"):
        check_trust_policy_size(padded(2049))


@pytest.mark.parametrize(("owner", "limit"), [(InlineOwner.USER, 2048), (InlineOwner.ROLE, 10240),
                                              (InlineOwner.GROUP, 5120)])
def test_inline_policies_size_together(owner: InlineOwner, limit: int) -> None:
    half = padded(limit // 2)
    check_inline_policies_size(owner, "deploy", [half, half])
    check_inline_policies_size(owner, "deploy", [padded(limit)])
    with pytest.raises(LimitExceededException) as caught:
        check_inline_policies_size(owner, "deploy", [half, half, '{"x":1}'])
    assert caught.value.message == f"Maximum policy size of {limit} bytes exceeded for {owner.value} deploy"
