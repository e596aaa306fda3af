"""The dashboard and Ember's own endpoints on a server in iam mode: /_ember/ needs a signed-in session
(or, for its JSON endpoints, a SigV4 signature), signing in checks the key and its secret, the session
cookie is HttpOnly, SameSite=Strict and scoped to /_ember, requests that change something need the
session's CSRF token; /metrics and /_ember/health stay readable by anyone and show no code, variables or
secrets. Then the same in headless Chromium."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from tests.functional.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.functional.conftest import (
    DEFAULT_RUNTIME,
    ROOT_KEY_ID,
    ROOT_SECRET,
    VENV_BIN,
    EmberServer,
    execution_role,
    iam_mode_server,
    make_zip,
    unique_name,
)

ACCOUNT = "000000000000"
ALLOW_LIST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions",
                                                      "Resource": "*"}]}
#: what a function keeps to itself: its environment variable's value and a line of its code
SECRET_VALUE = f"s3cr3t-{uuid.uuid4().hex}"
CODE_MARKER = f"code-marker-{uuid.uuid4().hex}"
HANDLER = f'''
import os
# {CODE_MARKER}
def handler(event, context):
    print("dashboard iam saw", event)
    return {{"doubled": event.get("n", 0) * 2, "has_secret": bool(os.environ.get("API_TOKEN"))}}
'''
TIMEOUT_MS = 20_000

pool = urllib3.PoolManager(retries=False, timeout=30)


@pytest.fixture(scope="module")
def ember(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    server = iam_mode_server(tmp_path_factory.mktemp("dashboard-iam") / "data")
    yield server
    server.shut_down()


def client(ember: EmberServer, service: str, key_id: str = ROOT_KEY_ID, secret: str = ROOT_SECRET):
    return ember.client(service, key_id, secret)


def new_user(ember: EmberServer, policy: dict | None = None) -> tuple[str, str, str]:
    """A user (with an inline policy) and an access key: (name, key id, secret)."""
    iam = client(ember, "iam")
    name = unique_name("user")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def function_name(ember: EmberServer) -> Iterator[str]:
    lam = client(ember, "lambda")
    name = unique_name("dash-iam")
    lam.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=execution_role(client(ember, "iam")),
                        Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.py": HANDLER})},
                        Environment={"Variables": {"API_TOKEN": SECRET_VALUE}})
    result = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 1}')["Payload"].read())
    assert result == {"doubled": 2, "has_secret": True}
    yield name
    lam.delete_function(FunctionName=name)


def sign_in(ember: EmberServer, key_id: str = ROOT_KEY_ID, secret: str = ROOT_SECRET,
            **headers: str) -> urllib3.BaseHTTPResponse:
    return pool.request("POST", f"{ember.url}/_ember/sign-in", fields={"access_key_id": key_id,
                                                                       "secret_access_key": secret},
                        encode_multipart=False, redirect=False, headers=headers)


def session_cookie(response: urllib3.BaseHTTPResponse) -> str:
    """The Cookie header value a browser would send back."""
    set_cookie = response.headers["set-cookie"]
    return set_cookie.split(";", 1)[0]


@pytest.fixture(scope="module")
def root_cookie(ember: EmberServer) -> str:
    signed_in = sign_in(ember)
    assert signed_in.status == 303, signed_in.data
    return session_cookie(signed_in)


def csrf_token(ember: EmberServer, cookie: str) -> str:
    session = pool.request("GET", f"{ember.url}/_ember/session", headers={"cookie": cookie})
    assert session.status == 200, session.data
    return session.json()["csrfToken"]


def as_session(ember: EmberServer, cookie: str) -> dict[str, str]:
    """The headers the dashboard's page sends through /_ember/aws/: the cookie and its CSRF token."""
    return {"cookie": cookie, "x-ember-csrf": csrf_token(ember, cookie)}


def invocations(ember: EmberServer, name: str) -> float:
    """The function's invocation counter on /metrics (read without credentials)."""
    text = pool.request("GET", f"{ember.url}/metrics").data.decode()
    found = re.search(rf'^ember_lambda_invocations_total\{{function_name="{re.escape(name)}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def signed_get(url: str, key_id: str, secret: str) -> urllib3.BaseHTTPResponse:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(ReadOnlyCredentials(key_id, secret, None), "lambda", "us-east-1").add_auth(request)
    return pool.request("GET", url, headers=dict(request.headers.items()))


class TestWithoutASession:
    GUARDED = ["/_ember/", "/_ember/functions/anything/environments", "/_ember/async",
               "/_ember/aws/2015-03-31/functions/"]

    def test_the_page_sends_a_browser_to_sign_in(self, ember: EmberServer) -> None:
        page = pool.request("GET", f"{ember.url}/_ember/", headers={"accept": "text/html,*/*"}, redirect=False)
        assert page.status == 303 and page.headers["location"] == "/_ember/sign-in"
        form = pool.request("GET", f"{ember.url}/_ember/sign-in")
        assert form.status == 200 and b'name="secret_access_key"' in form.data and b"{{message}}" not in form.data
        assert form.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize("path", GUARDED)
    def test_guarded_routes_answer_401(self, ember: EmberServer, path: str, function_name: str) -> None:
        response = pool.request("GET", f"{ember.url}{path}", redirect=False)
        assert response.status == 401, path
        assert response.json()["__type"] == "SignInRequired"
        assert function_name.encode() not in response.data

    def test_a_post_to_the_apis_through_the_dashboard_is_refused_too(self, ember: EmberServer,
                                                                    function_name: str) -> None:
        before = invocations(ember, function_name)
        response = pool.request("POST", f"{ember.url}/_ember/aws/2015-03-31/functions/{function_name}/invocations",
                                body=b"{}")
        assert response.status == 401
        assert invocations(ember, function_name) == before

    def test_a_forged_or_foreign_cookie_is_no_session(self, ember: EmberServer, tmp_path: Path) -> None:
        # A cookie sealed by another server (another master key), and one made up.
        other = iam_mode_server(tmp_path / "data")
        try:
            foreign = session_cookie(sign_in(other))
        finally:
            other.shut_down()
        for cookie in (foreign, "ember_session=gAAAAABmadeupmadeupmadeup", "ember_session="):
            response = pool.request("GET", f"{ember.url}/_ember/session", headers={"cookie": cookie})
            assert response.status == 401, cookie

    def test_the_static_files_and_health_need_nothing(self, ember: EmberServer) -> None:
        assert pool.request("GET", f"{ember.url}/_ember/static/app.js").status == 200
        assert pool.request("GET", f"{ember.url}/_ember/health").status == 200
        assert pool.request("GET", f"{ember.url}/metrics").status == 200


class TestSigningIn:
    def test_a_wrong_secret_or_unknown_key_signs_nobody_in(self, ember: EmberServer) -> None:
        _, user_key, _ = new_user(ember, ALLOW_LIST)
        for key_id, secret in ((ROOT_KEY_ID, "w" * 40), (user_key, ROOT_SECRET), ("AKIAUNKNOWNUNKNOWN00", "x" * 40),
                               (ROOT_KEY_ID, ROOT_SECRET + " and more")):
            response = sign_in(ember, key_id, secret)
            assert response.status == 401, key_id
            assert "set-cookie" not in response.headers
            assert b"The access key id or the secret access key is not right" in response.data
            assert secret.encode() not in response.data
        assert sign_in(ember, ROOT_KEY_ID, "").status == 400
        assert "w" * 40 not in ember.log() and ROOT_SECRET not in ember.log()

    def test_temporary_credentials_do_not_sign_in(self, ember: EmberServer) -> None:
        issued = client(ember, "sts").get_session_token(DurationSeconds=900)["Credentials"]
        response = sign_in(ember, issued["AccessKeyId"], issued["SecretAccessKey"])
        assert response.status == 401 and "set-cookie" not in response.headers

    def test_the_root_signs_in_with_a_strict_http_only_cookie(self, ember: EmberServer, function_name: str) -> None:
        response = sign_in(ember)
        assert response.status == 303 and response.headers["location"] == "/_ember/"
        set_cookie = response.headers["set-cookie"]
        name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
        assert name_value.startswith("ember_session=")
        assert {attribute.lower() for attribute in attributes} == {
            "path=/_ember", "max-age=43200", "httponly", "samesite=strict"}
        assert ROOT_SECRET not in set_cookie and ROOT_KEY_ID not in set_cookie
        assert ROOT_SECRET.encode() not in base64.urlsafe_b64decode(name_value.split("=", 1)[1])
        cookie = name_value
        page = pool.request("GET", f"{ember.url}/_ember/", headers={"cookie": cookie})
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        session = pool.request("GET", f"{ember.url}/_ember/session", headers={"cookie": cookie}).json()
        assert session["signedIn"] is True and session["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
        assert re.fullmatch(r"[0-9a-f]{64}", session["csrfToken"])
        listed = pool.request("GET", f"{ember.url}/_ember/aws/2015-03-31/functions/",
                              headers=as_session(ember, cookie))
        assert listed.status == 200
        assert function_name in [f["FunctionName"] for f in listed.json()["Functions"]]
        environments = pool.request("GET", f"{ember.url}/_ember/functions/{function_name}/environments",
                                    headers={"cookie": cookie})
        assert environments.status == 200 and environments.json()["functionName"] == function_name
        assert pool.request("GET", f"{ember.url}/_ember/async", headers={"cookie": cookie}).status == 200
        # Signed in, the sign-in page sends the browser on to the dashboard.
        again = pool.request("GET", f"{ember.url}/_ember/sign-in", headers={"cookie": cookie}, redirect=False)
        assert again.status == 303 and again.headers["location"] == "/_ember/"

    def test_a_user_needs_lambda_list_functions(self, ember: EmberServer) -> None:
        name, key_id, secret = new_user(ember)
        refused = sign_in(ember, key_id, secret)
        assert refused.status == 403 and "set-cookie" not in refused.headers
        assert f"arn:aws:iam::{ACCOUNT}:user/{name}".encode() in refused.data
        assert b"lambda:ListFunctions" in refused.data
        client(ember, "iam").put_user_policy(UserName=name, PolicyName="list", PolicyDocument=json.dumps(ALLOW_LIST))
        signed_in = sign_in(ember, key_id, secret)
        assert signed_in.status == 303
        cookie = session_cookie(signed_in)
        session = pool.request("GET", f"{ember.url}/_ember/session", headers={"cookie": cookie}).json()
        assert session["arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
        # Through the dashboard each API call is the user's, authorized as any signed request is.
        assert pool.request("GET", f"{ember.url}/_ember/aws/2015-03-31/functions/",
                            headers=as_session(ember, cookie)).status == 200
        denied = pool.request("GET", f"{ember.url}/_ember/aws/2016-08-19/account-settings/",
                              headers=as_session(ember, cookie))
        assert denied.status == 403 and denied.headers["x-amzn-errortype"].startswith("AccessDeniedException")
        message = denied.json().get("Message") or denied.json()["message"]
        assert f"user/{name} is not authorized to perform: lambda:GetAccountSettings" in message
        # Its policy taken away, the dashboard's own endpoints refuse the session.
        client(ember, "iam").delete_user_policy(UserName=name, PolicyName="list")
        gone = pool.request("GET", f"{ember.url}/_ember/async", headers={"cookie": cookie})
        assert gone.status == 403 and gone.json()["__type"] == "AccessDeniedException"

    def test_deactivating_the_key_ends_its_sessions(self, ember: EmberServer) -> None:
        name, key_id, secret = new_user(ember, ALLOW_LIST)
        cookie = session_cookie(sign_in(ember, key_id, secret))
        headers = as_session(ember, cookie)
        client(ember, "iam").update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
        assert pool.request("GET", f"{ember.url}/_ember/session", headers={"cookie": cookie}).status == 401
        assert pool.request("GET", f"{ember.url}/_ember/aws/2015-03-31/functions/", headers=headers).status == 401

    def test_a_sign_in_form_posted_from_another_site_is_refused(self, ember: EmberServer) -> None:
        # Login CSRF: a page elsewhere signing the browser in as someone else.
        response = sign_in(ember, Origin="https://evil.example")
        assert response.status == 403 and "set-cookie" not in response.headers


class TestCsrf:
    def test_a_state_changing_request_needs_the_sessions_token(self, ember: EmberServer, root_cookie: str,
                                                               function_name: str) -> None:
        url = f"{ember.url}/_ember/aws/2015-03-31/functions/{function_name}/invocations"
        before = invocations(ember, function_name)
        other_session = csrf_token(ember, session_cookie(sign_in(ember)))
        for headers in ({}, {"x-ember-csrf": ""}, {"x-ember-csrf": "0" * 64}, {"x-ember-csrf": other_session}):
            refused = pool.request("POST", url, body=b'{"n": 2}', headers={"cookie": root_cookie, **headers})
            assert refused.status == 403, headers
            assert refused.json()["__type"] == "InvalidCsrfToken"
        assert invocations(ember, function_name) == before
        done = pool.request("POST", url, body=b'{"n": 2}',
                            headers={"cookie": root_cookie, "x-ember-csrf": csrf_token(ember, root_cookie)})
        assert done.status == 200 and done.json()["doubled"] == 4
        assert invocations(ember, function_name) == before + 1

    def test_every_request_through_the_apis_needs_it_gets_included(self, ember: EmberServer, root_cookie: str) -> None:
        """AWS's query APIs take an Action in a GET's query string: IAM's CreateUser as a GET an <img>
        on a page of the same site (another port of the host) could send with the cookie."""
        user = unique_name("csrf")
        url = f"{ember.url}/_ember/aws/?Action=CreateUser&Version=2010-05-08&UserName={user}"
        refused = pool.request("GET", url, headers={"cookie": root_cookie})
        assert refused.status == 403 and refused.json()["__type"] == "InvalidCsrfToken"
        assert user not in [u["UserName"] for u in client(ember, "iam").list_users()["Users"]]
        listed = pool.request("GET", f"{ember.url}/_ember/aws/2015-03-31/functions/", headers={"cookie": root_cookie})
        assert listed.status == 403 and listed.json()["__type"] == "InvalidCsrfToken"
        done = pool.request("GET", url, headers=as_session(ember, root_cookie))
        assert done.status == 200, done.data
        client(ember, "iam").delete_user(UserName=user)

    def test_signing_out_needs_the_token_and_clears_the_cookie(self, ember: EmberServer) -> None:
        cookie = session_cookie(sign_in(ember))
        refused = pool.request("POST", f"{ember.url}/_ember/sign-out", headers={"cookie": cookie})
        assert refused.status == 403 and "set-cookie" not in refused.headers
        done = pool.request("POST", f"{ember.url}/_ember/sign-out",
                            headers={"cookie": cookie, "x-ember-csrf": csrf_token(ember, cookie)})
        assert done.status == 204
        cleared = done.headers["set-cookie"]
        assert cleared.startswith("ember_session=;") and "Max-Age=0" in cleared and "Path=/_ember" in cleared


class TestSignedRequests:
    def test_ember_json_endpoints_take_a_sigv4_signature(self, ember: EmberServer) -> None:
        url = f"{ember.url}/_ember/async"
        assert signed_get(url, ROOT_KEY_ID, ROOT_SECRET).status == 200
        refused = signed_get(url, ROOT_KEY_ID, "w" * 40)
        assert refused.status == 403 and refused.json()["__type"] == "InvalidSignatureException"
        assert signed_get(url, "AKIAUNKNOWNUNKNOWN00", "x" * 40).json()["__type"] == "UnrecognizedClientException"
        _, key_id, secret = new_user(ember)
        denied = signed_get(url, key_id, secret)
        assert denied.status == 403 and denied.json()["__type"] == "AccessDeniedException"

    def test_ember_queue_signs_its_request(self, ember: EmberServer) -> None:
        env = {**os.environ, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_ACCESS_KEY_ID": ROOT_KEY_ID, "AWS_SECRET_ACCESS_KEY": ROOT_SECRET}
        env.pop("AWS_SESSION_TOKEN", None)
        shown = subprocess.run([str(VENV_BIN / "ember"), "--endpoint-url", ember.url, "queue"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "No queued Event invocations." in shown.stdout
        env["AWS_SECRET_ACCESS_KEY"] = "w" * 40
        refused = subprocess.run([str(VENV_BIN / "ember"), "--endpoint-url", ember.url, "queue"], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "403" in refused.stderr


def test_metrics_and_health_are_public_and_keep_functions_secrets(ember: EmberServer, function_name: str) -> None:
    metrics = pool.request("GET", f"{ember.url}/metrics")
    health = pool.request("GET", f"{ember.url}/_ember/health")
    assert metrics.status == 200 and health.status == 200
    assert f'function_name="{function_name}"' in metrics.data.decode()  # it does count the function
    assert health.json()["auth"]["mode"] == "iam"
    for body in (metrics.data, health.data):
        for kept in (SECRET_VALUE, CODE_MARKER, "API_TOKEN", ROOT_SECRET, ROOT_KEY_ID):
            assert kept.encode() not in body, kept


# --- in a real browser -------------------------------------------------------------------------


@pytest.fixture
def other_site() -> Iterator[str]:
    """An empty page on another origin (another loopback port)."""

    class Empty(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>another site</title>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_address[1]}/"
    site.shutdown()
    site.server_close()


@pytest.fixture
def browser(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1400})
        try:
            context.set_default_timeout(TIMEOUT_MS)
            context.on("weberror", lambda error: errors.append(str(error.error)))
            yield context
        finally:
            context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@needs_chromium
def test_signing_in_and_out_in_chromium(ember: EmberServer, function_name: str, browser, other_site: str) -> None:
    page = browser.new_page()
    page.goto(f"{ember.url}/_ember/")
    assert page.url == f"{ember.url}/_ember/sign-in"
    page.fill("#access-key-id", ROOT_KEY_ID)
    page.fill("#secret-access-key", "w" * 40)
    page.click("#sign-in-button")
    page.locator("#sign-in-error", has_text="is not right").wait_for()
    assert browser.cookies() == []

    page.fill("#access-key-id", ROOT_KEY_ID)
    page.fill("#secret-access-key", ROOT_SECRET)
    page.click("#sign-in-button")
    page.locator(f'tr[data-function="{function_name}"]').wait_for()
    assert page.url == f"{ember.url}/_ember/"
    assert page.locator("#signed-in-as").inner_text() == f"arn:aws:iam::{ACCOUNT}:root"
    [cookie] = browser.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == \
        ("ember_session", "/_ember", True, "Strict")
    assert page.evaluate("document.cookie") == ""  # the page's scripts cannot read it

    # The dashboard's own invoke carries the CSRF token; a request without it is refused.
    page.locator(f'tr[data-function="{function_name}"] a').click()
    page.locator("#config dd", has_text="index.handler").wait_for()
    before = invocations(ember, function_name)
    page.fill("#payload", '{"n": 21}')
    page.click("#invoke-button")
    page.locator("#invoke-result", has_text='"doubled": 42').wait_for()
    page.locator("#log-view", has_text="dashboard iam saw {'n': 21}").wait_for()
    page.locator("#environment-table tbody tr").first.wait_for()
    tokenless = page.evaluate("""async (name) => {
        const response = await fetch(`/_ember/aws/2015-03-31/functions/${name}/invocations`,
                                     {method: "POST", body: "{}"});
        return [response.status, await response.text()];
    }""", function_name)
    assert tokenless[0] == 403 and "InvalidCsrfToken" in tokenless[1]
    assert invocations(ember, function_name) == before + 1

    # A page on another site cannot ride the session: its request is refused (Origin), and the
    # cookie is not even sent (SameSite=Strict).
    attacker = browser.new_page()
    attacker.goto(other_site)
    attacker.evaluate("""async ([ember, name]) => {
        try {
            await fetch(`${ember}/_ember/aws/2015-03-31/functions/${name}/invocations`,
                        {method: "POST", mode: "no-cors", credentials: "include", body: "{}",
                         headers: {"content-type": "text/plain"}});
        } catch (error) { /* refused either way */ }
    }""", [ember.url, function_name])
    assert invocations(ember, function_name) == before + 1

    page.click("#sign-out")
    page.wait_for_url(f"{ember.url}/_ember/sign-in")
    assert browser.cookies() == []
    page.goto(f"{ember.url}/_ember/")
    assert page.url == f"{ember.url}/_ember/sign-in"


def test_guessing_a_secret_is_stopped_after_five_tries(ember: EmberServer) -> None:
    _, key_id, secret = new_user(ember, ALLOW_LIST)
    assert [sign_in(ember, key_id, "w" * 40).status for _ in range(5)] == [401] * 5
    locked = sign_in(ember, key_id, secret)  # the right secret too, until the minute has passed
    assert locked.status == 429 and b"Too many wrong secrets" in locked.data
    assert sign_in(ember).status == 303  # other keys are not locked out
