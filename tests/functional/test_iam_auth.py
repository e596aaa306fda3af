"""A server in iam mode: every request signed with a key Ember knows, and allowed by IAM policies,
through boto3 and the aws CLI with real signatures."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import (
    DEFAULT_RUNTIME,
    LAMBDA_TRUST,
    ROOT_KEY_ID,
    ROOT_SECRET,
    VENV_BIN,
    EmberServer,
    execution_role,
    free_port,
    functions_on,
    iam_mode_server,
    invoke_json,
    make_zip,
)

ACCOUNT = "000000000000"
ALLOW_LAMBDA_LIST = {"Version": "2012-10-17",
                     "Statement": [{"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    ember = iam_mode_server(tmp_path_factory.mktemp("iam") / "data")
    yield ember
    ember.shut_down()


def client(ember: EmberServer, service: str, key_id: str = ROOT_KEY_ID, secret: str = ROOT_SECRET,
           token: str | None = None):
    return ember.client(service, key_id, secret, token)


def refusal(call) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def new_user(ember: EmberServer, name: str, policy: dict | None = None) -> tuple[str, str]:
    iam = client(ember, "iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


class TestSignatures:
    def test_unsigned_unknown_and_wrongly_signed_requests_are_refused_as_aws_refuses_them(
            self, iam_server: EmberServer) -> None:
        http = urllib3.PoolManager()
        unsigned = http.request("GET", f"{iam_server.url}/2015-03-31/functions/")
        assert unsigned.status == 403
        assert unsigned.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
        assert refusal(client(iam_server, "lambda", "AKIAUNKNOWNUNKNOWN00", "x" * 40).list_functions) == (
            "UnrecognizedClientException", "The security token included in the request is invalid.", 403)
        code, message, status = refusal(client(iam_server, "lambda", ROOT_KEY_ID, "w" * 40).list_functions)
        assert (code, status) == ("InvalidSignatureException", 403)
        assert message.startswith("The request signature we calculated does not match the signature you provided.")
        code, _, status = refusal(client(iam_server, "sts", "AKIAUNKNOWNUNKNOWN00", "x" * 40).get_caller_identity)
        assert (code, status) == ("InvalidClientTokenId", 403)
        code, _, status = refusal(client(iam_server, "iam", ROOT_KEY_ID, "w" * 40).list_users)
        assert (code, status) == ("SignatureDoesNotMatch", 403)
        assert "Traceback" not in iam_server.log()

    def test_a_request_signed_twenty_minutes_ago_has_expired(self, iam_server: EmberServer) -> None:
        then = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
        with mock.patch("botocore.auth.get_current_datetime", return_value=then):  # the client's clock, not Ember's
            code, message, status = refusal(client(iam_server, "lambda").list_functions)
        assert (code, status) == ("InvalidSignatureException", 403)
        assert message.startswith("Signature expired: ")

    def test_the_root_key_works_from_the_aws_cli_too(self, iam_server: EmberServer, tmp_path: Path) -> None:
        credentials = tmp_path / "credentials"
        credentials.write_text(f"[ember]\naws_access_key_id = {ROOT_KEY_ID}\naws_secret_access_key = {ROOT_SECRET}\n")
        env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": "/dev/null",
               "AWS_DEFAULT_REGION": "us-east-1"}
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(variable, None)
        done = subprocess.run([str(VENV_BIN / "aws"), "--endpoint-url", iam_server.url, "--profile", "ember",
                               "sts", "get-caller-identity"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


class TestPolicies:
    def test_a_user_without_policies_is_denied_in_aws_words(self, iam_server: EmberServer) -> None:
        key = new_user(iam_server, "nobody")
        assert client(iam_server, "sts", *key).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/nobody"
        assert refusal(client(iam_server, "lambda", *key).list_functions) == (
            "AccessDeniedException",
            f"User: arn:aws:iam::{ACCOUNT}:user/nobody is not authorized to perform: lambda:ListFunctions on "
            "resource: * because no identity-based policy allows the lambda:ListFunctions action", 403)
        code, message, status = refusal(client(iam_server, "iam", *key).list_users)
        assert (code, status) == ("AccessDenied", 403)
        assert "iam:ListUsers" in message

    def test_allow_then_explicit_deny_managed_and_group_policies(self, iam_server: EmberServer) -> None:
        iam = client(iam_server, "iam")
        key = new_user(iam_server, "carol", ALLOW_LAMBDA_LIST)
        lam = client(iam_server, "lambda", *key)
        lam.list_functions()
        deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "lambda:ListFunctions",
                                                        "Resource": "*"}]}
        arn = iam.create_policy(PolicyName="no-listing", PolicyDocument=json.dumps(deny))["Policy"]["Arn"]
        iam.create_group(GroupName="auditors")
        iam.attach_group_policy(GroupName="auditors", PolicyArn=arn)
        iam.add_user_to_group(GroupName="auditors", UserName="carol")
        code, message, _ = refusal(lam.list_functions)
        assert code == "AccessDeniedException" and message.endswith("with an explicit deny in an identity-based policy")
        lam.list_layers()  # still allowed: the deny names ListFunctions alone
        iam.remove_user_from_group(GroupName="auditors", UserName="carol")
        lam.list_functions()
        iam.attach_user_policy(UserName="carol", PolicyArn=arn)
        assert refusal(lam.list_functions)[0] == "AccessDeniedException"
        iam.detach_user_policy(UserName="carol", PolicyArn=arn)
        lam.list_functions()

    def test_resource_wildcards_and_conditions(self, iam_server: EmberServer, make_zip_function) -> None:
        make_zip_function("reports-daily")
        make_zip_function("billing-daily")
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:GetFunction*",
            "Resource": f"arn:aws:lambda:*:{ACCOUNT}:function:reports-*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]}
        lam = client(iam_server, "lambda", *new_user(iam_server, "dave", policy))
        assert lam.get_function_configuration(FunctionName="reports-daily")["FunctionName"] == "reports-daily"
        code, message, _ = refusal(lambda: lam.get_function_configuration(FunctionName="billing-daily"))
        assert code == "AccessDeniedException"
        assert f"on resource: arn:aws:lambda:us-east-1:{ACCOUNT}:function:billing-daily" in message

    def test_bad_policy_documents_get_iams_errors(self, iam_server: EmberServer) -> None:
        iam = client(iam_server, "iam")
        iam.create_user(UserName="erin")
        code, _, status = refusal(lambda: iam.put_user_policy(UserName="erin", PolicyName="p", PolicyDocument="{nope"))
        assert (code, status) == ("MalformedPolicyDocument", 400)
        big = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": f"lambda:GetFunction{n}", "Resource": "*"} for n in range(80)]}
        code, message, status = refusal(lambda: iam.put_user_policy(UserName="erin", PolicyName="p",
                                                                     PolicyDocument=json.dumps(big)))
        assert (code, status) == ("LimitExceeded", 409) and "2048" in message
        code, _, _ = refusal(lambda: iam.get_user(UserName="nobody-at-all"))
        assert code == "NoSuchEntity"
        vendorless = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambdaInvoke",
                                                              "Resource": "*"}]}
        assert refusal(lambda: iam.put_user_policy(UserName="erin", PolicyName="p",
                                                   PolicyDocument=json.dumps(vendorless))) == (
            "MalformedPolicyDocument", "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            400)
        # An action AWS does not have is accepted, as IAM accepts it, and grants nothing.
        unknown = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:ListEverything",
                                                           "Resource": "*"}]}
        iam.put_user_policy(UserName="erin", PolicyName="p", PolicyDocument=json.dumps(unknown))


class TestSessions:
    def test_an_assumed_role_acts_with_the_roles_policies(self, iam_server: EmberServer) -> None:
        iam = client(iam_server, "iam")
        alice = new_user(iam_server, "alice")
        bob = new_user(iam_server, "bob")
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
             "Action": "sts:AssumeRole"}]}
        role_arn = iam.create_role(RoleName="lister", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="lister", PolicyName="list", PolicyDocument=json.dumps(ALLOW_LAMBDA_LIST))
        assumed = client(iam_server, "sts", *alice).assume_role(RoleArn=role_arn, RoleSessionName="build-1",
                                                                DurationSeconds=900)
        credentials = assumed["Credentials"]
        assert credentials["AccessKeyId"].startswith("ASIA")
        assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/lister/build-1"
        session = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
        identity = client(iam_server, "sts", *session).get_caller_identity()
        assert identity["Arn"] == assumed["AssumedRoleUser"]["Arn"]
        client(iam_server, "lambda", *session).list_functions()
        code, message, _ = refusal(client(iam_server, "lambda", *session).get_account_settings)
        assert code == "AccessDeniedException" and "assumed-role/lister/build-1" in message
        # bob is not in the trust policy
        code, message, _ = refusal(lambda: client(iam_server, "sts", *bob).assume_role(RoleArn=role_arn,
                                                                                       RoleSessionName="bobs"))
        assert code == "AccessDenied" and "sts:AssumeRole" in message
        # a session policy narrows the session
        narrowed = client(iam_server, "sts", *alice).assume_role(
            RoleArn=role_arn, RoleSessionName="narrow", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "lambda:ListLayers", "Resource": "*"}]}))["Credentials"]
        narrow = client(iam_server, "lambda", narrowed["AccessKeyId"], narrowed["SecretAccessKey"],
                        narrowed["SessionToken"])
        narrow.list_layers()
        assert refusal(narrow.list_functions)[0] == "AccessDeniedException"

    def test_tampered_and_borrowed_session_tokens_are_refused(self, iam_server: EmberServer) -> None:
        issued = client(iam_server, "sts").get_session_token(DurationSeconds=900)["Credentials"]
        key_id, secret, token = issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
        client(iam_server, "lambda", key_id, secret, token).list_functions()  # the root's session: allowed
        tampered = token[:-8] + ("A" * 8 if not token.endswith("A" * 8) else "B" * 8)
        assert refusal(client(iam_server, "lambda", key_id, secret, tampered).list_functions)[0] == \
            "UnrecognizedClientException"
        other = client(iam_server, "sts").get_session_token(DurationSeconds=900)["Credentials"]
        assert refusal(client(iam_server, "sts", key_id, secret, other["SessionToken"]).get_caller_identity)[0] == \
            "InvalidClientTokenId"
        assert refusal(client(iam_server, "lambda", key_id, secret).list_functions)[0] == \
            "UnrecognizedClientException"  # a temporary key without its token
        code, message, _ = refusal(client(iam_server, "sts", key_id, secret, token).get_session_token)
        assert code == "AccessDenied" and "session credentials" in message


class TestResourcePolicies:
    def test_add_permission_grants_invoke_and_remove_permission_takes_it_back(
            self, iam_server: EmberServer, make_zip_function) -> None:
        name = make_zip_function("shared-fn")
        frank = new_user(iam_server, "frank")
        lam = client(iam_server, "lambda")
        as_frank = client(iam_server, "lambda", *frank)
        assert refusal(lambda: as_frank.invoke(FunctionName=name))[0] == "AccessDeniedException"
        lam.add_permission(FunctionName=name, StatementId="frank", Action="lambda:InvokeFunction",
                           Principal=f"arn:aws:iam::{ACCOUNT}:user/frank")
        assert invoke_json(as_frank, name)[1] == {"ok": True}
        assert refusal(lambda: as_frank.get_function(FunctionName=name))[0] == "AccessDeniedException"
        lam.remove_permission(FunctionName=name, StatementId="frank")
        assert refusal(lambda: as_frank.invoke(FunctionName=name))[0] == "AccessDeniedException"

    def test_creating_a_function_needs_pass_role(self, iam_server: EmberServer) -> None:
        iam = client(iam_server, "iam")
        role_arn = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
        creator = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:CreateFunction",
                                                            "Resource": "*"}]}
        lam = client(iam_server, "lambda", *new_user(iam_server, "grace", creator))
        package = make_zip({"index.py": "def handler(event, context):\n    return 1\n"})

        def create():
            return lam.create_function(FunctionName="graces", Runtime=DEFAULT_RUNTIME, Role=role_arn,
                                       Handler="index.handler", Code={"ZipFile": package})

        code, message, _ = refusal(create)
        assert code == "AccessDeniedException" and f"iam:PassRole on resource: {role_arn}" in message
        iam.put_user_policy(UserName="grace", PolicyName="pass", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole",
                                                     "Resource": role_arn}]}))
        assert create()["FunctionName"] == "graces"


def lambda_role(ember: EmberServer, name: str = "fn-exec") -> str:
    """The ARN of a role Lambda may assume (made on first use): iam mode refuses any other."""
    return execution_role(client(ember, "iam"), name)


@pytest.fixture
def make_zip_function(iam_server: EmberServer):
    """make(name): a function answering {"ok": true}, with a role Lambda may assume; deleted afterwards."""
    with functions_on(client(iam_server, "lambda"), role=lambda_role(iam_server)) as make:
        yield lambda name: make("def handler(event, context):\n    return {'ok': True}\n", name=name)


def test_open_auth_on_a_reachable_address_refuses_to_start_unless_told(tmp_path: Path) -> None:
    port = free_port()
    refused = subprocess.run([str(VENV_BIN / "ember"), "serve", "--host", "0.0.0.0", "--port", str(port),
                              "--auth", "open", "--data-dir", str(tmp_path / "data")],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "--auth is open on the non-loopback address 0.0.0.0" in refused.stderr
    ember = EmberServer(tmp_path / "data", port=port, extra_args=["--host", "0.0.0.0", "--auth", "open",
                                                                  "--insecure-open-auth", "--sandbox", "plain"])
    ember.start()
    try:
        health = json.loads(urllib3.PoolManager().request("GET", f"{ember.url}/_ember/health").data)
        assert health["auth"]["mode"] == "open" and health["auth"]["warning"].startswith("INSECURE")
        assert "INSECURE: --auth open on 0.0.0.0" in ember.log()
    finally:
        ember.shut_down()


def test_open_mode_accepts_any_credentials_and_names_known_ones(server: EmberServer) -> None:
    sts = server.client("sts")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    iam = server.client("iam")
    iam.create_user(UserName="open-mode-user")
    key = iam.create_access_key(UserName="open-mode-user")["AccessKey"]
    as_user = client(server, "sts", key["AccessKeyId"], "not-even-the-right-secret")
    assert as_user.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/open-mode-user"
    server.lambda_client().list_functions()  # anything goes, as before


class TestIntrospection:
    def test_get_user_without_a_name_is_the_callers_own(self, iam_server: EmberServer) -> None:
        own = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:GetUser", "iam:*AccessKey*"],
                                                       "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"}]}
        key = new_user(iam_server, "henry", own)
        assert client(iam_server, "iam", *key).get_user()["User"]["UserName"] == "henry"
        assert [k["AccessKeyId"] for k in client(iam_server, "iam", *key).list_access_keys()["AccessKeyMetadata"]] == \
            [key[0]]
        assert refusal(lambda: client(iam_server, "iam", *key).get_user(UserName="alice"))[0] == "AccessDenied"
        assert client(iam_server, "iam").get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
        code, message, _ = refusal(client(iam_server, "iam").list_access_keys)
        assert (code, message) == ("ValidationError", "Must specify userName when calling with non-User credentials")

    def test_simulate_principal_policy_says_what_the_policies_decide(self, iam_server: EmberServer) -> None:
        iam = client(iam_server, "iam")
        new_user(iam_server, "ivy", ALLOW_LAMBDA_LIST)
        deny = {"Version": "2012-10-17", "Statement": [{"Sid": "NoLayers", "Effect": "Deny",
                                                        "Action": "lambda:ListLayers", "Resource": "*"}]}
        results = iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/ivy", PolicyInputList=[json.dumps(deny)],
            ActionNames=["lambda:ListFunctions", "lambda:ListLayers", "lambda:DeleteFunction"])["EvaluationResults"]
        decisions = {result["EvalActionName"]: result["EvalDecision"] for result in results}
        assert decisions == {"lambda:ListFunctions": "allowed", "lambda:ListLayers": "explicitDeny",
                             "lambda:DeleteFunction": "implicitDeny"}
        allowed = next(result for result in results if result["EvalActionName"] == "lambda:ListFunctions")
        assert allowed["MatchedStatements"][0]["SourcePolicyId"] == "inline"
        assert allowed["MatchedStatements"][0]["SourcePolicyType"] == "user"
        code, _, _ = refusal(lambda: iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/nobody-here", ActionNames=["lambda:ListFunctions"]))
        assert code == "NoSuchEntity"

    def test_every_denial_is_in_the_audit_log(self, iam_server: EmberServer) -> None:
        key = new_user(iam_server, "judy")
        refusal(client(iam_server, "lambda", *key).list_functions)
        refusal(client(iam_server, "lambda", key[0], "w" * 40).list_functions)
        log = iam_server.log()
        assert f"DENY arn:aws:iam::{ACCOUNT}:user/judy lambda:ListFunctions on *" in log
        assert "REFUSED lambda" in log and "signature-mismatch" in log
        assert key[1] not in log  # a secret is never logged


def test_a_deactivated_or_deleted_key_is_refused_at_once(iam_server: EmberServer) -> None:
    iam = client(iam_server, "iam")
    key = new_user(iam_server, "kate")
    sts = client(iam_server, "sts", *key)
    assert sts.get_caller_identity()["Arn"].endswith(":user/kate")
    iam.update_access_key(UserName="kate", AccessKeyId=key[0], Status="Inactive")
    assert refusal(sts.get_caller_identity)[0] == "InvalidClientTokenId"
    iam.update_access_key(UserName="kate", AccessKeyId=key[0], Status="Active")
    assert sts.get_caller_identity()["Arn"].endswith(":user/kate")
    iam.delete_access_key(UserName="kate", AccessKeyId=key[0])
    assert refusal(sts.get_caller_identity)[0] == "InvalidClientTokenId"


def test_a_session_of_a_deleted_role_gets_nothing_from_a_new_role_of_the_same_name(iam_server: EmberServer) -> None:
    iam = client(iam_server, "iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}

    def make_role() -> str:
        arn = iam.create_role(RoleName="reborn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="reborn", PolicyName="list", PolicyDocument=json.dumps(ALLOW_LAMBDA_LIST))
        return arn

    arn = make_role()
    issued = client(iam_server, "sts").assume_role(RoleArn=arn, RoleSessionName="old")["Credentials"]
    session = client(iam_server, "lambda", issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
    session.list_functions()
    iam.delete_role_policy(RoleName="reborn", PolicyName="list")
    iam.delete_role(RoleName="reborn")
    make_role()  # the same name and policies, but another role
    assert refusal(session.list_functions)[0] == "AccessDeniedException"


def test_requests_naming_an_iam_entity_are_checked_against_its_arn_with_its_path(iam_server: EmberServer) -> None:
    iam = client(iam_server, "iam")
    iam.create_user(UserName="lee", Path="/division/")
    iam.create_user(UserName="mia")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                      "Resource": f"arn:aws:iam::{ACCOUNT}:user/division/*"}]}
    reader = client(iam_server, "iam", *new_user(iam_server, "nina", policy))
    assert reader.get_user(UserName="lee")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/division/lee"
    code, message, _ = refusal(lambda: reader.get_user(UserName="mia"))
    assert code == "AccessDenied" and f"on resource: arn:aws:iam::{ACCOUNT}:user/mia" in message
